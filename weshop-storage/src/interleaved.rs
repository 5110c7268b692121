//! A store wrapper that makes concurrent tasks interleave at every store call.

use std::sync::Arc;

use async_trait::async_trait;
use weshop_core::{
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
        ProductQuery, StepCommit, Store, StoreError, StoreLifecycle,
    },
};

/// A store that yields to the scheduler before every call, so that concurrent tasks interleave
/// at every store call even on a backend whose calls never wait (like
/// [`weshop_storage::MemoryStore`]): with it, racing checkouts all read the stock before any of
/// them places its order, and only the store's own atomicity can keep them from overselling.
///
/// It can also play a crash: after a set number of commits, every further commit fails, as
/// if the process had died right there ([`Interleaved::crashing_after`]). Tests and the
/// deterministic simulation use it; it is public so an embedder's tests can too.
pub struct Interleaved<S: ?Sized>(pub Arc<S>, CommitFuse);

/// Commits left before the store "crashes" (`None`: never).
#[derive(Default)]
pub struct CommitFuse(std::sync::Mutex<Option<usize>>);

impl CommitFuse {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<usize>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One commit (a step or a placed order): refused once the fuse has burnt down.
    fn spend(&self) -> Result<(), StoreError> {
        if let Some(left) = self.lock().as_mut() {
            if *left == 0 {
                return Err(StoreError::Backend("the process crashed".into()));
            }
            *left -= 1;
        }
        Ok(())
    }
}

impl<S: ?Sized> Interleaved<S> {
    /// Interleaving only.
    pub fn new(store: Arc<S>) -> Self {
        Self(store, CommitFuse::default())
    }

    /// Interleaving, and every commit (a step or a placed order) after the first `commits`
    /// fails.
    pub fn crashing_after(store: Arc<S>, commits: usize) -> Self {
        let this = Self::new(store);
        this.crash_after(commits);
        this
    }

    /// From now on, every commit after the next `commits` fails.
    pub fn crash_after(&self, commits: usize) {
        *self.1.lock() = Some(commits);
    }

    /// True once no further commit can succeed: the "process" is dead.
    pub fn crashed(&self) -> bool {
        *self.1.lock() == Some(0)
    }

    /// From now on, commits succeed again (the restarted process).
    pub fn restart(&self) {
        *self.1.lock() = None;
    }
}

async fn yield_now() {
    tokio::task::yield_now().await;
}

#[async_trait]
impl<S: Store + ?Sized> StoreLifecycle for Interleaved<S> {
    async fn close(&self) -> Result<(), StoreError> {
        self.0.close().await
    }
}

#[async_trait]
impl<S: Store + ?Sized> ChangeFeed for Interleaved<S> {
    async fn changes(&self) -> Result<tokio::sync::broadcast::Receiver<Change>, StoreError> {
        yield_now().await;
        self.0.changes().await
    }
}

