//! The storage port: what the shop needs from a database, one trait per concern.
//!
//! Backends live in `weshop-storage` (in memory, SurrealDB). Every method is one atomic step:
//! the operations that must never half-happen — placing an order, applying a fulfilment step —
//! take everything they change in one call, so a backend can run them in one transaction.
//!
//! Stock only ever changes through [`StockDelta`]s, which a backend applies with a check of
//! the [`Stock`] invariant inside the same transaction: two checkouts racing for the last unit
//! cannot both succeed, whatever the backend.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::changes::ChangeFeed;
use crate::domain::{Campaign, CampaignId, NotificationId, PromotionText};
use crate::domain::{
    Cart, Category, Description, Email, ImageRef, LoginSession, Money, Order, OrderId, OrderStatus,
    PasswordHash, PersonName, Picture, PictureId, PictureSize, Product, ProductId, ProductName,
    Roles, Stock, StockDelta, Timestamp, TokenHash, User, UserId, WarehouseId, WarehouseSite,
    Weight,
};
use crate::fulfilment::Effect;
use crate::inbox::{InboxEntry, MailState, NewNotification};
use crate::lease::{Fence, Lease, LeaseClaim};

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken (an email).
    #[error("{0} already exists")]
    Duplicate(String),
    /// The thing to change does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A stock change would promise units that are not there; nothing was changed.
    #[error(
        "not enough stock of product {product} in warehouse {warehouse}: {available} available"
    )]
    OutOfStock {
        /// The product.
        product: ProductId,
        /// The warehouse.
        warehouse: WarehouseId,
        /// Units still available there.
        available: u64,
    },
    /// Someone else changed the record first (an order's version moved on); nothing was changed.
    #[error("concurrent change: {0}")]
    Conflict(String),
    /// A commit fenced by a lease term that is no longer the lease's (see [`crate::lease`]):
    /// another node took the role over; nothing was changed, and retrying cannot help.
    #[error("fenced off: {0}")]
    Fenced(String),
    /// Stored data that does not parse into the domain (a bug or a foreign writer).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// The database failed or is unreachable.
    #[error("storage backend: {0}")]
    Backend(String),
}

/// A user to create (the store assigns the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login, unique.
    pub email: Email,
    /// Name.
    pub name: PersonName,
    /// Roles.
    pub roles: Roles,
    /// Password hash.
    pub password: PasswordHash,
    /// When.
    pub created: Timestamp,
}

impl NewUser {
    /// The user this becomes under the id the store assigned (no addresses or cards yet).
    pub fn with_id(self, id: UserId) -> User {
        User {
            id,
            email: self.email,
            name: self.name,
            roles: self.roles,
            password: self.password,
            addresses: Vec::new(),
            payment_methods: Vec::new(),
            created: self.created,
            promotions: false,
        }
    }
}

/// A product to create (the store assigns the id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    /// Owner.
    pub seller: UserId,
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Category.
    pub category: Category,
    /// Unit price.
    pub price: Money,
    /// Unit weight.
    pub weight: Weight,
    /// Images.
    pub images: Vec<ImageRef>,
}

impl NewProduct {
    /// The product this becomes under the id the store assigned.
    pub fn with_id(self, id: ProductId) -> Product {
        Product {
            id,
            seller: self.seller,
            name: self.name,
            description: self.description,
            category: self.category,
            price: self.price,
            weight: self.weight,
            images: self.images,
        }
    }
}

/// How search results are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProductSort {
    /// Best match first for a text query, else newest first.
    #[default]
    Relevance,
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// By name, A to Z.
    Name,
    /// Newest first.
    Newest,
}

impl ProductSort {
    /// The sort named `name`: `relevance`, `price_asc`, `price_desc`, `name`, `newest`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "relevance" => Self::Relevance,
            "price_asc" => Self::PriceAsc,
            "price_desc" => Self::PriceDesc,
            "name" => Self::Name,
            "newest" => Self::Newest,
            _ => return None,
        })
    }
}

