//! [`ShopService`]: the [`Shop`] port implemented over a [`Store`], a [`Payments`] gateway, a
//! [`Notifier`] and the [`FulfilmentDriver`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::Email;
use crate::domain::{
    Address, CardNumber, Cart, Category, Currency, LoginSession, NewOrder, Order, OrderEvent,
    OrderId, OrderLine, Password, PasswordHash, Product, ProductId, Quantity, SessionToken,
    ShippingRates, Stock, StockDelta, Timestamp, User, UserId, WarehouseId, WarehouseSite, Weight,
};
use crate::driver::{FulfilmentDriver, item};
use crate::fulfilment::ship_id_of;
use crate::notify::{Notification, Notifier};
use crate::payments::{IdempotencyKey, Payments};
use crate::ports::Clock;
use crate::shop::{
    Checkout, LoggedIn, ProductDraft, ProductPatch, ProfilePatch, Registration, SellerProduct,
    Shop, ShopError,
};
use crate::store::{NewProduct, NewUser, Page, PlaceOrder, Placed, ProductQuery, Store};

/// How a shop is set up.
#[derive(Debug, Clone)]
pub struct ShopConfig {
    /// The currency of every price.
    pub currency: Currency,
    /// Shipping prices.
    pub rates: ShippingRates,
    /// How long a login lasts.
    pub session_ttl: std::time::Duration,
    /// Sellers are told when a product's sellable units drop below this.
    pub low_stock_threshold: u64,
    /// Most results per search page.
    pub max_page_size: usize,
}

impl Default for ShopConfig {
    fn default() -> Self {
        Self {
            currency: Currency::USD,
            rates: ShippingRates::standard(Currency::USD),
            session_ttl: std::time::Duration::from_secs(7 * 24 * 3600),
            low_stock_threshold: 5,
            max_page_size: 100,
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
            config,
        }
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

    async fn user(&self, id: UserId) -> Result<User, ShopError> {
        self.store
            .user(id)
            .await?
            .ok_or_else(|| ShopError::Unauthenticated("no such user".into()))
    }

    /// Reads a user, applies `change`, and saves the result (nothing is saved if it fails).
    async fn change_profile(
        &self,
        user: UserId,
        change: impl FnOnce(&mut User) -> Result<(), ShopError>,
    ) -> Result<User, ShopError> {
        let mut current = self.user(user).await?;
        change(&mut current)?;
        self.store.update_user(&current).await?;
        Ok(current)
    }

    async fn seller(&self, id: UserId) -> Result<User, ShopError> {
        let user = self.user(id).await?;
        if !user.roles.seller {
            return Err(ShopError::Forbidden("only sellers may do this".into()));
        }
        Ok(user)
    }

    async fn own_product(&self, seller: UserId, id: ProductId) -> Result<Product, ShopError> {
        self.seller(seller).await?;
        match self.store.product(id).await? {
            Some(product) if product.seller == seller => Ok(product),
            _ => Err(ShopError::NotFound(format!("product {id}"))),
        }
    }

    async fn own_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        match self.store.order(id).await? {
            Some(order) if order.customer() == user => Ok(order),
            _ => Err(ShopError::NotFound(format!("order {id}"))),
        }
    }

    fn check_price(&self, price: crate::domain::Money) -> Result<(), ShopError> {
        if price.currency() != self.config.currency {
            return Err(ShopError::BadRequest(format!(
                "prices are in {}",
                self.config.currency
            )));
        }
        Ok(())
    }

    async fn seller_view(&self, product: Product) -> Result<SellerProduct, ShopError> {
        let stock = self.store.stock(product.id).await?;
        let available = stock.iter().map(|(_, s)| s.available()).sum();
        Ok(SellerProduct {
            product,
            stock,
            available,
            low_stock: available < self.config.low_stock_threshold,
        })
    }

    async fn hash(password: Password) -> Result<PasswordHash, ShopError> {
        // Argon2id is slow on purpose: keep it off the async worker threads.
        tokio::task::spawn_blocking(move || PasswordHash::create(&password))
            .await
            .map_err(|e| ShopError::Unavailable(format!("password hashing: {e}")))
    }

