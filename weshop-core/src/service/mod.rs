//! [`ShopService`]: the [`Shop`] port implemented over a [`Store`], a [`Payments`] gateway, a
//! [`Notifier`] and the [`FulfilmentDriver`].
//!
//! The service is split by concern, one file each: `accounts.rs` (registration, sessions,
//! profiles, saved addresses and cards), `catalog.rs` (sellers' products, restocking,
//! promotions, browsing), `cart.rs`, `checkout.rs` (placing an order), `quote.rs` (pricing a delivery), `sales.rs` (what a seller sold) and `orders.rs`
//! (reading and cancelling them), `pictures.rs` (product pictures). This file holds what they share: the service's parts, its
//! configuration, the lookups several concerns need, and the one `impl Shop` (an
//! `#[async_trait]` impl cannot be spread over files), in which each method `m` forwards to
//! the inherent `m_impl` in its concern's file. That keeps the port's whole surface readable
//! in one place, and each concern's rules next to each other.

mod accounts;
mod campaigns;
mod cart;
mod catalog;
mod changes;
mod checkout;
mod inbox;
mod orders;
mod pictures;
mod quote;
mod sales;
mod summaries;
mod unsubscribe;

pub use summaries::{DAY_MS, day_of};

use std::sync::Arc;

use async_trait::async_trait;

use crate::catalog_index::IndexKeeper;
use crate::domain::{
    Address, Campaign, CardNumber, Cart, Category, Currency, DeliveryPace, Email, ImageRef,
    Location, Money, Order, OrderEvent, OrderId, Password, Picture, PictureId, PictureSize,
    Product, ProductId, ProductName, Quantity, SessionToken, ShippingRates, User, UserId,
    WarehouseId, WarehouseSite,
};
use crate::driver::FulfilmentDriver;
use crate::login_throttle::{LoginThrottle, ThrottlePolicy};
use crate::notify::Notifier;
use crate::payments::Payments;
use crate::ports::Clock;
use crate::read_cache::ProductCache;
use crate::shop::{
    CatalogPage, CatalogQuery, Checkout, DeliveryQuote, LoggedIn, OrderUpdate, ProductDraft,
    ProductPatch, ProfilePatch, QuoteFor, Registration, SellerProduct, SellerSales, ShippingLabel,
    Shop, ShopError,
};
use crate::store::{Page, ProductQuery, Store};

/// How a shop is set up.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The currency of every price.
    pub currency: Currency,
    /// Shipping prices.
    pub rates: ShippingRates,
    /// How fast the world moves, for delivery estimates.
    pub pace: DeliveryPace,
    /// How long a login lasts.
    pub session_ttl: std::time::Duration,
    /// Sellers are told when a product's sellable units drop below this.
    pub low_stock_threshold: u64,
    /// Most results per search page.
    pub max_page_size: usize,
    /// Destinations and addresses must lie within this many grid units of the origin on
    /// each axis (the world's grid is finite; a point past it would only cost a fortune).
    pub grid_limit: i32,
    /// The most one order may cost, shipping included (in minor units of the currency).
    pub max_order_total_minor: i64,
    /// How failed logins per account are throttled.
    pub login_throttle: ThrottlePolicy,
    /// Least time between two promotions of one seller.
    pub promotion_interval: std::time::Duration,
    /// Products kept in memory for search and listing pages (0: read every one from the
    /// store). About half a kilobyte each.
    pub product_cache: usize,
    /// With several nodes on one store: how long a hold no order stands behind must stay so
    /// before it is released (it may be another node's checkout, between its authorization
    /// and its order, for a moment).
    pub stray_hold_grace: std::time::Duration,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            currency: Currency::USD,
            rates: ShippingRates::standard(Currency::USD),
            pace: DeliveryPace::default(),
            session_ttl: std::time::Duration::from_secs(7 * 24 * 3600),
            low_stock_threshold: 5,
            max_page_size: 100,
            grid_limit: 10_000,
            max_order_total_minor: 100_000_000,
            product_cache: 20_000,
            login_throttle: ThrottlePolicy::default(),
            promotion_interval: std::time::Duration::from_secs(10 * 60),
            stray_hold_grace: std::time::Duration::from_secs(5 * 60),
        }
    }
}