/// A catalog search: every given filter must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductQuery {
    /// Words that must all appear in the name, description or category (prefixes match: "mu"
    /// finds "mug").
    pub text: Option<String>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this seller.
    pub seller: Option<UserId>,
    /// Lowest unit price, in minor units.
    pub min_price: Option<i64>,
    /// Highest unit price, in minor units.
    pub max_price: Option<i64>,
    /// Order of results.
    pub sort: ProductSort,
    /// Results to skip.
    pub offset: usize,
    /// Most results to return.
    pub limit: usize,
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The results of this page.
    pub items: Vec<T>,
    /// Results over all pages.
    pub total: u64,
}

/// The search words of a text: lower-cased alphanumeric runs, so every backend tokenizes alike.
pub fn search_terms(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Checkout, as one atomic step: reserve the stock, create the order, empty the cart, and
/// remember the idempotency key — only if the cart is still the one the order was priced
/// from (else `Conflict`), so two checkouts of one cart cannot both place an order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceOrder {
    /// The order (status `Placed`).
    pub order: Order,
    /// The cart the order was priced from; the stored cart must still hold exactly these
    /// lines (no cart counts as an empty one).
    pub cart: Cart,
    /// The reservations (all `reserved` > 0).
    pub reservations: Vec<StockDelta>,
    /// The customer's idempotency key; a second placement with it returns the first order.
    pub idempotency_key: String,
    /// What the key is bound to (see `Checkout::fingerprint`), kept with it.
    pub fingerprint: String,
}

/// What a placement did.
#[derive(Debug, Clone, PartialEq)]
pub enum Placed {
    /// The order was created.
    Created {
        /// The order.
        order: Order,
        /// Every product it reserved, in every warehouse, as the placement's own transaction
        /// left its stock: the order's reservations are exactly what separates it from the
        /// stock before (a read after the commit may already count other checkouts'), and
        /// checkout needs no read of its own for the low-stock notice and the search index.
        stock: BTreeMap<ProductId, Vec<(WarehouseId, Stock)>>,
    },
    /// The key was used before: this is the order it created, and nothing changed now.
    Existing(Order),
}

/// An effect waiting in the outbox, with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Position: increasing, in the order effects were committed.
    pub id: u64,
    /// What to do.
    pub effect: Effect,
}

/// One fulfilment step, committed as a whole or not at all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepCommit {
    /// Orders changed, each with the version it had when read (see [`Order::version`]).
    pub orders: Vec<(Order, usize)>,
    /// Stock changes.
    pub stock: Vec<StockDelta>,
    /// Effects to perform after the commit.
    pub effects: Vec<Effect>,
    /// Outbox entries performed (removed).
    pub done: Vec<u64>,
    /// Link state to save with the step, by link name (opaque to the store).
    pub links: Vec<(String, Vec<u8>)>,
    /// When set, the step commits only while the lease is still at this term (else
    /// [`StoreError::Fenced`], nothing changed).
    pub fence: Option<Fence>,
}

/// Users, sessions and profiles.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates a user; `Duplicate` if the email is taken.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    /// A user by id.
    async fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// A user by email.
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;
    /// Replaces a user's profile (name, roles, addresses, cards, password); the stored email
    /// and id stay whatever `user` says. `NotFound` if there is no such user.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
    /// Every customer who opted in to promotions, by id.
    async fn promotion_audience(&self) -> Result<Vec<UserId>, StoreError>;
    /// Saves a session.
    async fn create_session(&self, session: &LoginSession) -> Result<(), StoreError>;
    /// A session by token hash.
    async fn session(&self, token: &TokenHash) -> Result<Option<LoginSession>, StoreError>;
    /// A session by token hash with its user (`None` if the account is gone): what every
    /// authenticated request reads, so a store may answer it in one query.
    async fn session_user(
        &self,
        token: &TokenHash,
    ) -> Result<Option<(LoginSession, Option<User>)>, StoreError> {
        let Some(session) = self.session(token).await? else {
            return Ok(None);
        };
        let user = self.user(session.user).await?;
        Ok(Some((session, user)))
    }
    /// Ends a session; true if it existed.
    async fn delete_session(&self, token: &TokenHash) -> Result<bool, StoreError>;
    /// Ends every session of `user` but `keep`; returns how many ended.
    async fn delete_sessions_of(&self, user: UserId, keep: &TokenHash) -> Result<u64, StoreError>;
}

