//! The `Shop` port: the service API that the HTTP layer and embedders call.
//!
//! Callers parse their input into domain values first; every method that acts for a user takes
//! the id [`Shop::authenticate`] returned, and checks that user may do it: nobody reads or
//! changes another user's cart, orders, profile or products. Someone else's order or product
//! looks exactly like a missing one (`NotFound`), so ids cannot be probed.

use async_trait::async_trait;

use crate::domain::{
    Address, Campaign, CardNumber, Cart, Category, Currency, DeliveryEstimate, DeliveryOption,
    Description, DomainError, Email, ImageRef, Location, Money, Order, OrderEvent, OrderId,
    OrderLine, OrderStatus, Password, PersonName, Picture, PictureId, PictureSize, Product,
    ProductId, ProductName, Quantity, Roles, SessionToken, ShipId, Stock, Timestamp, UpsAccount,
    User, UserId, WarehouseId, WarehouseSite, Weight,
};
use crate::payments::{IdempotencyKey, PaymentError};
use crate::store::{Page, ProductQuery, StoreError};

/// A change of an order, as broadcast to live followers (order tracking).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderUpdate {
    /// The order after the change.
    pub order: Order,
}

/// Why the shop refused; each variant maps to one HTTP status class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopError {
    /// A value broke a domain rule (400).
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The request cannot be done as asked (400), e.g. checking out an empty cart.
    #[error("{0}")]
    BadRequest(String),
    /// Wrong credentials, or a missing or expired session (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// The user lacks the role (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing, or not the caller's (404).
    #[error("{0} not found")]
    NotFound(String),
    /// The state forbids it (409), e.g. an email already registered.
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key reused for a different request (422): the key is bound to the
    /// request that first used it.
    #[error("{0}")]
    KeyReused(String),
    /// Too many of something lately (429): wrong passwords for an account, promotions from
    /// a seller. Try again after the wait.
    #[error("{what}; try again in {}", in_seconds(*retry_after))]
    TooMany {
        /// What there was too much of, in words.
        what: String,
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// Not enough stock (409).
    #[error("not enough stock of product {product}: {available} available")]
    OutOfStock {
        /// The product.
        product: ProductId,
        /// Units that can still be bought in one package.
        available: u64,
    },
    /// The payment was refused (402).
    #[error("payment refused: {0}")]
    Payment(#[from] PaymentError),
    /// Storage failed (503).
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

/// A wait in whole seconds, at least one: "1 second", "30 seconds".
fn in_seconds(wait: std::time::Duration) -> String {
    match wait.as_secs().max(1) {
        1 => "1 second".to_string(),
        n => format!("{n} seconds"),
    }
}

impl From<StoreError> for ShopError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(what) => ShopError::Conflict(format!("{what} already exists")),
            StoreError::NotFound(what) => ShopError::NotFound(what),
            StoreError::OutOfStock {
                product, available, ..
            } => ShopError::OutOfStock { product, available },
            StoreError::Conflict(what) => ShopError::Conflict(what),
            other => ShopError::Unavailable(other.to_string()),
        }
    }
}

/// A new account.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Login.
    pub email: Email,
    /// Password (hashed before it is stored).
    pub password: Password,
    /// Name.
    pub name: PersonName,
    /// Customer and/or seller.
    pub roles: Roles,
}

/// A successful login: the token is shown to the client once and stored only hashed.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    /// The bearer token.
    pub token: SessionToken,
    /// Who.
    pub user: User,
    /// When the token stops working.
    pub expires: Timestamp,
}

/// A product to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductDraft {
    /// Name.
    pub name: ProductName,
    /// Description.
    pub description: Description,
    /// Category.
    pub category: Category,
    /// Unit price (in the shop's currency).
    pub price: Money,
    /// Unit weight.
    pub weight: Weight,
    /// Images.
    pub images: Vec<ImageRef>,
}

/// Changes to a product; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductPatch {
    /// New name.
    pub name: Option<ProductName>,
    /// New description.
    pub description: Option<Description>,
    /// New category.
    pub category: Option<Category>,
    /// New price.
    pub price: Option<Money>,
    /// New weight.
    pub weight: Option<Weight>,
    /// New images.
    pub images: Option<Vec<ImageRef>>,
}

/// A seller's view of one product: stock in each warehouse, and whether it runs low.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerProduct {
    /// The product.
    pub product: Product,
    /// Stock per warehouse.
    pub stock: Vec<(WarehouseId, Stock)>,
    /// Units that can still be sold, over all warehouses.
    pub available: u64,
    /// True when `available` is under the shop's low-stock threshold.
    pub low_stock: bool,
}