/// The shop.
pub struct ShopService<S: ?Sized> {
    store: Arc<S>,
    payments: Arc<dyn Payments>,
    notifier: Arc<dyn Notifier>,
    fulfilment: Arc<FulfilmentDriver<S>>,
    clock: Arc<dyn Clock>,
    config: ShopConfig,
    /// The search index, when the catalog's read path is served by one; `None` searches the
    /// store.
    index: Option<Arc<IndexKeeper>>,
    /// Products recently read for search pages; forgotten on every product write.
    products: ProductCache,
    /// Failed logins per account.
    logins: LoginThrottle<String>,
    /// The key unsubscribe links are signed with, read from (or first made in) the store.
    signing_key: tokio::sync::OnceCell<Vec<u8>>,
}

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// A shop over these parts.
    pub fn new(
        store: Arc<S>,
        payments: Arc<dyn Payments>,
        notifier: Arc<dyn Notifier>,
        fulfilment: Arc<FulfilmentDriver<S>>,
        clock: Arc<dyn Clock>,
        config: ShopConfig,
    ) -> Self {
        Self {
            store,
            payments,
            notifier,
            fulfilment,
            clock,
            products: ProductCache::new(config.product_cache),
            logins: LoginThrottle::new(config.login_throttle),
            signing_key: tokio::sync::OnceCell::new(),
            config,
            index: None,
        }
    }

    /// Serves searches, categories and suggestions from `index`, and keeps it in step with
    /// every catalog write (the builder shares it with the driver for stock changes).
    pub(crate) fn with_index(mut self, index: Option<Arc<IndexKeeper>>) -> Self {
        self.index = index;
        self
    }

    /// The fulfilment driver.
    pub fn fulfilment(&self) -> &Arc<FulfilmentDriver<S>> {
        &self.fulfilment
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &ShopConfig {
        &self.config
    }

    /// The user behind an id. An id comes from [`Shop::authenticate`], so a missing user is
    /// one deleted since: the caller is no longer logged in as anyone.
    async fn user(&self, id: UserId) -> Result<User, ShopError> {
        self.store
            .user(id)
            .await?
            .ok_or_else(|| ShopError::Unauthenticated("no such user".into()))
    }

    /// Refuses a price in another currency: every total, quote and capture is in the shop's
    /// one currency, so a product priced otherwise could never be checked out.
    /// Refuses a point outside the grid ([`ShopConfig::grid_limit`]).
    fn check_on_grid(&self, location: Location) -> Result<(), ShopError> {
        let limit = self.config.grid_limit;
        if location.x.abs() > limit || location.y.abs() > limit {
            return Err(ShopError::BadRequest(format!(
                "{location} is off the grid: x and y must be within -{limit}..={limit}"
            )));
        }
        Ok(())
    }

    fn check_price(&self, price: Money) -> Result<(), ShopError> {
        if price.currency() != self.config.currency {
            return Err(ShopError::BadRequest(format!(
                "prices are in {}",
                self.config.currency
            )));
        }
        let cap = 10i64.pow(Product::MAX_PRICE_DIGITS + price.currency().minor_digits());
        if price.minor() >= cap {
            return Err(ShopError::BadRequest(format!(
                "a unit price has at most {} whole digits",
                Product::MAX_PRICE_DIGITS
            )));
        }
        Ok(())
    }
}

