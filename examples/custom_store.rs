//! A storage backend of your own, proven by the conformance suite.
//!
//! `AuditedStore` wraps the in-memory store and writes one audit line for every change it is
//! asked to make (a real backend would talk to its database here). Reads go straight through.
//! The example then runs `weshop_storage::conformance::run_all` against it: the same checks
//! that every WeShop backend passes — users and sessions, the catalog and its search, stock that
//! cannot be oversold, carts, atomic order placement, fulfilment steps with their outbox, and
//! link states. If it prints its totals and exits 0, the backend is fit to run a shop.
//!
//! ```sh
//! cargo run --example custom_store
//! ```

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use async_trait::async_trait;
use weshop::core::{
    changes::{Change, ChangeFeed},
    domain::{
        Campaign, CampaignId, Cart, Category, Email, LoginSession, NotificationId, Order, OrderId,
        OrderStatus, Picture, PictureId, PictureSize, Product, ProductId, PromotionText, Stock,
        StockDelta, Timestamp, TokenHash, User, UserId, WarehouseId, WarehouseSite,
    },
    inbox::{InboxEntry, MailState, NewNotification},
    lease::{Lease, LeaseClaim},
    store::{
        AccountStore, CampaignStart, CampaignStore, CartStore, CatalogStore, InboxStore,
        LeaseStore, NewProduct, NewUser, OrderStore, OutboxEntry, Page, PlaceOrder, Placed,
        ProductQuery, StepCommit, StoreError, StoreLifecycle,
    },
};
use weshop::storage::{MemoryStore, conformance};

/// Every write counted and described, then handed to the wrapped store.
#[derive(Default)]
struct AuditedStore {
    inner: MemoryStore,
    writes: Arc<AtomicU64>,
    verbose: bool,
}

impl AuditedStore {
    fn audit(&self, what: std::fmt::Arguments<'_>) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        if self.verbose {
            println!("  write: {what}");
        }
    }
}

/// Closing the wrapper closes the wrapped store.
#[async_trait]
impl StoreLifecycle for AuditedStore {
    async fn close(&self) -> Result<(), StoreError> {
        self.inner.close().await
    }
}

#[async_trait]
impl AccountStore for AuditedStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        self.audit(format_args!("create user {}", user.email));
        self.inner.create_user(user).await
    }
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.inner.user(id).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.user_by_email(email).await
    }
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.audit(format_args!("update user {}", user.id));
        self.inner.update_user(user).await
    }
    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError> {
        self.inner.promotion_audience().await
    }
    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        self.audit(format_args!("log in user {}", session.user));
        self.inner.create_session(session).await
    }
    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        self.inner.session(token).await
    }
    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        self.audit(format_args!("log out a session"));
        self.inner.delete_session(token).await
    }
    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError> {
        self.audit(format_args!("log out user {user} everywhere else"));
        self.inner.delete_sessions_of(user, keep).await
    }
}

#[async_trait]
impl CatalogStore for AuditedStore {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        self.audit(format_args!("list product {:?}", product.name.as_str()));
        self.inner.create_product(product).await
    }
    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.inner.product(id).await
    }
    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.audit(format_args!("edit product {}", product.id));
        self.inner.update_product(product).await
    }
    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        self.audit(format_args!("withdraw product {id}"));
        self.inner.delete_product(id).await
    }
    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        self.inner.search(query).await
    }
    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        self.inner.categories().await
    }
    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError> {
        self.inner.catalog().await
    }
    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        self.audit(format_args!("register warehouse {}", warehouse.id));
        self.inner.put_warehouse(warehouse).await
    }
    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        self.inner.warehouses().await
    }
    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        self.inner.stock(product).await
    }
    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        self.audit(format_args!("change stock ({} rows)", deltas.len()));
        self.inner.change_stock(deltas).await
    }
    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError> {
        self.audit(format_args!("put picture {}", picture.id));
        self.inner.put_picture(picture).await
    }
    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.picture(id, size).await
    }
}

#[async_trait]
impl CartStore for AuditedStore {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        self.inner.cart(user).await
    }
    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        self.audit(format_args!("save the cart of user {user}"));
        self.inner.save_cart(user, cart).await
    }
}