/// One order as a seller sees it: only the lines of their products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerOrder {
    /// The order.
    pub order: OrderId,
    /// When it was placed.
    pub placed_at: Timestamp,
    /// Where it is.
    pub status: OrderStatus,
    /// The seller's lines of it.
    pub lines: Vec<OrderLine>,
    /// Those lines' sum.
    pub amount: Money,
    /// Its package has a shipping label ([`Shop::shipping_label`] gives it).
    pub has_label: bool,
}

/// What a seller sold, over their newest orders (at most the service's sales window).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerSales {
    /// The newest orders, newest first.
    pub recent: Vec<SellerOrder>,
    /// The seller's lines of delivered orders (paid: their payment was captured).
    pub revenue: Money,
    /// The seller's lines of orders still on their way.
    pub in_progress: Money,
    /// Units delivered.
    pub units: u64,
    /// Orders the figures are summed over.
    pub orders: usize,
}

/// What a package's shipping label says: the order (destination, UPS account, delivery
/// option), its package id, where it leaves from and what it weighs.
#[derive(Debug, Clone, PartialEq)]
pub struct ShippingLabel {
    /// The order.
    pub order: Order,
    /// Its package id in the world (the label's barcode).
    pub ship_id: ShipId,
    /// The warehouse it leaves from.
    pub warehouse: WarehouseSite,
    /// Its lines at their products' unit weights, in grams; `None` when a product was
    /// withdrawn since (orders keep no weights).
    pub weight_grams: Option<u64>,
}

/// The package id an order's label shows, if it has a label: once a warehouse took the order
/// (checkout assigns the package id), unless it was cancelled, since then nothing ships.
pub fn label_ship_id(order: &Order) -> Option<ShipId> {
    match (order.ship_id(), order.warehouse(), order.status()) {
        (_, _, OrderStatus::Cancelled) => None,
        (Some(ship_id), Some(_), _) => Some(ship_id),
        _ => None,
    }
}

/// Checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// Where to.
    pub destination: Location,
    /// How fast.
    pub delivery: DeliveryOption,
    /// A saved payment method's token.
    pub payment_method: String,
    /// The buyer's UPS account, if any.
    pub ups_account: Option<UpsAccount>,
    /// Makes the call safe to retry: the same key returns the same order, charged once.
    pub idempotency_key: IdempotencyKey,
    /// The total the customer was shown, shipping included. If the order would cost anything
    /// else (a price changed since), nothing is placed or charged: `Conflict` with the new total.
    pub expected_total: Option<Money>,
}

impl Checkout {
    /// What the idempotency key is bound to: every field of the request but the key. A key
    /// used again with another fingerprint is refused (`KeyReused`), never answered with the
    /// first request's order.
    pub fn fingerprint(&self) -> String {
        format!(
            "v1|{},{}|{}|{}|{}|{}",
            self.destination.x,
            self.destination.y,
            self.delivery.as_str(),
            self.payment_method,
            self.ups_account.as_ref().map(|a| a.as_str()).unwrap_or(""),
            self.expected_total
                .map(|t| t.to_string())
                .unwrap_or_default()
        )
    }
}

/// What to price in a [`Shop::quote`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteFor {
    /// The caller's cart.
    Cart,
    /// Units of one product (a product page's "delivered to your address").
    Product(ProductId, Quantity),
}

/// What delivering something somewhere costs with one delivery option, and when it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryQuote {
    /// The option.
    pub delivery: DeliveryOption,
    /// Its shipping price.
    pub shipping: Money,
    /// Goods plus shipping: what checkout would charge (its `expected_total`).
    pub total: Money,
    /// When it should arrive, from now.
    pub estimate: DeliveryEstimate,
}

/// Profile changes; `None` leaves a field as it is. (A password is changed with
/// [`Shop::change_password`], which needs the current one.)
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New name.
    pub name: Option<PersonName>,
    /// Opt in to (true) or out of (false) sellers' promotions.
    pub promotions: Option<bool>,
}

/// Longest search or autocomplete text, in characters: a bound on the work one request can ask for.
pub const MAX_QUERY_CHARS: usize = 256;

/// Most words a search text may have (the index refuses more).
pub const MAX_QUERY_TERMS: usize = 32;

/// Most suggestions [`Shop::suggest`] returns.
pub const MAX_SUGGESTIONS: usize = 10;