    /// Picks the warehouse that ships an order: the nearest to the destination that can cover
    /// every line from its sellable units.
    fn choose_warehouse(
        &self,
        warehouses: &[WarehouseSite],
        lines: &[OrderLine],
        stock: &[Vec<(WarehouseId, Stock)>],
        destination: crate::domain::Location,
    ) -> Result<WarehouseSite, ShopError> {
        let available = |line: usize, warehouse: WarehouseId| {
            stock[line]
                .iter()
                .find(|(w, _)| *w == warehouse)
                .map(|(_, s)| s.available())
                .unwrap_or(0)
        };
        let best = warehouses
            .iter()
            .filter(|w| {
                lines
                    .iter()
                    .enumerate()
                    .all(|(i, l)| available(i, w.id) >= u64::from(l.quantity.get()))
            })
            .min_by(|a, b| {
                a.location
                    .distance(destination)
                    .total_cmp(&b.location.distance(destination))
                    .then(a.id.cmp(&b.id))
            });
        best.copied().ok_or_else(|| {
            // Name the line that is short, with the most one warehouse could ship of it.
            let (index, line) = lines
                .iter()
                .enumerate()
                .find(|(i, l)| {
                    warehouses
                        .iter()
                        .all(|w| available(*i, w.id) < u64::from(l.quantity.get()))
                })
                .unwrap_or((0, &lines[0]));
            ShopError::OutOfStock {
                product: line.product,
                available: warehouses
                    .iter()
                    .map(|w| available(index, w.id))
                    .max()
                    .unwrap_or(0),
            }
        })
    }

    /// Checkout proper (see [`Shop::checkout`]).
    async fn place(&self, user: UserId, checkout: Checkout) -> Result<Order, ShopError> {
        let key = checkout.idempotency_key.as_str().to_string();
        if let Some(order) = self.store.order_for_key(user, &key).await? {
            return Ok(order);
        }
        let customer = self.user(user).await?;
        if !customer.roles.customer {
            return Err(ShopError::Forbidden("only customers may order".into()));
        }
        if !customer
            .payment_methods
            .iter()
            .any(|m| m.token == checkout.payment_method)
        {
            return Err(ShopError::NotFound(format!(
                "payment method {:?}",
                checkout.payment_method
            )));
        }
        let cart = self.store.cart(user).await?;
        if cart.is_empty() {
            return Err(ShopError::BadRequest("the cart is empty".into()));
        }
        let mut lines = Vec::new();
        let mut grams: u64 = 0;
        for (id, quantity) in cart.lines() {
            let product = self
                .store
                .product(id)
                .await?
                .ok_or_else(|| ShopError::NotFound(format!("product {id}")))?;
            self.check_price(product.price)?;
            grams += u64::from(product.weight.get()) * u64::from(quantity.get());
            lines.push(OrderLine {
                product: id,
                name: product.name,
                quantity,
                unit_price: product.price,
            });
        }
        let weight = Weight::grams(i64::try_from(grams).unwrap_or(i64::MAX)).map_err(|_| {
            ShopError::BadRequest("the cart is too heavy for one package (1000 kg at most)".into())
        })?;
        let warehouses = self.store.warehouses().await?;
        let mut stock = Vec::new();
        for line in &lines {
            stock.push(self.store.stock(line.product).await?);
        }
        let warehouse = self.choose_warehouse(&warehouses, &lines, &stock, checkout.destination)?;
        let shipping = self.config.rates.quote(
            warehouse.location,
            checkout.destination,
            weight,
            checkout.delivery,
        )?;
        // Price the order before the hold: the total is what is authorized.
        let id = self.store.allocate_order_id().await?;
        let now = self.clock.now();
        let mut order = Order::place(
            NewOrder {
                id,
                customer: user,
                lines,
                delivery: checkout.delivery,
                destination: checkout.destination,
                ups_account: checkout.ups_account,
                payment: String::new(),
                shipping,
            },
            now,
        )?;
        // One gateway key per attempt: an attempt that loses a race or finds no stock voids
        // its own hold, and a retry after that starts clean.
        let attempt_key = IdempotencyKey::parse(&format!("checkout-{id}")).expect("valid key");
        let authorization = self
            .payments
            .authorize(&checkout.payment_method, order.total(), &attempt_key)
            .await?;
        let mut parts = order.to_parts();
        parts.payment = authorization.id.clone();
        order = Order::from_parts(parts)?;
        order.assign(warehouse.id, ship_id_of(id), now);
        let reservations = order
            .lines()
            .iter()
            .map(|line| StockDelta {
                warehouse: warehouse.id,
                product: line.product,
                on_hand: 0,
                incoming: 0,
                reserved: i64::from(line.quantity.get()),
            })
            .collect();
        let placed = self
            .store
            .place_order(
                user,
                PlaceOrder {
                    order,
                    reservations,
                    idempotency_key: key,
                },
            )
            .await;
        match placed {
            Ok(Placed::Created(order)) => {
                tracing::info!(order = %order.id(), warehouse = %warehouse.id, total = %order.total(), "order placed");
                self.fulfilment.announce(&order);
                self.tell_low_stock(order.lines()).await;
                if let Err(error) = self.fulfilment.serve(warehouse.id).await {
                    // The order is safe; fulfilment picks it up on its next pass or restart.
                    tracing::warn!(order = %order.id(), "fulfilment deferred: {error}");
                }
                Ok(order)
            }
            Ok(Placed::Existing(order)) => {
                self.void(&authorization.id, id).await;
                Ok(order)
            }
            Err(error) => {
                self.void(&authorization.id, id).await;
                Err(error.into())
            }
        }
    }