/// Products, warehouses and stock.
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Creates a product.
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError>;
    /// A product by id.
    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    /// Replaces a product; the stored seller stays whatever `product` says. `NotFound` if
    /// there is no such product.
    async fn update_product(&self, product: &Product) -> Result<(), StoreError>;
    /// Removes a product from sale; false if there was none. Orders keep their copies.
    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError>;
    /// Searches the catalog.
    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError>;
    /// Every category with its number of products, by name.
    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError>;
    /// Every product with its sellable units summed over warehouses (on hand + incoming −
    /// reserved), by id: what a search index is rebuilt from, in one pass rather than one
    /// stock read per product.
    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError>;
    /// Adds or moves a warehouse.
    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError>;
    /// Every warehouse, by id.
    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError>;
    /// A product's stock in every warehouse that has a record of it, by warehouse id.
    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError>;
    /// Applies stock changes (a seller's purchase, say) all or none.
    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError>;
    /// Stores a picture; storing one whose id is already stored changes nothing (ids are
    /// derived from content).
    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError>;
    /// One size of a stored picture.
    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError>;
}

/// Carts.
#[async_trait]
pub trait CartStore: Send + Sync {
    /// A user's cart (empty if none).
    async fn cart(&self, user: UserId) -> Result<Cart, StoreError>;
    /// Saves a user's cart.
    async fn save_cart(&self, user: UserId, cart: &Cart) -> Result<(), StoreError>;
}

/// Orders and their fulfilment.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// A fresh order id (ids are never reused; gaps are fine). An id a crash took back before
    /// anything naming it was stored may be given again: it was never seen.
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError>;
    /// Checkout, atomically (see [`PlaceOrder`]): the reservations are checked and applied,
    /// the order created, the cart emptied and the key remembered — or nothing changes.
    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError>;
    /// The order an idempotency key placed.
    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError>;
    /// The fingerprint an idempotency key was placed with (`None`: no such key, or one kept
    /// before fingerprints were).
    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError>;
    /// An order by id.
    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    /// Each order of `ids` that exists, once, in any order: a backend that pays per query
    /// reads them at once (the mailer's batch of order mails). By default one
    /// [`OrderStore::order`] each.
    async fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut orders = Vec::with_capacity(ids.len());
        for id in ids {
            orders.extend(self.order(id).await?);
        }
        Ok(orders)
    }
    /// A customer's orders, newest first.
    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError>;
    /// The newest `limit` orders with a line of one of `products`, newest first (what a
    /// seller sold).
    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError>;
    /// Orders in one of these statuses, oldest first (what fulfilment has to move on).
    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError>;
    /// Commits a fulfilment step atomically: each order only if it is stored with the version
    /// given (else `Conflict`, also for an order not stored at all), stock deltas with their check, outbox appends and
    /// removals, link states. Returns the new outbox entries.
    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Effects not yet performed, in commit order.
    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// A link's saved state.
    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Appends lines to the payment journal (the simulated gateway's durable record), in
    /// order, all or none, committed when this returns.
    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError>;
    /// Appends lines to the payment journal like [`Self::append_payment_records`], but may
    /// return once they hold their place in the store's order of writes, before they are
    /// durable: only a store whose writes reach the disk in the order they were made does so,
    /// where every write made after this one returns only once these lines are durable too.
    /// For a caller whose every use of what it journaled is a later write (the simulated
    /// gateway: the order placed with a hold, the outbox entry marked done after a capture),
    /// that is the same guarantee without a sync of its own to wait for. The default waits.
    async fn sequence_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        self.append_payment_records(lines).await
    }
    /// The payment journal, oldest line first.
    async fn payment_records(&self) -> Result<Vec<String>, StoreError>;
    /// The journal's records after position `after` (positions count from 1 in journal
    /// order; gaps are allowed), with their positions: a reader that keeps up reads only
    /// what is new. The default reads the whole journal and numbers it.
    async fn payment_records_after(&self, after: u64) -> Result<Vec<(u64, String)>, StoreError> {
        Ok((1..)
            .zip(self.payment_records().await?)
            .filter(|(position, _)| *position > after)
            .collect())
    }
}

