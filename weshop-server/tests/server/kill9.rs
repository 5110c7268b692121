//! Issue 15: `weshop serve` on surrealkv (and on the durable memory store), as a child process, killed with SIGKILL five times
//! while customers place 500 orders over HTTP, with the world and the UPS simulators in their
//! own processes (`weshop world-sim`, `weshop ups-sim`): every order is delivered exactly once,
//! captured exactly once, and the world's stock (its report at shutdown) ends exactly where the
//! orders put it — so no package was packed twice.

use std::{
    collections::{BTreeMap, VecDeque},
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tokio::{process::Child, sync::Mutex};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{OrderStatus, ShipId},
    driver::Ports,
    durable_gateway::DurableGateway,
    fulfilment::{Effect, ShippingCommand, WarehouseCommand, ship_id_of},
    notify::InMemoryNotifier,
    ports::{PortError, Shipping, Warehouse},
};
use weshop_server::{config::default_warehouses, demo::seed};

const CUSTOMERS: usize = 10;
const ORDERS_EACH: usize = 50;
const STOCK: u32 = 600;
const KILLS: usize = 5;
const SIMSPEED: u32 = 2_000;
/// Only a guard against a hang.
const PATIENCE: Duration = Duration::from_secs(300);

pub(super) fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// The shop process and how to start it again on the same data and ports.
struct Shop {
    child: Child,
    starts: usize,
    data: std::path::PathBuf,
    http: SocketAddr,
    env: Vec<(&'static str, String)>,
}

impl Shop {
    async fn start(data: &Path, http: SocketAddr, env: Vec<(&'static str, String)>) -> Shop {
        let mut shop = Shop {
            child: spawn(data, 0, &env),
            starts: 1,
            data: data.to_path_buf(),
            http,
            env,
        };
        shop.wait_healthy().await;
        shop
    }

    /// SIGKILL (no shutdown of any kind), then the same command again.
    async fn kill_and_restart(&mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
        self.child = spawn(&self.data, self.starts, &self.env);
        self.starts += 1;
        self.wait_healthy().await;
    }

    async fn wait_healthy(&mut self) {
        let url = format!("http://{}/health", self.http);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = reqwest::get(&url).await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the shop exited: {status}; see {}", self.data.display());
            }
            assert!(Instant::now() < deadline, "the shop did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn spawn(data: &Path, start: usize, env: &[(&'static str, String)]) -> Child {
    let log = std::fs::File::create(data.join(format!("shop-{start}.log"))).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_weshop"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env(
            "RUST_LOG",
            std::env::var("WESHOP_TEST_SHOP_LOG").unwrap_or("warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("weshop serve starts")
}

/// One customer's HTTP calls, each retried until the shop (killed now and then) answers.
#[derive(Clone)]
pub(super) struct Customer {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) token: String,
    pub(super) card: String,
    /// The last calls and what came back, for a failure's message: which attempts got no
    /// answer says what the shop may have done that the customer never heard of.
    pub(super) history: Arc<std::sync::Mutex<VecDeque<String>>>,
}

/// Calls a failure's message shows.
const HISTORY: usize = 16;

impl Customer {
    pub(super) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(&self.token);
            if let Some(body) = &body {
                request = request.json(body);
            }
            if let Some(key) = key {
                request = request.header("Idempotency-Key", key);
            }
            let sent = request.send().await;
            self.remember(format!(
                "{} {method} {path} key={key:?}: {}",
                utc_now(),
                match &sent {
                    Ok(response) => response.status().as_u16().to_string(),
                    Err(error) => format!("no answer ({error})"),
                }
            ));
            if let Ok(response) = sent {
                let status = response.status().as_u16();
                if status < 500
                    && let Ok(text) = response.text().await
                {
                    return (status, serde_json::from_str(&text).unwrap_or(Value::Null));
                }
            }
            assert!(Instant::now() < deadline, "{path}: no answer");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn remember(&self, call: String) {
        let mut history = self.history.lock().unwrap();
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(call);
    }

    /// The last calls, one per line.
    pub(super) fn recent_calls(&self) -> String {
        let history = self.history.lock().unwrap();
        history.iter().map(|c| format!("\n  {c}")).collect()
    }

    /// Puts one unit of `product` in the cart unless a try that got no answer did.
    pub(super) async fn cart_one(&self, product: i64) {
        loop {
            let (_, cart) = self
                .call(reqwest::Method::GET, "/api/v1/cart", None, None)
                .await;
            let has = cart["lines"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["product_id"] == product));
            if has {
                return;
            }
            let body = json!({"product_id": product, "quantity": 1});
            let (status, answer) = self
                .call(
                    reqwest::Method::POST,
                    "/api/v1/cart/items",
                    Some(body),
                    None,
                )
                .await;
            assert!(status < 300, "add to cart: {status} {answer}");
        }
    }

    /// Checks out with `key`, again and again until answered: the same key, the same order.
    pub(super) async fn checkout(&self, key: &str) -> i64 {
        let body = json!({
            "destination": {"x": 40, "y": 45},
            "delivery": "standard",
            "payment_method": self.card,
        });
        let (status, order) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/orders",
                Some(body),
                Some(key),
            )
            .await;
        assert!(
            status == 200 || status == 201,
            "checkout {key}: {status} {order}; the customer's last calls (UTC, as in the shop's \
             logs):{}",
            self.recent_calls()
        );
        order["id"].as_i64().expect("an order id")
    }
}

pub(super) async fn register(http: &reqwest::Client, base: &str, n: usize) -> Customer {
    let email = format!("kill{n}@example.com");
    let password = "correct horse battery";
    let ok = |r: reqwest::Response| async move {
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().await.unwrap()
    };
    ok(http
        .post(format!("{base}/api/v1/auth/register"))
        .json(&json!({"email": email, "password": password, "name": "Kill", "roles": ["customer"]}))
        .send()
        .await
        .unwrap())
    .await;
    let login = ok(http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap())
    .await;
    let token = login["token"].as_str().unwrap().to_string();
    let card = ok(http
        .post(format!("{base}/api/v1/me/payment-methods"))
        .bearer_auth(&token)
        .json(&json!({"card_number": "4242 4242 4242 4242"}))
        .send()
        .await
        .unwrap())
    .await;
    Customer {
        http: http.clone(),
        base: base.to_string(),
        token,
        card: card[0]["token"].as_str().unwrap().to_string(),
        history: Arc::default(),
    }
}

/// The time of day in UTC (HH:MM:SS.mmm), to line a client's calls up with the shop's logs.
fn utc_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, millis) = (now.as_secs() % 86_400, now.subsec_millis());
    format!(
        "{:02}:{:02}:{:02}.{millis:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_killed_five_times_delivers_and_charges_every_order_exactly_once() {
    killed_five_times("surrealkv").await;
}