/// A catalog search with the in-stock filter (see [`Shop::browse`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogQuery {
    /// Text, filters, sort and page.
    pub query: ProductQuery,
    /// Only products with a sellable unit in some warehouse.
    pub in_stock_only: bool,
}

/// One page of a catalog search, with category facets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPage {
    /// The products and the total.
    pub page: Page<Product>,
    /// For each category, the matches if the category filter were left out, by name.
    pub category_facets: Vec<(Category, u64)>,
}

/// The service API of the shop.
#[async_trait]
pub trait Shop: Send + Sync {
    /// The currency of every price (callers parse amounts in it).
    fn currency(&self) -> Currency;

    /// Follows every order change committed from now on (live order tracking). Subscribe
    /// before reading an order, so no change falls between the read and the subscription.
    fn order_updates(&self) -> tokio::sync::broadcast::Receiver<OrderUpdate>;

    /// Creates an account.
    async fn register(&self, registration: Registration) -> Result<User, ShopError>;
    /// Checks a password and opens a session.
    async fn login(&self, email: &Email, password: &str) -> Result<LoggedIn, ShopError>;
    /// Ends a session.
    async fn logout(&self, token: &SessionToken) -> Result<(), ShopError>;
    /// The user a session token belongs to.
    async fn authenticate(&self, token: &SessionToken) -> Result<User, ShopError>;

    /// The user's profile.
    async fn profile(&self, user: UserId) -> Result<User, ShopError>;
    /// Changes the user's name.
    async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<User, ShopError>;
    /// Changes the password of the user logged in with `session`, if `current` is their
    /// password (else `Forbidden`), and ends every other session of theirs: whoever learnt the
    /// old password is logged out everywhere but here.
    async fn change_password(
        &self,
        session: &SessionToken,
        current: &str,
        new: Password,
    ) -> Result<User, ShopError>;
    /// Saves an address (a label already used is replaced).
    async fn add_address(&self, user: UserId, address: Address) -> Result<User, ShopError>;
    /// Forgets an address by label.
    async fn remove_address(&self, user: UserId, label: &str) -> Result<User, ShopError>;
    /// Saves a card at the gateway; the shop keeps its token, brand and last four digits.
    async fn add_payment_method(&self, user: UserId, card: CardNumber) -> Result<User, ShopError>;
    /// Forgets a saved card by token.
    async fn remove_payment_method(&self, user: UserId, token: &str) -> Result<User, ShopError>;

