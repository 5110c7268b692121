//! The people: a seller who lists and restocks products, and customers who each try to place
//! one order at a planned moment. Checkouts due together run together (they race for stock);
//! a checkout the shop could not finish (it died, its store failed) is tried again with the
//! same idempotency key, as a customer whose page errored would. At the end, [`Customers::settle`]
//! checks every order against the bank, the world and the UPS.

use std::{
    collections::BTreeMap,
    sync::OnceLock,
    time::{Duration, Instant},
};

use rand::{Rng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;
use weshop_core::{
    domain::{
        CardNumber, Category, DeliveryOption, Description, Email, Location, Money, Order, OrderId,
        OrderStatus, Password, PasswordHash, PersonName, ProductId, ProductName, Quantity, Roles,
        Timestamp, UserId, WarehouseSite, Weight,
    },
    payments::{IdempotencyKey, PaymentError, SimulatedGateway},
    shop::{Checkout, ProductDraft, Shop, ShopError},
    store::{AccountStore, CatalogStore, NewUser, OrderStore},
};

use super::{SimConfig, parties::Parties, shop::ShopNode, shop::SimStore};

/// What became of one customer's order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Attempt {
    /// Not placed yet (not tried, or tried and the shop failed).
    Pending,
    /// Placed.
    Placed(OrderId),
    /// Refused for lack of stock.
    Refused,
}

struct Customer {
    user: UserId,
    card: String,
    product: ProductId,
    quantity: Quantity,
    destination: Location,
    delivery: DeliveryOption,
    due: Instant,
    key: IdempotencyKey,
    /// The product is in the cart: a retry only checks out again (with the same key, which
    /// returns the order if the failed attempt placed it after all).
    carted: bool,
    attempt: Attempt,
}

/// The tally of a settled run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Orders placed.
    pub placed: usize,
    /// Delivered.
    pub delivered: usize,
    /// Failed or cancelled (voided).
    pub failed: usize,
    /// Checkouts refused for lack of stock.
    pub refused: usize,
}

/// The customers. See the [module docs](self).
pub struct Customers {
    list: Vec<Customer>,
}

/// One Argon2id hash for every simulated account: hashing is slow on purpose and no one
/// logs in here.
fn password_hash() -> PasswordHash {
    static HASH: OnceLock<PasswordHash> = OnceLock::new();
    HASH.get_or_init(|| {
        PasswordHash::create(&Password::new("simulated password").expect("a valid password"))
    })
    .clone()
}

async fn account(store: &SimStore, email: String, roles: Roles) -> Result<UserId, String> {
    let user = store
        .create_user(NewUser {
            email: Email::parse(&email).map_err(|e| e.to_string())?,
            name: PersonName::parse("Sim").map_err(|e| e.to_string())?,
            roles,
            password: password_hash(),
            created: Timestamp::from_millis(super::EPOCH_MS),
        })
        .await
        .map_err(|e| e.to_string())?;
    Ok(user.id)
}