/// Every method forwards to its concern's file; see there for the rules it enforces.
#[async_trait]
impl<S: Store + ?Sized + 'static> Shop for ShopService<S> {
    fn currency(&self) -> Currency {
        self.config.currency
    }

    fn order_updates(&self) -> tokio::sync::broadcast::Receiver<OrderUpdate> {
        self.fulfilment.subscribe()
    }

    // Accounts (accounts.rs).

    async fn register(&self, registration: Registration) -> Result<User, ShopError> {
        self.register_impl(registration).await
    }

    async fn login(&self, email: &Email, password: &str) -> Result<LoggedIn, ShopError> {
        self.login_impl(email, password).await
    }

    async fn logout(&self, token: &SessionToken) -> Result<(), ShopError> {
        self.logout_impl(token).await
    }

    async fn authenticate(&self, token: &SessionToken) -> Result<User, ShopError> {
        self.authenticate_impl(token).await
    }

    async fn profile(&self, user: UserId) -> Result<User, ShopError> {
        self.profile_impl(user).await
    }

    async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<User, ShopError> {
        self.update_profile_impl(user, patch).await
    }

    async fn change_password(
        &self,
        session: &SessionToken,
        current: &str,
        new: Password,
    ) -> Result<User, ShopError> {
        self.change_password_impl(session, current, new).await
    }

    async fn add_address(&self, user: UserId, address: Address) -> Result<User, ShopError> {
        self.add_address_impl(user, address).await
    }

    async fn remove_address(&self, user: UserId, label: &str) -> Result<User, ShopError> {
        self.remove_address_impl(user, label).await
    }

    async fn add_payment_method(&self, user: UserId, card: CardNumber) -> Result<User, ShopError> {
        self.add_payment_method_impl(user, card).await
    }

    async fn remove_payment_method(&self, user: UserId, token: &str) -> Result<User, ShopError> {
        self.remove_payment_method_impl(user, token).await
    }

    // Catalog (catalog.rs).

    async fn create_product(
        &self,
        seller: UserId,
        draft: ProductDraft,
    ) -> Result<Product, ShopError> {
        self.create_product_impl(seller, draft).await
    }

    async fn update_product(
        &self,
        seller: UserId,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, ShopError> {
        self.update_product_impl(seller, id, patch).await
    }

    async fn delete_product(&self, seller: UserId, id: ProductId) -> Result<(), ShopError> {
        self.delete_product_impl(seller, id).await
    }

    async fn restock(
        &self,
        seller: UserId,
        id: ProductId,
        warehouse: WarehouseId,
        quantity: Quantity,
    ) -> Result<SellerProduct, ShopError> {
        self.restock_impl(seller, id, warehouse, quantity).await
    }

    async fn seller_products(&self, seller: UserId) -> Result<Vec<SellerProduct>, ShopError> {
        self.seller_products_impl(seller).await
    }

    async fn seller_sales(&self, seller: UserId, recent: usize) -> Result<SellerSales, ShopError> {
        self.seller_sales_impl(seller, recent).await
    }

    async fn promote(&self, seller: UserId, text: &str) -> Result<u64, ShopError> {
        self.promote_impl(seller, text).await
    }

    async fn campaigns(&self, seller: UserId, limit: usize) -> Result<Vec<Campaign>, ShopError> {
        self.campaigns_impl(seller, limit).await
    }

    async fn add_picture(&self, seller: UserId, picture: Picture) -> Result<ImageRef, ShopError> {
        self.add_picture_impl(seller, picture).await
    }

    async fn picture(&self, id: &PictureId, size: PictureSize) -> Result<Vec<u8>, ShopError> {
        self.picture_impl(id, size).await
    }

    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, ShopError> {
        Ok(self.fulfilment.engine().warehouses().copied().collect())
    }

    async fn product(&self, id: ProductId) -> Result<Product, ShopError> {
        self.product_impl(id).await
    }

    async fn availability(&self, id: ProductId) -> Result<u64, ShopError> {
        self.availability_impl(id).await
    }

    async fn availabilities(&self, ids: &[ProductId]) -> Result<Vec<u64>, ShopError> {
        self.availabilities_impl(ids).await
    }

    async fn search(&self, query: ProductQuery) -> Result<Page<Product>, ShopError> {
        self.search_impl(query).await
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, ShopError> {
        self.categories_impl().await
    }

    async fn browse(&self, query: CatalogQuery) -> Result<CatalogPage, ShopError> {
        self.browse_impl(query).await
    }

    async fn suggest(&self, typed: &str) -> Result<Vec<(ProductId, ProductName)>, ShopError> {
        self.suggest_impl(typed).await
    }

    // Cart (cart.rs).

    async fn cart(&self, user: UserId) -> Result<Cart, ShopError> {
        self.cart_impl(user).await
    }

    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        self.add_to_cart_impl(user, product, quantity).await
    }

    async fn set_cart_item(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        self.set_cart_item_impl(user, product, quantity).await
    }

    async fn remove_cart_item(&self, user: UserId, product: ProductId) -> Result<Cart, ShopError> {
        self.remove_cart_item_impl(user, product).await
    }

    // Checkout (quote.rs, checkout.rs).

    async fn quote(
        &self,
        user: UserId,
        what: QuoteFor,
        destination: Location,
    ) -> Result<Vec<DeliveryQuote>, ShopError> {
        self.quote_impl(user, what, destination).await
    }

    async fn checkout(&self, user: UserId, checkout: Checkout) -> Result<Order, ShopError> {
        self.checkout_impl(user, checkout).await
    }

    // Orders (orders.rs).

    async fn orders(&self, user: UserId) -> Result<Vec<Order>, ShopError> {
        self.orders_impl(user).await
    }

    async fn order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        self.order_impl(user, id).await
    }

    async fn order_events(&self, user: UserId, id: OrderId) -> Result<Vec<OrderEvent>, ShopError> {
        self.order_events_impl(user, id).await
    }

    async fn cancel_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        self.cancel_order_impl(user, id).await
    }

    async fn shipping_label(&self, user: UserId, id: OrderId) -> Result<ShippingLabel, ShopError> {
        self.shipping_label_impl(user, id).await
    }

    fn delivery_estimate(&self, order: &Order) -> Option<crate::domain::DeliveryEstimate> {
        let warehouse = order.warehouse()?;
        let site = self
            .fulfilment
            .engine()
            .warehouses()
            .find(|w| w.id == warehouse)?;
        let to = order.reported_destination().unwrap_or(order.destination());
        self.config
            .pace
            .remaining(order.status(), site.location, to)
    }

    // Promotions: one-click unsubscribe (unsubscribe.rs).

    async fn unsubscribe_token(&self, user: UserId) -> Result<String, ShopError> {
        self.unsubscribe_token_impl(user).await
    }

    async fn unsubscribe(&self, token: &str) -> Result<UserId, ShopError> {
        self.unsubscribe_impl(token).await
    }

    // Inbox (inbox.rs).

    async fn notifications(
        &self,
        user: UserId,
        before: Option<crate::domain::NotificationId>,
        limit: usize,
    ) -> Result<crate::shop::Inbox, ShopError> {
        self.notifications_impl(user, before, limit).await
    }

    async fn unread_notifications(&self, user: UserId) -> Result<u64, ShopError> {
        Ok(self.store.unread_notifications(user).await?)
    }

    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<Vec<crate::domain::NotificationId>>,
    ) -> Result<u64, ShopError> {
        self.mark_notifications_read_impl(user, ids).await
    }
}
