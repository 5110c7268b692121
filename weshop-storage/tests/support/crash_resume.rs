//! Crash and resume: a shop on an embedded surrealkv directory is dropped in the middle of
//! fulfilling its orders and reopened on the same directory; every order must still be
//! delivered, and the world must have packed, loaded and delivered each exactly once.
//!
//! The world and UPS here are a fake that acts like the real ones seen through reliable
//! sessions: a command is taken once per outbox id (a session that saved its state would
//! drop a repeat), and each answer is delivered until the shop has processed it.

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use weshop_core::{
    assembly::{AssembledShop, RunningShop, ShopBuilder},
    domain::{
        CardNumber, Category, Currency, DeliveryOption, Description, Email, Location, Money,
        OrderStatus, Password, PasswordHash, PersonName, ProductName, Quantity, Roles, ShipId,
        Timestamp, TruckId, WarehouseId, WarehouseSite, Weight,
    },
    fulfilment::{FulfilmentEvent, ShippingCommand, WarehouseCommand},
    payments::{IdempotencyKey, Payments, SimulatedGateway},
    ports::{PortError, Shipping, Warehouse},
    shop::{Checkout, Shop},
    store::{NewProduct, NewUser, Store},
};

/// What the fake world did, and what it still has to say.
#[derive(Default)]
pub struct WorldLog {
    taken: BTreeSet<u64>,
    /// (command name, ship id or 0) for every command acted on.
    pub acted: Vec<(&'static str, i64)>,
    pending: VecDeque<FulfilmentEvent>,
}

/// A fake world and UPS in one.
#[derive(Clone, Default)]
pub struct FakeWorld {
    /// Its log.
    pub log: Arc<Mutex<WorldLog>>,
}

impl FakeWorld {
    fn take(&self, id: u64, name: &'static str, ship: i64, answers: Vec<FulfilmentEvent>) {
        let mut log = self.log.lock().unwrap();
        if log.taken.insert(id) {
            log.acted.push((name, ship));
            log.pending.extend(answers);
        }
    }

    /// The next answer, left in place until [`FakeWorld::processed`].
    fn peek(&self) -> Option<FulfilmentEvent> {
        self.log.lock().unwrap().pending.front().cloned()
    }

    fn processed(&self) {
        self.log.lock().unwrap().pending.pop_front();
    }
}

#[async_trait]
impl Warehouse for FakeWorld {
    async fn submit(&self, id: u64, command: WarehouseCommand) -> Result<(), PortError> {
        match command {
            WarehouseCommand::Purchase { warehouse, items } => self.take(
                id,
                "buy",
                0,
                vec![FulfilmentEvent::Arrived {
                    warehouse,
                    items: items.iter().map(|i| (i.product, i.count)).collect(),
                }],
            ),
            WarehouseCommand::Pack { ship_id, .. } => self.take(
                id,
                "pack",
                ship_id.get(),
                vec![FulfilmentEvent::Packed { ship_id }],
            ),
            WarehouseCommand::Load { ship_id, .. } => self.take(
                id,
                "load",
                ship_id.get(),
                vec![FulfilmentEvent::Loaded { ship_id }],
            ),
        }
        Ok(())
    }

    async fn query(&self, _ship_id: ShipId) -> Result<String, PortError> {
        Ok("unknown".into())
    }
}

#[async_trait]
impl Shipping for FakeWorld {
    async fn submit(&self, id: u64, command: ShippingCommand) -> Result<(), PortError> {
        match command {
            ShippingCommand::RequestTruck {
                ship_id,
                destination,
                ..
            } => self.take(
                id,
                "truck",
                ship_id.get(),
                vec![
                    FulfilmentEvent::TruckArrived {
                        ship_id,
                        truck: TruckId::new(1).unwrap(),
                    },
                    FulfilmentEvent::FinalDestination {
                        ship_id,
                        location: destination,
                    },
                ],
            ),
            ShippingCommand::Deliver { ship_id } => self.take(
                id,
                "deliver",
                ship_id.get(),
                vec![FulfilmentEvent::Delivered { ship_id }],
            ),
        }
        Ok(())
    }
}

/// The running part of a shop: the assembled shop's outbox, and the test's own pump of world
/// answers into its driver.
struct Running<S: Store + ?Sized> {
    shop: RunningShop<S>,
    pump: tokio::task::JoinHandle<()>,
}

impl<S: Store + ?Sized + 'static> Running<S> {
    /// Starts the outbox over the fake world (resuming what a previous life left) and the pump.
    async fn start(shop: AssembledShop<S>, world: FakeWorld) -> Self {
        let shop = shop
            .start(Arc::new(world.clone()), Arc::new(world.clone()))
            .await
            .expect("start the shop");
        let driver = shop.driver().clone();
        let pump = tokio::spawn(async move {
            loop {
                match world.peek() {
                    Some(event) => {
                        if driver.handle(event, None).await.is_ok() {
                            world.processed();
                        }
                    }
                    None => tokio::time::sleep(Duration::from_millis(2)).await,
                }
            }
        });
        Self { shop, pump }
    }

    /// Stops everything at whatever await point it is at: a crash, as far as the store sees.
    async fn crash(self) {
        self.pump.abort();
        self.shop.abort().await;
        let _ = self.pump.await;
    }
}

/// A shop over `store` with `warehouse` and `gateway`, assembled but not started.
async fn assemble<S: Store + ?Sized + 'static>(
    store: &Arc<S>,
    warehouse: WarehouseSite,
    gateway: &Arc<SimulatedGateway>,
) -> AssembledShop<S> {
    ShopBuilder::new(store.clone())
        .warehouses([warehouse])
        .payments(gateway.clone())
        .outbox_retry(Duration::from_millis(20))
        .build()
        .await
        .expect("assemble the shop")
}