impl Customers {
    /// Lists the products, restocks them (purchases the world will answer) and opens the
    /// customers' accounts, each with a card and a planned order.
    pub async fn set_up(
        config: &SimConfig,
        node: &ShopNode,
        warehouses: &[WarehouseSite],
        rng: &mut ChaCha8Rng,
        start: Instant,
    ) -> Result<(Self, Vec<i64>), String> {
        let shop = node.shop.as_ref();
        let store = shop.store().as_ref();
        let fail = |e: ShopError| e.to_string();
        let seller = account(
            store,
            "seller@sim.example".into(),
            Roles::new(false, true).map_err(|e| e.to_string())?,
        )
        .await?;
        let mut products = Vec::new();
        for i in 0..config.products {
            let product = shop
                .create_product(
                    seller,
                    ProductDraft {
                        name: ProductName::parse(&format!("Product {i}"))
                            .map_err(|e| e.to_string())?,
                        description: Description::parse("Simulated.").map_err(|e| e.to_string())?,
                        category: Category::parse("simulated").map_err(|e| e.to_string())?,
                        price: Money::parse(&format!("{}.50", 3 + i), shop.currency())
                            .map_err(|e| e.to_string())?,
                        weight: Weight::grams(rng.random_range(50..2_000))
                            .map_err(|e| e.to_string())?,
                        images: vec![],
                    },
                )
                .await
                .map_err(fail)?;
            for site in warehouses {
                if rng.random_bool(0.5) {
                    let units =
                        Quantity::new(rng.random_range(1..10)).map_err(|e| e.to_string())?;
                    shop.restock(seller, product.id, site.id, units)
                        .await
                        .map_err(fail)?;
                }
            }
            products.push(product.id);
        }
        let mut list = Vec::new();
        for i in 0..config.orders {
            let user = account(
                store,
                format!("customer{i}@sim.example"),
                Roles::new(true, false).map_err(|e| e.to_string())?,
            )
            .await?;
            let card = shop
                .add_payment_method(
                    user,
                    CardNumber::parse("4242 4242 4242 4242").map_err(|e| e.to_string())?,
                )
                .await
                .map_err(fail)?
                .payment_methods
                .first()
                .ok_or("the card is saved")?
                .token
                .clone();
            list.push(Customer {
                user,
                card,
                product: *products.choose(rng).ok_or("no products")?,
                quantity: Quantity::new(rng.random_range(1..=3)).map_err(|e| e.to_string())?,
                destination: Location {
                    x: rng.random_range(0..100),
                    y: rng.random_range(0..100),
                },
                delivery: if rng.random_bool(0.3) {
                    DeliveryOption::Express
                } else {
                    DeliveryOption::Standard
                },
                due: start + config.place_over.mul_f64(rng.random_range(0.0..1.0)),
                key: IdempotencyKey::parse(&format!("sim-order-{i}")).map_err(|e| e.to_string())?,
                carted: false,
                attempt: Attempt::Pending,
            });
        }
        let watched = products.iter().map(|p| p.get()).collect();
        Ok((Self { list }, watched))
    }

    /// Checkouts not placed or refused yet.
    pub fn pending(&self) -> usize {
        self.list
            .iter()
            .filter(|c| c.attempt == Attempt::Pending)
            .count()
    }