/// The same on the durable memory store, whose writes share group commits: a kill lands in
/// the middle of a batch (many checkouts' and fulfilment steps' records in one transaction
/// still being written), and still nothing is applied twice or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_on_the_durable_memory_store_killed_five_times_loses_and_repeats_nothing() {
    killed_five_times("memory+surrealkv").await;
}

async fn killed_five_times(scheme: &str) {
    // Kept when the test fails (the shop's logs and database are the evidence); removed at
    // the end of a run that passes.
    let mut data = tempfile::tempdir().unwrap();
    data.disable_cleanup(true);
    println!("logs and data in {}", data.path().display());
    let storage = format!("{scheme}://{}", data.path().join("db").display());
    let (world_amazon, world_ups) = (free_port(), free_port());
    let report = data.path().join("world-stock.txt");
    let mut world = simulator(
        data.path(),
        "world-sim",
        &[
            "--amazon-listen".into(),
            world_amazon.to_string(),
            "--ups-listen".into(),
            world_ups.to_string(),
            "--stock-report".into(),
            report.display().to_string(),
        ],
        world_amazon,
    )
    .await;

    // The catalog and its stock purchases, committed before the shop first runs.
    {
        let store = weshop_storage::open(&storage).await.unwrap();
        let built = ShopBuilder::new(store.clone())
            .warehouses(default_warehouses())
            .build()
            .await
            .unwrap();
        seed(built.shop().as_ref(), STOCK).await.unwrap();
        store.close().await.unwrap();
    }

    let (http_addr, ups_addr) = (free_port(), free_port());
    let env = vec![
        ("WESHOP_HTTP", http_addr.to_string()),
        ("WESHOP_STORAGE", storage.clone()),
        ("WESHOP_WORLD", world_amazon.to_string()),
        ("WESHOP_SIMSPEED", SIMSPEED.to_string()),
        ("WESHOP_UPS_LISTEN", ups_addr.to_string()),
    ];
    let shop = Arc::new(Mutex::new(Shop::start(data.path(), http_addr, env).await));
    let mut ups = simulator(
        data.path(),
        "ups-sim",
        &[
            "--world".into(),
            world_ups.to_string(),
            "--connect".into(),
            ups_addr.to_string(),
            "--simspeed".into(),
            SIMSPEED.to_string(),
        ],
        world_ups,
    )
    .await;

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let base = format!("http://{http_addr}");
    let mut customers = Vec::new();
    for n in 0..CUSTOMERS {
        customers.push(register(&http, &base, n).await);
    }
    let (_, page) = customers[0]
        .call(
            reqwest::Method::GET,
            "/api/v1/products?limit=100",
            None,
            None,
        )
        .await;
    let products: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_i64().unwrap())
        .collect();
    assert!(!products.is_empty());

    // Customers order while the shop is killed now and then.
    let mut buyers = Vec::new();
    for (c, customer) in customers.iter().cloned().enumerate() {
        let products = products.clone();
        buyers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..ORDERS_EACH {
                customer
                    .cart_one(products[(c * 3 + i) % products.len()])
                    .await;
                ids.push(customer.checkout(&format!("kill-{c}-{i}")).await);
            }
            ids
        }));
    }
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        shop.lock().await.kill_and_restart().await;
    }
    let mut ids = Vec::new();
    for buyer in buyers {
        ids.extend(buyer.await.unwrap());
    }
    assert_eq!(ids.len(), CUSTOMERS * ORDERS_EACH);

    // Wait (a guard, not a timing) until every order is delivered.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut open = 0;
        for customer in &customers {
            let (_, orders) = customer
                .call(reqwest::Method::GET, "/api/v1/orders", None, None)
                .await;
            open += orders
                .as_array()
                .unwrap()
                .iter()
                .filter(|o| o["status"] != "delivered" && o["status"] != "failed")
                .count();
        }
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} orders not delivered; logs in {}",
            data.path().display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Stop the shop the hard way once more and read what it left on disk.
    {
        let mut shop = shop.lock().await;
        assert_eq!(shop.starts, KILLS + 1);
        shop.child.start_kill().unwrap();
        let _ = shop.child.wait().await;
    }
    let store = weshop_storage::open(&storage).await.unwrap();
    let orders = store.orders_in(&[OrderStatus::Delivered]).await.unwrap();
    assert_eq!(orders.len(), ids.len(), "every order delivered");
    // The last kill may leave captures (and notices) queued behind the last deliveries: what
    // the next start performs first. A command may be left too, but only one the link took
    // before the kill (its package is delivered) and whose entry's done mark the kill cut off:
    // the next start offers it again and the link knows it by its outbox id. Nothing else.
    let gateway = Arc::new(DurableGateway::open(store.clone()).await.unwrap());
    let queued = store.outbox().await.unwrap();
    let delivered: std::collections::BTreeSet<ShipId> =
        orders.iter().map(|o| ship_id_of(o.id())).collect();
    for entry in &queued {
        let performed = match &entry.effect {
            Effect::Capture { .. } | Effect::Notify { .. } => true,
            Effect::Shipping(ShippingCommand::Deliver { ship_id }) => delivered.contains(ship_id),
            _ => false,
        };
        assert!(performed, "left in the outbox: {entry:?}");
    }
    let restarted = ShopBuilder::new(store.clone())
        .warehouses(default_warehouses())
        .payments(gateway.clone())
        .build()
        .await
        .unwrap();
    let ports = Ports {
        warehouse: Arc::new(Nowhere),
        shipping: Arc::new(AlreadyDone(delivered)),
        payments: gateway.clone(),
        notifier: Arc::new(InMemoryNotifier::new()),
    };
    restarted.driver().perform_outbox(&ports).await.unwrap();
    assert!(store.outbox().await.unwrap().is_empty());
    let ledger = gateway.ledger();
    let holds = ledger.holds();
    // A checkout killed between its authorization and its order leaves a hold its retry does
    // not reuse: the next start releases it, so no card stays held for nothing.
    let ours: std::collections::BTreeSet<&str> = orders.iter().map(|o| o.payment()).collect();
    let stray: Vec<_> = holds
        .iter()
        .filter(|(id, _)| !ours.contains(id.as_str()))
        .collect();
    for (id, hold) in &stray {
        assert_eq!(hold.authorized.minor(), 0, "hold {id} released: {hold:?}");
        assert_eq!(
            hold.captured.minor(),
            0,
            "hold {id} never captured: {hold:?}"
        );
    }
    println!(
        "{} orders, {} holds released after checkouts killed mid-way, {} effects queued at the last kill",
        orders.len(),
        stray.len(),
        queued.len()
    );
    let mut units = BTreeMap::new();
    for order in &orders {
        let delivered = order
            .history()
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    weshop_core::domain::OrderEventKind::StatusChanged {
                        to: OrderStatus::Delivered,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(delivered, 1, "order {} delivered once", order.id());
        assert_eq!(
            holds[order.payment()].captured,
            order.total(),
            "order {} captured once",
            order.id()
        );
        for line in order.lines() {
            *units
                .entry((order.warehouse().unwrap(), line.product))
                .or_insert(0i64) += i64::from(line.quantity.get());
        }
    }
    // The world stops (SIGTERM) and reports its stock.
    ups.start_kill().unwrap();
    let _ = ups.wait().await;
    let pid = world.id().expect("the world runs").to_string();
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = tokio::time::timeout(PATIENCE, world.wait())
        .await
        .expect("the world stops")
        .unwrap();
    assert!(status.success(), "world-sim: {status}");
    let world_id = store_world(&store).await;
    let stock: BTreeMap<(i32, i64), i64> = std::fs::read_to_string(&report)
        .expect("the world's stock report")
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let number = |i: usize| words.get(i).and_then(|w| w.parse::<i64>().ok());
            (number(1)? == world_id)
                .then(|| Some(((number(3)? as i32, number(5)?), number(7)?)))
                .flatten()
        })
        .collect();
    for site in default_warehouses() {
        for product in &products {
            let product = weshop_core::domain::ProductId::new(*product).unwrap();
            let sent = units.get(&(site.id, product)).copied().unwrap_or(0);
            assert_eq!(
                stock
                    .get(&(site.id.get(), product.get()))
                    .copied()
                    .unwrap_or(0),
                i64::from(STOCK) - sent,
                "product {product} at warehouse {}: packed once per order",
                site.id
            );
        }
    }
    store.close().await.unwrap();
    data.disable_cleanup(false);
}