    async fn tell_low_stock(&self, lines: &[OrderLine]) {
        for line in lines {
            let Ok(Some(product)) = self.store.product(line.product).await else {
                continue;
            };
            let Ok(stock) = self.store.stock(line.product).await else {
                continue;
            };
            let available: u64 = stock.iter().map(|(_, s)| s.available()).sum();
            let before = available + u64::from(line.quantity.get());
            let threshold = self.config.low_stock_threshold;
            if available < threshold && before >= threshold {
                let _ = self
                    .notifier
                    .notify(
                        product.seller,
                        Notification::LowStock {
                            product: product.id,
                            available,
                        },
                    )
                    .await;
            }
        }
    }

    async fn void(&self, authorization: &str, attempt: OrderId) {
        let key = IdempotencyKey::parse(&format!("void-{attempt}")).expect("valid key");
        if let Err(error) = self.payments.void(authorization, &key).await {
            tracing::error!(%attempt, "could not void authorization {authorization}: {error}");
        }
    }
}

#[async_trait]
impl<S: Store + ?Sized + 'static> Shop for ShopService<S> {
    fn currency(&self) -> Currency {
        self.config.currency
    }

    fn order_updates(&self) -> tokio::sync::broadcast::Receiver<crate::shop::OrderUpdate> {
        self.fulfilment.subscribe()
    }

    async fn register(&self, registration: Registration) -> Result<User, ShopError> {
        if self
            .store
            .user_by_email(&registration.email)
            .await?
            .is_some()
        {
            return Err(ShopError::Conflict(format!(
                "{} is already registered",
                registration.email
            )));
        }
        let password = Self::hash(registration.password).await?;
        let user = self
            .store
            .create_user(NewUser {
                email: registration.email,
                name: registration.name,
                roles: registration.roles,
                password,
                created: self.clock.now(),
            })
            .await?;
        Ok(user)
    }

    async fn login(&self, email: &Email, password: &str) -> Result<LoggedIn, ShopError> {
        let bad = || ShopError::Unauthenticated("wrong email or password".into());
        let user = self.store.user_by_email(email).await?;
        // Verify against a real hash even for unknown emails, so timing tells nothing.
        let hash = match &user {
            Some(user) => user.password.clone(),
            None => dummy_hash(),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .map_err(|e| ShopError::Unavailable(format!("password check: {e}")))?;
        let user = match user {
            Some(user) if ok => user,
            _ => return Err(bad()),
        };
        let token = SessionToken::generate();
        let ttl = u64::try_from(self.config.session_ttl.as_millis()).unwrap_or(u64::MAX);
        let expires = Timestamp(self.clock.now().millis().saturating_add(ttl));
        self.store
            .create_session(&LoginSession {
                user: user.id,
                token: token.hash(),
                expires,
            })
            .await?;
        Ok(LoggedIn {
            token,
            user,
            expires,
        })
    }

    async fn logout(&self, token: &SessionToken) -> Result<(), ShopError> {
        self.store.delete_session(&token.hash()).await?;
        Ok(())
    }

    async fn authenticate(&self, token: &SessionToken) -> Result<User, ShopError> {
        let unauthenticated =
            || ShopError::Unauthenticated("not logged in or session expired".into());
        let session = self
            .store
            .session(&token.hash())
            .await?
            .ok_or_else(unauthenticated)?;
        if !session.is_valid_at(self.clock.now()) {
            self.store.delete_session(&session.token).await?;
            return Err(unauthenticated());
        }
        self.store
            .user(session.user)
            .await?
            .ok_or_else(unauthenticated)
    }

    async fn profile(&self, user: UserId) -> Result<User, ShopError> {
        self.user(user).await
    }

    async fn update_profile(&self, user: UserId, patch: ProfilePatch) -> Result<User, ShopError> {
        let mut current = self.user(user).await?;
        if let Some(name) = patch.name {
            current.name = name;
        }
        if let Some(password) = patch.password {
            current.password = Self::hash(password).await?;
        }
        self.store.update_user(&current).await?;
        Ok(current)
    }

    async fn add_address(&self, user: UserId, address: Address) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            current.addresses.retain(|a| a.label != address.label);
            if current.addresses.len() >= User::MAX_SAVED {
                return Err(ShopError::Conflict(format!(
                    "at most {} addresses",
                    User::MAX_SAVED
                )));
            }
            current.addresses.push(address);
            Ok(())
        })
        .await
    }

    async fn remove_address(&self, user: UserId, label: &str) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            let before = current.addresses.len();
            current.addresses.retain(|a| a.label != label);
            if current.addresses.len() == before {
                return Err(ShopError::NotFound(format!("address {label:?}")));
            }
            Ok(())
        })
        .await
    }

    async fn add_payment_method(&self, user: UserId, card: CardNumber) -> Result<User, ShopError> {
        let mut current = self.user(user).await?;
        if current.payment_methods.len() >= User::MAX_SAVED {
            return Err(ShopError::Conflict(format!(
                "at most {} payment methods",
                User::MAX_SAVED
            )));
        }
        let token = self.payments.tokenize(&card).await?;
        current.payment_methods.push(crate::domain::PaymentMethod {
            token: token.token,
            brand: token.brand,
            last4: token.last4,
        });
        self.store.update_user(&current).await?;
        Ok(current)
    }

    async fn remove_payment_method(&self, user: UserId, token: &str) -> Result<User, ShopError> {
        self.change_profile(user, |current| {
            let before = current.payment_methods.len();
            current.payment_methods.retain(|m| m.token != token);
            if current.payment_methods.len() == before {
                return Err(ShopError::NotFound(format!("payment method {token:?}")));
            }
            Ok(())
        })
        .await
    }

    async fn create_product(
        &self,
        seller: UserId,
        draft: ProductDraft,
    ) -> Result<Product, ShopError> {
        self.seller(seller).await?;
        self.check_price(draft.price)?;
        if draft.images.len() > Product::MAX_IMAGES {
            return Err(ShopError::BadRequest(format!(
                "at most {} images",
                Product::MAX_IMAGES
            )));
        }
        Ok(self
            .store
            .create_product(NewProduct {
                seller,
                name: draft.name,
                description: draft.description,
                category: draft.category,
                price: draft.price,
                weight: draft.weight,
                images: draft.images,
            })
            .await?)
    }

    async fn update_product(
        &self,
        seller: UserId,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, ShopError> {
        let mut product = self.own_product(seller, id).await?;
        if let Some(name) = patch.name {
            product.name = name;
        }
        if let Some(description) = patch.description {
            product.description = description;
        }
        if let Some(category) = patch.category {
            product.category = category;
        }
        if let Some(price) = patch.price {
            self.check_price(price)?;
            product.price = price;
        }
        if let Some(weight) = patch.weight {
            product.weight = weight;
        }
        if let Some(images) = patch.images {
            if images.len() > Product::MAX_IMAGES {
                return Err(ShopError::BadRequest(format!(
                    "at most {} images",
                    Product::MAX_IMAGES
                )));
            }
            product.images = images;
        }
        self.store.update_product(&product).await?;
        Ok(product)
    }

    async fn delete_product(&self, seller: UserId, id: ProductId) -> Result<(), ShopError> {
        self.own_product(seller, id).await?;
        self.store.delete_product(id).await?;
        Ok(())
    }

    async fn restock(
        &self,
        seller: UserId,
        id: ProductId,
        warehouse: WarehouseId,
        quantity: Quantity,
    ) -> Result<SellerProduct, ShopError> {
        let product = self.own_product(seller, id).await?;
        if !self
            .fulfilment
            .engine()
            .warehouses()
            .any(|w| w.id == warehouse)
        {
            return Err(ShopError::NotFound(format!("warehouse {warehouse}")));
        }
        self.fulfilment
            .purchase(warehouse, item(id, product.name.as_str(), quantity))
            .await?;
        self.seller_view(product).await
    }

    async fn seller_products(&self, seller: UserId) -> Result<Vec<SellerProduct>, ShopError> {
        self.seller(seller).await?;
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .search(&ProductQuery {
                    seller: Some(seller),
                    sort: crate::store::ProductSort::Newest,
                    offset,
                    limit: 500,
                    ..ProductQuery::default()
                })
                .await?;
            let got = page.items.len();
            for product in page.items {
                out.push(self.seller_view(product).await?);
            }
            offset += got;
            if got == 0 || offset as u64 >= page.total {
                break;
            }
        }
        Ok(out)
    }

    async fn promote(&self, seller: UserId, text: &str) -> Result<u64, ShopError> {
        self.seller(seller).await?;
        let text = text.trim();
        if text.is_empty() || text.chars().count() > 1000 {
            return Err(ShopError::BadRequest(
                "a promotion is 1 to 1000 characters".into(),
            ));
        }
        let mut sent = 0;
        for customer in self.store.customers().await? {
            if customer == seller {
                continue;
            }
            let notification = Notification::Promotion {
                seller,
                text: text.to_string(),
            };
            if self.notifier.notify(customer, notification).await.is_ok() {
                sent += 1;
            }
        }
        Ok(sent)
    }

    async fn product(&self, id: ProductId) -> Result<Product, ShopError> {
        self.store
            .product(id)
            .await?
            .ok_or_else(|| ShopError::NotFound(format!("product {id}")))
    }

    async fn search(&self, mut query: ProductQuery) -> Result<Page<Product>, ShopError> {
        if query.limit == 0 || query.limit > self.config.max_page_size {
            query.limit = query.limit.clamp(1, self.config.max_page_size);
        }
        Ok(self.store.search(&query).await?)
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, ShopError> {
        Ok(self.store.categories().await?)
    }

    async fn cart(&self, user: UserId) -> Result<Cart, ShopError> {
        Ok(self.store.cart(user).await?)
    }

    async fn add_to_cart(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        self.product(product).await?;
        let mut cart = self.store.cart(user).await?;
        cart.add(product, quantity)?;
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    async fn set_cart_item(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<Cart, ShopError> {
        let mut cart = self.store.cart(user).await?;
        if !cart.set(product, quantity) {
            return Err(ShopError::NotFound(format!(
                "product {product} in the cart"
            )));
        }
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    async fn remove_cart_item(&self, user: UserId, product: ProductId) -> Result<Cart, ShopError> {
        let mut cart = self.store.cart(user).await?;
        if !cart.remove(product) {
            return Err(ShopError::NotFound(format!(
                "product {product} in the cart"
            )));
        }
        self.store.save_cart(user, &cart).await?;
        Ok(cart)
    }

    async fn checkout(&self, user: UserId, checkout: Checkout) -> Result<Order, ShopError> {
        let key = checkout.idempotency_key.as_str().to_string();
        match self.place(user, checkout).await {
            Ok(order) => Ok(order),
            // A retry racing the request it repeats may find the cart already emptied or the
            // stock already taken by it: if its twin placed the order, that is the answer.
            Err(error) => match self.store.order_for_key(user, &key).await {
                Ok(Some(order)) => Ok(order),
                _ => Err(error),
            },
        }
    }

    async fn orders(&self, user: UserId) -> Result<Vec<Order>, ShopError> {
        Ok(self.store.orders_of(user).await?)
    }

    async fn order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        self.own_order(user, id).await
    }

    async fn order_events(&self, user: UserId, id: OrderId) -> Result<Vec<OrderEvent>, ShopError> {
        Ok(self.own_order(user, id).await?.history().to_vec())
    }

    async fn cancel_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        let order = self.own_order(user, id).await?;
        match self.fulfilment.cancel(id).await? {
            Some(cancelled) => Ok(cancelled),
            None => Err(ShopError::Conflict(format!(
                "order {id} is {} and can no longer be cancelled",
                order.status()
            ))),
        }
    }
}

/// A fixed Argon2id hash to verify against when the email is unknown.
fn dummy_hash() -> PasswordHash {
    static DUMMY: std::sync::OnceLock<PasswordHash> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| PasswordHash::create(&Password::new("not a real password").expect("valid")))
        .clone()
}