    /// When the next pending checkout is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.list
            .iter()
            .filter(|c| c.attempt == Attempt::Pending)
            .map(|c| c.due)
            .min()
    }

    /// How many checkouts are due at `now`.
    pub fn due(&self, now: Instant) -> usize {
        self.list
            .iter()
            .filter(|c| c.attempt == Attempt::Pending && c.due <= now)
            .count()
    }

    /// Runs every checkout due at `now`, together.
    pub fn check_out(
        &mut self,
        now: Instant,
        node: &ShopNode,
        runtime: &tokio::runtime::Runtime,
        rng: &mut ChaCha8Rng,
    ) -> Result<(), String> {
        let due: Vec<usize> = (0..self.list.len())
            .filter(|&i| self.list[i].attempt == Attempt::Pending && self.list[i].due <= now)
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let shop = node.shop.as_ref();
        let results = runtime.block_on(futures::future::join_all(
            due.iter().map(|&i| attempt(shop, &self.list[i])),
        ));
        for (i, (carted, result)) in due.into_iter().zip(results) {
            let customer = &mut self.list[i];
            customer.carted = carted;
            match result {
                Ok(order) => customer.attempt = Attempt::Placed(order.id()),
                Err(ShopError::OutOfStock { .. }) => customer.attempt = Attempt::Refused,
                // The shop died under the checkout (its store or its bank calls refused).
                Err(
                    ShopError::Unavailable(_) | ShopError::Payment(PaymentError::Unavailable(_)),
                ) => {
                    customer.due = now + Duration::from_millis(rng.random_range(100..2_000));
                }
                Err(other) => {
                    return Err(format!(
                        "checkout {} refused: {other}",
                        customer.key.as_str()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The orders not finished yet, in words.
    pub async fn open_orders(&self, store: &SimStore) -> String {
        let mut open = Vec::new();
        for customer in &self.list {
            if let Attempt::Placed(id) = customer.attempt
                && let Ok(Some(order)) = store.order(id).await
                && !order.status().is_terminal()
            {
                open.push(describe(&order));
            }
        }
        format!("open orders: [{}]", open.join("; "))
    }

    /// `None` while an order is not finished; then every end-state invariant, checked.
    pub async fn settle(
        &self,
        store: &SimStore,
        gateway: &SimulatedGateway,
        parties: &Parties,
        warehouses: &[WarehouseSite],
    ) -> Result<Option<Outcome>, String> {
        let mut orders = Vec::new();
        for customer in &self.list {
            let mut theirs = store
                .orders_of(customer.user)
                .await
                .map_err(|e| e.to_string())?;
            match (&customer.attempt, theirs.len()) {
                (Attempt::Placed(id), 1) if theirs[0].id() == *id => {}
                (Attempt::Refused, 0) => {}
                (attempt, _) => {
                    return Err(format!(
                        "checkout {} ended {attempt:?} but the customer has orders {:?}",
                        customer.key.as_str(),
                        theirs.iter().map(|o| o.id()).collect::<Vec<_>>()
                    ));
                }
            }
            if theirs.iter().any(|o| !o.status().is_terminal()) {
                return Ok(None);
            }
            orders.append(&mut theirs);
        }
        let holds = gateway.holds();
        let mut delivered_total = 0;
        let mut outcome = Outcome {
            placed: orders.len(),
            delivered: 0,
            failed: 0,
            refused: self
                .list
                .iter()
                .filter(|c| c.attempt == Attempt::Refused)
                .count(),
        };
        let mut held: BTreeMap<&str, &Order> = BTreeMap::new();
        for order in &orders {
            let hold = holds
                .get(order.payment())
                .ok_or(format!("order {} has no authorization", order.id()))?;
            held.insert(order.payment(), order);
            match order.status() {
                OrderStatus::Delivered => {
                    outcome.delivered += 1;
                    delivered_total += order.total().minor();
                    if hold.captured != order.total() || hold.refunded.minor() != 0 {
                        return Err(format!(
                            "order {} delivered for {} but {:?} moved",
                            order.id(),
                            order.total(),
                            hold
                        ));
                    }
                }
                _ => {
                    outcome.failed += 1;
                    if hold.captured.minor() != 0 || hold.authorized.minor() != 0 {
                        return Err(format!(
                            "order {} ended {} ({}) but its payment was not voided: {:?}",
                            order.id(),
                            order.status(),
                            order.end_reason().unwrap_or("no reason"),
                            hold
                        ));
                    }
                }
            }
        }
        for (id, hold) in &holds {
            if !held.contains_key(id.as_str()) && hold.authorized.minor() != 0 {
                return Err(format!("authorization {id} holds {hold:?} for no order"));
            }
        }
        let captured = gateway.net_captured_minor();
        if captured != delivered_total {
            return Err(format!(
                "captured {captured} (minor units) but delivered orders total {delivered_total}"
            ));
        }
        let ups_delivered = parties.ups.stats().delivered as usize;
        if ups_delivered != outcome.delivered {
            return Err(format!(
                "the UPS delivered {ups_delivered} packages, the shop counts {} delivered orders: {}",
                outcome.delivered,
                orders.iter().map(describe).collect::<Vec<_>>().join("; ")
            ));
        }
        for product in store.catalog().await.map_err(|e| e.to_string())? {
            let product = product.0.id;
            let stock = store.stock(product).await.map_err(|e| e.to_string())?;
            for site in warehouses {
                let ours = stock
                    .iter()
                    .find(|(w, _)| *w == site.id)
                    .map(|(_, s)| *s)
                    .unwrap_or_default();
                let world = parties.world.stock(site.id.get(), product.get());
                if ours.on_hand() as i64 != world || ours.reserved() != 0 || ours.incoming() != 0 {
                    return Err(format!(
                        "product {product} at warehouse {}: the shop has {} on hand, {} reserved, {} incoming; the world has {world}",
                        site.id,
                        ours.on_hand(),
                        ours.reserved(),
                        ours.incoming()
                    ));
                }
            }
        }
        Ok(Some(outcome))
    }
}

/// One checkout as a customer makes it: the product into the cart (once), then checkout with
/// the customer's key.
async fn attempt(
    shop: &weshop_core::service::ShopService<SimStore>,
    c: &Customer,
) -> (bool, Result<Order, ShopError>) {
    if !c.carted
        && let Err(error) = shop.add_to_cart(c.user, c.product, c.quantity).await
    {
        return (false, Err(error));
    }
    let checkout = Checkout {
        destination: c.destination,
        delivery: c.delivery,
        payment_method: c.card.clone(),
        ups_account: None,
        idempotency_key: c.key.clone(),
        expected_total: None,
    };
    (true, shop.checkout(c.user, checkout).await)
}

fn describe(order: &Order) -> String {
    format!(
        "{} {} (ship {:?}, truck {:?}, last: {:?})",
        order.id(),
        order.status(),
        order.ship_id(),
        order.truck(),
        order.history().last()
    )
}