/// `weshop NAME ARGS…` as a child process, once it accepts connections on `ready`.
pub(super) async fn simulator(
    data: &Path,
    name: &str,
    args: &[String],
    ready: SocketAddr,
) -> Child {
    let log = std::fs::File::create(data.join(format!("{name}.log"))).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_weshop"))
        .arg(name)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("WESHOP_TEST_SIM_LOG").unwrap_or("warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("the simulator starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(ready).await.is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{name} exited: {status}; see {}", data.display());
        }
        assert!(Instant::now() < deadline, "{name} did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child
}

/// No world and no UPS: after the last kill only payments and notices may be left to do.
struct Nowhere;

#[async_trait::async_trait]
impl Warehouse for Nowhere {
    async fn submit(&self, _: u64, command: WarehouseCommand) -> Result<(), PortError> {
        Err(PortError(format!("no world for {command:?}")))
    }

    async fn query(&self, _: ShipId) -> Result<String, PortError> {
        Err(PortError("no world".into()))
    }
}

#[async_trait::async_trait]
impl Shipping for Nowhere {
    async fn submit(&self, _: u64, command: ShippingCommand) -> Result<(), PortError> {
        Err(PortError(format!("no UPS for {command:?}")))
    }
}

/// A UPS that takes again only what it already did: `DeliverPackage` for delivered packages.
struct AlreadyDone(std::collections::BTreeSet<ShipId>);

#[async_trait::async_trait]
impl Shipping for AlreadyDone {
    async fn submit(&self, _: u64, command: ShippingCommand) -> Result<(), PortError> {
        match command {
            ShippingCommand::Deliver { ship_id } if self.0.contains(&ship_id) => Ok(()),
            other => Err(PortError(format!("not done before the kill: {other:?}"))),
        }
    }
}

/// The world the shop joined, from its saved world link.
async fn store_world(store: &Arc<dyn weshop_core::store::Store>) -> i64 {
    let saved = store
        .link_state("world")
        .await
        .unwrap()
        .expect("a saved world link");
    weshop_server::adapters::link::LinkState::<weshop_server::protocols::ShopToWorld>::restore(
        Default::default(),
        &saved,
    )
    .unwrap()
    .world_id()
    .expect("the world id is saved")
}