#[async_trait]
impl<S: Store + ?Sized> LeaseStore for Interleaved<S> {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<LeaseClaim, StoreError> {
        yield_now().await;
        self.0.claim_lease(name, holder, now, ttl).await
    }
    async fn release_lease(&self, name: &str, holder: &str, term: u64) -> Result<(), StoreError> {
        yield_now().await;
        self.0.release_lease(name, holder, term).await
    }
    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        yield_now().await;
        self.0.lease(name).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> AccountStore for Interleaved<S> {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        yield_now().await;
        self.0.create_user(user).await
    }
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        yield_now().await;
        self.0.user(id).await
    }
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        yield_now().await;
        self.0.user_by_email(email).await
    }
    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        yield_now().await;
        self.0.update_user(user).await
    }
    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError> {
        yield_now().await;
        self.0.promotion_audience().await
    }
    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError> {
        yield_now().await;
        self.0.create_session(session).await
    }
    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError> {
        yield_now().await;
        self.0.session(token).await
    }
    async fn session_user(
        &self,
        token: &TokenHash,
    ) -> Result<Option<(LoginSession, Option<User>)>, StoreError> {
        yield_now().await;
        self.0.session_user(token).await
    }
    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError> {
        yield_now().await;
        self.0.delete_session(token).await
    }
    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError> {
        yield_now().await;
        self.0.delete_sessions_of(user, keep).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> CatalogStore for Interleaved<S> {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        yield_now().await;
        self.0.create_product(product).await
    }
    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        yield_now().await;
        self.0.product(id).await
    }
    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        yield_now().await;
        self.0.update_product(product).await
    }
    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        yield_now().await;
        self.0.delete_product(id).await
    }
    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        yield_now().await;
        self.0.search(query).await
    }
    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        yield_now().await;
        self.0.categories().await
    }
    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError> {
        yield_now().await;
        self.0.catalog().await
    }
    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        yield_now().await;
        self.0.put_warehouse(warehouse).await
    }
    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        yield_now().await;
        self.0.warehouses().await
    }
    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        yield_now().await;
        self.0.stock(product).await
    }
    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        yield_now().await;
        self.0.change_stock(deltas).await
    }
    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError> {
        yield_now().await;
        self.0.put_picture(picture).await
    }
    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        yield_now().await;
        self.0.picture(id, size).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> CartStore for Interleaved<S> {
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError> {
        yield_now().await;
        self.0.cart(user).await
    }
    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError> {
        yield_now().await;
        self.0.save_cart(user, cart).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> InboxStore for Interleaved<S> {
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.file_notifications(batch).await
    }
    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        yield_now().await;
        self.0.notifications(user, before, limit).await
    }
    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError> {
        yield_now().await;
        self.0.unread_notifications(user).await
    }
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError> {
        yield_now().await;
        self.0.mark_notifications_read(user, ids).await
    }
    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        yield_now().await;
        self.0.mail_queue(limit).await
    }
    async fn record_mail(&self, id: NotificationId, state: MailState) -> Result<(), StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.record_mail(id, state).await
    }
    async fn record_mails(&self, states: &[(NotificationId, MailState)]) -> Result<(), StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.record_mails(states).await
    }
}

#[async_trait]
impl<S: Store + ?Sized> CampaignStore for Interleaved<S> {
    async fn start_campaign(
        &self,
        seller: UserId,
        text: &PromotionText,
        at: Timestamp,
        recipients: u64,
        interval: std::time::Duration,
    ) -> Result<CampaignStart, StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0
            .start_campaign(seller, text, at, recipients, interval)
            .await
    }
    async fn finish_campaign(&self, id: CampaignId, recipients: u64) -> Result<(), StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.finish_campaign(id, recipients).await
    }
    async fn withdraw_campaign(&self, id: CampaignId) -> Result<(), StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.withdraw_campaign(id).await
    }
    async fn campaigns(
        &self,
        seller: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, StoreError> {
        yield_now().await;
        self.0.campaigns(seller, limit).await
    }
    async fn unsent_campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        yield_now().await;
        self.0.unsent_campaigns().await
    }
}

#[async_trait]
impl<S: Store + ?Sized> OrderStore for Interleaved<S> {
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        yield_now().await;
        self.0.allocate_order_id().await
    }
    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.place_order(user, placement).await
    }
    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        yield_now().await;
        self.0.key_fingerprint(user, key).await
    }
    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        yield_now().await;
        self.0.order_for_key(user, key).await
    }
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        yield_now().await;
        self.0.order(id).await
    }
    async fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        yield_now().await;
        self.0.orders_by_id(ids).await
    }
    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        yield_now().await;
        self.0.orders_of(customer).await
    }
    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        yield_now().await;
        self.0.orders_with_products(products, limit).await
    }
    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        yield_now().await;
        self.0.orders_in(statuses).await
    }
    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        yield_now().await;
        self.1.spend()?;
        self.0.commit_step(step).await
    }
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        yield_now().await;
        self.0.outbox().await
    }
    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        yield_now().await;
        self.0.link_state(link).await
    }
    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        yield_now().await;
        self.0.append_payment_records(lines).await
    }
    async fn sequence_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        yield_now().await;
        self.0.sequence_payment_records(lines).await
    }
    async fn payment_records(&self) -> Result<Vec<String>, StoreError> {
        yield_now().await;
        self.0.payment_records().await
    }
    async fn payment_records_after(&self, after: u64) -> Result<Vec<(u64, String)>, StoreError> {
        yield_now().await;
        self.0.payment_records_after(after).await
    }
}