/// Users' inboxes ([`crate::inbox`]), and the mail queue they hold.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Files notifications, in order, as one atomic step, and returns the entries it filed.
    /// One whose key is already filed (by this call or an earlier one), or whose user does not
    /// exist, is skipped: filing is idempotent by key.
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError>;
    /// A user's notifications, newest first: at most `limit`, older than `before` if given.
    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError>;
    /// How many of a user's notifications are unread.
    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError>;
    /// Marks a user's notifications read: those in `ids` (others' ids are ignored), or all
    /// if `None`. Returns how many changed.
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError>;
    /// Notifications waiting to be mailed, oldest first, at most `limit`.
    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError>;
    /// Records where a notification's mail stands (`NotFound` if there is no such entry).
    async fn record_mail(&self, id: NotificationId, state: MailState) -> Result<(), StoreError>;
    /// Records where several mails stand, in one write where the backend can (the mailer
    /// records a batch at once: one disk sync, not one per mail). An entry that no longer
    /// exists is skipped: there is nothing left to record on. By default, one
    /// [`Self::record_mail`] each.
    async fn record_mails(&self, states: &[(NotificationId, MailState)]) -> Result<(), StoreError> {
        for (id, state) in states {
            match self.record_mail(*id, state.clone()).await {
                Ok(()) | Err(StoreError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }
}

/// What [`CampaignStore::start_campaign`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CampaignStart {
    /// Recorded, not yet sent.
    Started(Campaign),
    /// The seller's last campaign is too recent; nothing recorded.
    TooSoon {
        /// When that campaign went out.
        last: Timestamp,
    },
}

/// Sellers' promotion campaigns: their record and their rate limit.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// Records a campaign of `seller` at `at` — atomically, only if the seller's last one is at
    /// least `interval` older (two racing starts: one wins) — unsent, with `recipients`.
    async fn start_campaign(
        &self,
        seller: UserId,
        text: &PromotionText,
        at: Timestamp,
        recipients: u64,
        interval: std::time::Duration,
    ) -> Result<CampaignStart, StoreError>;
    /// Marks a campaign sent, to `recipients` customers (`NotFound` if there is no such one).
    async fn finish_campaign(&self, id: CampaignId, recipients: u64) -> Result<(), StoreError>;
    /// Forgets an unsent campaign whose notifications could not be filed, and gives its
    /// seller's rate-limit slot back (a sent one stays: `Conflict`; an unknown id is fine).
    async fn withdraw_campaign(&self, id: CampaignId) -> Result<(), StoreError>;
    /// Campaigns, newest first: a seller's, or everyone's if `None`; at most `limit`.
    async fn campaigns(
        &self,
        seller: Option<UserId>,
        limit: usize,
    ) -> Result<Vec<Campaign>, StoreError>;
    /// Campaigns not yet sent (cut off by a crash), oldest first.
    async fn unsent_campaigns(&self) -> Result<Vec<Campaign>, StoreError>;
}

/// Leases: which node plays a one-player role (see [`crate::lease`]).
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Claims (or renews) lease `name` for `holder` from `now` for `ttl`, atomically, as
    /// [`crate::lease::decide`] says: granted when free, run out, or already `holder`'s.
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<LeaseClaim, StoreError>;

    /// Gives lease `name` back if `holder` still holds it at `term` (it runs out at once;
    /// the next holder gets a higher term). Otherwise does nothing.
    async fn release_lease(&self, name: &str, holder: &str, term: u64) -> Result<(), StoreError>;

    /// The lease `name` as stored, if it was ever claimed.
    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError>;
}

/// Opening and closing the store as a whole.
#[async_trait]
pub trait StoreLifecycle: Send + Sync {
    /// Flushes and releases what the store holds (files, locks, connections) while the async
    /// runtime is still there to do it: an embedded database dropped without it closes from
    /// a destructor, after the runtime has gone, and cannot flush. A server calls it once
    /// everything that uses the store has stopped; using the store afterwards is an error.
    /// Stores with nothing to release keep the default, which does nothing.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Everything the shop stores.
pub trait Store:
    AccountStore
    + CatalogStore
    + CartStore
    + OrderStore
    + InboxStore
    + CampaignStore
    + LeaseStore
    + ChangeFeed
    + StoreLifecycle
{
}

impl<T> Store for T where
    T: AccountStore
        + CatalogStore
        + CartStore
        + OrderStore
        + InboxStore
        + CampaignStore
        + LeaseStore
        + ChangeFeed
        + StoreLifecycle
        + ?Sized
{
}