    /// Lists a product (sellers only).
    async fn create_product(
        &self,
        seller: UserId,
        draft: ProductDraft,
    ) -> Result<Product, ShopError>;
    /// Changes one of the seller's products.
    async fn update_product(
        &self,
        seller: UserId,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, ShopError>;
    /// Withdraws one of the seller's products.
    async fn delete_product(&self, seller: UserId, id: ProductId) -> Result<(), ShopError>;
    /// Buys units of one of the seller's products from the world into a warehouse.
    async fn restock(
        &self,
        seller: UserId,
        id: ProductId,
        warehouse: WarehouseId,
        quantity: Quantity,
    ) -> Result<SellerProduct, ShopError>;
    /// The seller's products with their stock.
    async fn seller_products(&self, seller: UserId) -> Result<Vec<SellerProduct>, ShopError>;
    /// The seller's sales: their `recent` newest orders and what their orders brought in.
    async fn seller_sales(&self, seller: UserId, recent: usize) -> Result<SellerSales, ShopError>;
    /// Sends a promotion to the customers who opted in (plain text, 1 to 1000 characters; one
    /// per seller per `ShopConfig::promotion_interval`); returns how many got it.
    async fn promote(&self, seller: UserId, text: &str) -> Result<u64, ShopError>;
    /// The seller's campaigns, newest first, at most `limit` (capped at 100).
    async fn campaigns(&self, seller: UserId, limit: usize) -> Result<Vec<Campaign>, ShopError>;

    /// Stores a product picture for a seller (the caller has decoded the upload and
    /// re-encoded it into [`PictureSize`]s); returns the path of its large size, to put in a
    /// product's images.
    async fn add_picture(&self, seller: UserId, picture: Picture) -> Result<ImageRef, ShopError>;
    /// One size of a stored picture (anyone may see it).
    async fn picture(&self, id: &PictureId, size: PictureSize) -> Result<Vec<u8>, ShopError>;

    /// The shop's warehouses (where orders ship from), by id.
    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, ShopError>;
    /// One product.
    async fn product(&self, id: ProductId) -> Result<Product, ShopError>;
    /// Units of a product that can be sold now, over every warehouse (on hand + incoming −
    /// reserved); 0 is out of stock. For a product page's stock badge.
    async fn availability(&self, id: ProductId) -> Result<u64, ShopError>;
    /// Units of each product that can be sold now, in the order given (0 for an unknown
    /// product): the stock badges of a page of results, without reading each product.
    async fn availabilities(&self, ids: &[ProductId]) -> Result<Vec<u64>, ShopError>;
    /// Searches the catalog.
    async fn search(&self, query: ProductQuery) -> Result<Page<Product>, ShopError>;
    /// Categories with their number of products.
    async fn categories(&self) -> Result<Vec<(Category, u64)>, ShopError>;
    /// Searches the catalog with what only a search index answers cheaply: the in-stock
    /// filter and category facets. Without an index, the store searches; it then refuses the
    /// in-stock filter (`BadRequest`) and gives no facets.
    async fn browse(&self, query: CatalogQuery) -> Result<CatalogPage, ShopError>;
    /// Autocomplete: up to [`MAX_SUGGESTIONS`] products whose names complete what was typed,
    /// best first, one per name.
    async fn suggest(&self, typed: &str) -> Result<Vec<(ProductId, ProductName)>, ShopError>;

    /// The user's cart.
    async fn cart(&self, user: UserId) -> Result<Cart, ShopError>;
    /// Adds units of a product to the cart.
    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError>;
    /// Sets the units of a product already in the cart.
    async fn set_cart_item(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError>;
    /// Removes a product from the cart.
    async fn remove_cart_item(&self, user: UserId, product: ProductId) -> Result<Cart, ShopError>;

    /// What the cart (or some units of a product) would cost delivered to `destination`,
    /// and when it would arrive, for each delivery option (standard first). Checkout prices an
    /// order the same way; `OutOfStock` when no warehouse could ship it.
    async fn quote(
        &self,
        user: UserId,
        what: QuoteFor,
        destination: Location,
    ) -> Result<Vec<DeliveryQuote>, ShopError>;
    /// Places the cart as an order (atomic, idempotent; see [`Checkout`]).
    async fn checkout(&self, user: UserId, checkout: Checkout) -> Result<Order, ShopError>;
    /// The user's orders, newest first.
    async fn orders(&self, user: UserId) -> Result<Vec<Order>, ShopError>;
    /// One of the user's orders.
    async fn order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError>;
    /// One of the user's orders' history.
    async fn order_events(&self, user: UserId, id: OrderId) -> Result<Vec<OrderEvent>, ShopError>;
    /// Cancels one of the user's orders before it is packed.
    async fn cancel_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError>;
    /// What the shipping label of an order's package says, for the order's customer and the
    /// sellers of its products (anyone else's looks missing); `Conflict` while the order has
    /// no label (see [`label_ship_id`]).
    async fn shipping_label(&self, user: UserId, id: OrderId) -> Result<ShippingLabel, ShopError>;

    /// What is left of an order's delivery window, from now, at the world's pace (`None` once
    /// it has ended or if its warehouse is unknown).
    fn delivery_estimate(&self, order: &Order) -> Option<crate::domain::DeliveryEstimate>;

    // Promotions.

    /// A token that takes `user` off promotions in one click, logged out: for the link and the
    /// `List-Unsubscribe` header of a promotion's mail. The same user always gets the same one.
    async fn unsubscribe_token(&self, user: UserId) -> Result<String, ShopError>;
    /// Takes whoever `token` names off promotions (again is fine); `NotFound` for a token the
    /// shop did not make.
    async fn unsubscribe(&self, token: &str) -> Result<UserId, ShopError>;

    // Inbox.

    /// The user's notifications, newest first (at most `limit`, 1 to 100, older than `before`
    /// if given), with how many are unread.
    async fn notifications(
        &self,
        user: UserId,
        before: Option<crate::domain::NotificationId>,
        limit: usize,
    ) -> Result<Inbox, ShopError>;
    /// How many of the user's notifications are unread (the header's badge).
    async fn unread_notifications(&self, user: UserId) -> Result<u64, ShopError>;
    /// Marks the user's notifications read (those in `ids`, or all); how many changed.
    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<Vec<crate::domain::NotificationId>>,
    ) -> Result<u64, ShopError>;
}

/// A page of a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// Newest first.
    pub entries: Vec<crate::inbox::InboxEntry>,
    /// Unread in the whole inbox, not only this page.
    pub unread: u64,
    /// Whether older entries follow (ask with `before` = the last entry's id).
    pub more: bool,
}