#[async_trait]
impl OrderStore for AuditedStore {
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        self.audit(format_args!("allocate an order id"));
        self.inner.allocate_order_id().await
    }
    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        self.audit(format_args!("place order {}", placement.order.id()));
        self.inner.place_order(user, placement).await
    }
    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        self.inner.key_fingerprint(user, key).await
    }
    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        self.inner.order_for_key(user, key).await
    }
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.inner.order(id).await
    }
    async fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_by_id(ids).await
    }
    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_of(customer).await
    }
    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_with_products(products, limit).await
    }
    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        self.inner.orders_in(statuses).await
    }
    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        self.audit(format_args!(
            "commit a fulfilment step ({} orders, {} effects)",
            step.orders.len(),
            step.effects.len()
        ));
        self.inner.commit_step(step).await
    }
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.inner.outbox().await
    }
    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.link_state(link).await
    }
    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        self.inner.append_payment_records(lines).await
    }
    async fn payment_records(&self) -> Result<Vec<String>, StoreError> {
        self.inner.payment_records().await
    }
}

#[async_trait]
impl InboxStore for AuditedStore {
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.audit(format_args!("file {} notifications", batch.len()));
        self.inner.file_notifications(batch).await
    }
    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.inner.notifications(user, before, limit).await
    }
    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError> {
        self.inner.unread_notifications(user).await
    }
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError> {
        self.audit(format_args!("mark notifications of user {user} read"));
        self.inner.mark_notifications_read(user, ids).await
    }
    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        self.inner.mail_queue(limit).await
    }
    async fn record_mail(&self, id: NotificationId, state: MailState) -> Result<(), StoreError> {
        self.audit(format_args!("record the mail of notification {id}"));
        self.inner.record_mail(id, state).await
    }
}

#[async_trait]
impl CampaignStore for AuditedStore {
    async fn start_campaign(
        &self,
        seller: UserId,
        text: &PromotionText,
        at: Timestamp,
        recipients: u64,
        interval: std::time::Duration,
    ) -> Result<CampaignStart, StoreError> {
        self.audit(format_args!("start a campaign of seller {seller}"));
        self.inner
            .start_campaign(seller, text, at, recipients, interval)
            .await
    }
    async fn finish_campaign(&self, id: CampaignId, recipients: u64) -> Result<(), StoreError> {
        self.audit(format_args!(
            "finish campaign {id} ({recipients} recipients)"
        ));
        self.inner.finish_campaign(id, recipients).await
    }
    async fn withdraw_campaign(&self, id: CampaignId) -> Result<(), StoreError> {
        self.audit(format_args!("withdraw campaign {id}"));
        self.inner.withdraw_campaign(id).await
    }
    async fn campaigns(
        &self,
        seller: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, StoreError> {
        self.inner.campaigns(seller, limit).await
    }
    async fn unsent_campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        self.inner.unsent_campaigns().await
    }
}

/// Changes committed by other processes sharing the store: the inner store reports them
/// (this wrapper adds nothing to the changes themselves).
#[async_trait]
impl ChangeFeed for AuditedStore {
    async fn changes(&self) -> Result<tokio::sync::broadcast::Receiver<Change>, StoreError> {
        self.inner.changes().await
    }
}

#[async_trait]
impl LeaseStore for AuditedStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<LeaseClaim, StoreError> {
        self.audit(format_args!("claim lease {name:?} for {holder}"));
        self.inner.claim_lease(name, holder, now, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str, term: u64) -> Result<(), StoreError> {
        self.audit(format_args!("release lease {name:?} (term {term})"));
        self.inner.release_lease(name, holder, term).await
    }
    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        self.inner.lease(name).await
    }
}

#[tokio::main]
async fn main() {
    let verbose = std::env::args().any(|a| a == "--verbose" || a == "-v");
    let writes = Arc::new(AtomicU64::new(0));
    let stores = Arc::new(AtomicU64::new(0));
    println!("running the WeShop storage conformance suite against AuditedStore…");
    conformance::run_all(|| {
        let (writes, stores) = (writes.clone(), stores.clone());
        async move {
            stores.fetch_add(1, Ordering::Relaxed);
            Arc::new(AuditedStore {
                inner: MemoryStore::new(),
                writes,
                verbose,
            })
        }
    })
    .await;
    println!(
        "conformance suite passed: {} fresh stores, {} audited writes (run with --verbose to see them)",
        stores.load(Ordering::Relaxed),
        writes.load(Ordering::Relaxed)
    );
}