const ORDERS: i64 = 30;

/// Runs the scenario on a store opened by `open` (twice, on the same data).
pub async fn crash_resume<S, F, Fut>(open: F)
where
    S: Store + ?Sized + 'static,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Arc<S>>,
{
    let world = FakeWorld::default();
    let gateway = Arc::new(SimulatedGateway::new());
    let warehouse = WarehouseSite {
        id: WarehouseId::new(1).unwrap(),
        location: Location::new(10, 10),
    };
    let usd = Currency::USD;

    // First life: a catalog, stock on its way, and ORDERS orders.
    let store = open().await;
    let assembled = assemble(&store, warehouse, &gateway).await;
    let shop = assembled.shop().clone();
    let seller = store
        .create_user(NewUser {
            email: Email::parse("seller@example.com").unwrap(),
            name: PersonName::parse("Seller").unwrap(),
            roles: Roles::new(false, true).unwrap(),
            password: PasswordHash::create(&Password::new("correct horse").unwrap()),
            created: Timestamp(0),
        })
        .await
        .unwrap();
    let product = store
        .create_product(NewProduct {
            seller: seller.id,
            name: ProductName::parse("Mug").unwrap(),
            description: Description::parse("A mug").unwrap(),
            category: Category::parse("kitchen").unwrap(),
            price: Money::from_minor(500, usd).unwrap(),
            weight: Weight::grams(300).unwrap(),
            images: vec![],
        })
        .await
        .unwrap();
    shop.restock(
        seller.id,
        product.id,
        warehouse.id,
        Quantity::new(ORDERS * 2).unwrap(),
    )
    .await
    .unwrap();
    let card = gateway
        .tokenize(&CardNumber::parse("4242424242424242").unwrap())
        .await
        .unwrap();
    let mut order_ids = Vec::new();
    for n in 0..ORDERS {
        let customer = store
            .create_user(NewUser {
                email: Email::parse(&format!("c{n}@example.com")).unwrap(),
                name: PersonName::parse("Customer").unwrap(),
                roles: Roles::new(true, false).unwrap(),
                password: seller.password.clone(),
                created: Timestamp(0),
            })
            .await
            .unwrap();
        let mut user = store.user(customer.id).await.unwrap().unwrap();
        user.payment_methods
            .push(weshop_core::domain::PaymentMethod {
                token: card.token.clone(),
                brand: card.brand,
                last4: card.last4.clone(),
            });
        store.update_user(&user).await.unwrap();
        shop.add_to_cart(customer.id, product.id, Quantity::new(2).unwrap())
            .await
            .unwrap();
        let order = shop
            .checkout(
                customer.id,
                Checkout {
                    destination: Location::new(n as i32, 50),
                    delivery: DeliveryOption::Standard,
                    payment_method: card.token.clone(),
                    ups_account: None,
                    idempotency_key: IdempotencyKey::parse(&format!("order-{n}")).unwrap(),
                    expected_total: None,
                },
            )
            .await
            .unwrap();
        order_ids.push(order.id());
    }
    // Orders wait for the stock bought above. Let fulfilment get going, then crash in the
    // middle of it.
    let running = Running::start(assembled, world.clone()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let acted = world.log.lock().unwrap().acted.len();
        if acted >= ORDERS as usize + 12 || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    running.crash().await;
    let before: BTreeMap<OrderStatus, usize> = statuses(&*store, &order_ids)
        .await
        .into_iter()
        .fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    let pending = store.outbox().await.unwrap().len();
    println!("crashed with orders {before:?} and {pending} effects in the outbox");
    assert!(
        before.get(&OrderStatus::Delivered).copied().unwrap_or(0) < ORDERS as usize,
        "the crash came too late to test anything: {before:?}"
    );
    drop(shop);
    drop(store);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Second life on the same data.
    let store = open().await;
    let running = Running::start(assemble(&store, warehouse, &gateway).await, world.clone()).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let now = statuses(&*store, &order_ids).await;
        if now.iter().all(|s| *s == OrderStatus::Delivered) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all delivered after the restart: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the last captures through, then check exactly-once everywhere.
    while !store.outbox().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "outbox not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.crash().await;
    let acted = world.log.lock().unwrap().acted.clone();
    for what in ["pack", "truck", "load", "deliver"] {
        let mut ships: Vec<i64> = acted
            .iter()
            .filter(|(n, _)| *n == what)
            .map(|(_, s)| *s)
            .collect();
        ships.sort();
        let expected: Vec<i64> = order_ids.iter().map(|o| o.get()).collect();
        assert_eq!(ships, expected, "each order's {what} exactly once");
    }
    assert_eq!(
        acted.iter().filter(|(n, _)| *n == "buy").count(),
        1,
        "one purchase"
    );
    let stock = store.stock(product.id).await.unwrap();
    let (_, at) = stock[0];
    assert_eq!(
        (at.on_hand(), at.incoming(), at.reserved()),
        (0, 0, 0),
        "every unit bought was packed once"
    );
    // Every order captured once: the total captured is the sum of the order totals.
    let mut total = 0;
    for id in &order_ids {
        total += store.order(*id).await.unwrap().unwrap().total().minor();
    }
    assert_eq!(gateway.net_captured_minor(), total);
}

async fn statuses<S: Store + ?Sized>(
    store: &S,
    ids: &[weshop_core::domain::OrderId],
) -> Vec<OrderStatus> {
    let mut out = Vec::new();
    for id in ids {
        out.push(store.order(*id).await.unwrap().unwrap().status());
    }
    out
}
