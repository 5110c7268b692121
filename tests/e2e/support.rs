//! Test helpers: a demo-like system on free ports and an HTTP client for one shopper.

use std::{path::Path, time::Duration};

use futures::StreamExt;
use serde_json::{Value, json};
use weshop::server::{
    adapters::UpsEndpoint,
    app::App,
    config::{Settings, default_warehouses},
    demo::{DEMO_CARD, app_options, seed},
    sim::{ShopEndpoint, UpsConfig, UpsServer, WorldConfig, WorldServer},
};

/// Generous guard against hangs; never a pass/fail timing.
pub const PATIENCE: Duration = Duration::from_secs(240);

/// Simspeed for tests that only need things done.
pub const FAST: u32 = 1_000_000;

/// World, UPS and shop on free ports, with the demo catalog.
pub struct System {
    pub world: WorldServer,
    pub ups: UpsServer,
    pub app: App,
    pub base: String,
}

pub fn settings(
    world: &WorldServer,
    data: &Path,
    ups_listen: std::net::SocketAddr,
    simspeed: u32,
) -> Settings {
    let (storage, storage_access) = storage_for(data);
    Settings {
        http: ([127, 0, 0, 1], 0).into(),
        storage,
        storage_access,
        world: world.amazon_addr(),
        world_id: None,
        simspeed: Some(simspeed),
        warehouses: default_warehouses(),
        ups: UpsEndpoint::Listen(ups_listen),
        resend: Duration::from_millis(100),
        ..Settings::default()
    }
}

/// Where a test's shop keeps its data: embedded on disk in `data`, or — when
/// `WESHOP_TEST_SURREAL_URL` names a SurrealDB server (CI starts one) — in a database of that
/// server named after `data`, so a shop restarted on the same `data` finds its data again.
pub fn storage_for(data: &Path) -> (String, weshop::server::config::storage::StorageAccess) {
    use weshop::server::config::storage::StorageAccess;
    use weshop::storage::{AuthLevel, Credentials};
    let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
        return (
            format!("surrealkv://{}", data.display()),
            StorageAccess::default(),
        );
    };
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| "root".into());
    let tag: String = data
        .display()
        .to_string()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let access = StorageAccess {
        credentials: Some(Credentials {
            user: var("WESHOP_TEST_SURREAL_USER"),
            password: var("WESHOP_TEST_SURREAL_PASS"),
            level: AuthLevel::Root,
        }),
        namespace: "weshop_e2e".into(),
        database: format!("p{}{tag}", std::process::id()),
    };
    (url, access)
}

pub async fn start_world(flakiness: u8) -> WorldServer {
    let any = ([127, 0, 0, 1], 0).into();
    WorldServer::bind(
        any,
        any,
        WorldConfig {
            flakiness,
            seed: 7,
            ..WorldConfig::default()
        },
    )
    .await
    .expect("world starts")
}

pub async fn start_ups(
    world: &WorldServer,
    shop: std::net::SocketAddr,
    simspeed: u32,
) -> UpsServer {
    start_ups_with(world, shop, simspeed, false).await
}

/// Like [`start_ups`]; `eager`: each truck leaves on the first `DeliverPackage` it gets, as
/// another team's UPS does.
pub async fn start_ups_with(
    world: &WorldServer,
    shop: std::net::SocketAddr,
    simspeed: u32,
    eager: bool,
) -> UpsServer {
    UpsServer::start(
        world.ups_addr(),
        ShopEndpoint::Connect(shop),
        UpsConfig {
            simspeed: Some(simspeed),
            eager_dispatch: eager,
            // The default linger: a truck that leaves before a package is loaded keeps it, and
            // the shop's truck request again brings it (or another) back.
            session: weshop::core::session::SessionConfig {
                initial_resend: Duration::from_millis(100),
                ..Default::default()
            },
            ..UpsConfig::default()
        },
    )
    .await
    .expect("ups starts")
}

impl System {
    /// Starts everything on `data` and seeds `stock` units of each product per warehouse.
    pub async fn start(data: &Path, flakiness: u8, stock: u32) -> System {
        Self::start_at(data, flakiness, stock, FAST).await
    }

    /// Like [`System::start`], with the world and UPS at `simspeed`.
    pub async fn start_at(data: &Path, flakiness: u8, stock: u32, simspeed: u32) -> System {
        Self::start_with(data, flakiness, stock, simspeed, false).await
    }

    /// Like [`System::start_at`], with an eager UPS ([`start_ups_with`]) if `eager`.
    pub async fn start_with(
        data: &Path,
        flakiness: u8,
        stock: u32,
        simspeed: u32,
        eager: bool,
    ) -> System {
        let world = start_world(flakiness).await;
        let app = App::start(
            settings(&world, data, ([127, 0, 0, 1], 0).into(), simspeed),
            // The demo's pictures, as `weshop demo` serves them.
            app_options(),
        )
        .await
        .expect("server starts");
        let ups = start_ups_with(
            &world,
            app.ups_addr().expect("listens for the UPS"),
            simspeed,
            eager,
        )
        .await;
        seed(app.shop().as_ref(), stock)
            .await
            .expect("catalog seeded");
        let base = format!("http://{}", app.http_addr());
        System {
            world,
            ups,
            app,
            base,
        }
    }

    pub async fn shutdown(self) {
        self.app.shutdown().await;
        self.ups.shutdown().await;
        self.world.shutdown().await;
    }
}

/// One shopper's HTTP client.
#[derive(Clone)]
pub struct Shopper {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub card: String,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PATIENCE)
        .pool_max_idle_per_host(4)
        .build()
        .expect("client")
}

/// Checks the status and returns the JSON body.
pub async fn expect(response: reqwest::Response, status: u16) -> Value {
    let got = response.status().as_u16();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Registers `email` with `role` (`customer` or `seller`) and logs in; returns the token.
pub async fn register_and_log_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    role: &str,
) -> String {
    let password = "correct horse battery";
    expect(
        http.post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password, "name": "Test Shopper", "roles": [role]}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let login = expect(
        http.post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    login["token"].as_str().expect("token").to_string()
}

impl Shopper {
    /// Registers a customer, logs in and saves the demo card.
    pub async fn register(http: &reqwest::Client, base: &str, email: &str) -> Shopper {
        let token = register_and_log_in(http, base, email, "customer").await;
        let mut shopper = Shopper {
            http: http.clone(),
            base: base.to_string(),
            token,
            card: String::new(),
        };
        let card = expect(
            shopper
                .post("/api/v1/me/payment-methods")
                .json(&json!({"card_number": DEMO_CARD}))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        shopper.card = card[0]["token"].as_str().expect("card token").to_string();
        shopper
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// Finds a product by search text; returns its id.
    pub async fn find(&self, text: &str) -> i64 {
        let page = self.search(text).await;
        page["items"][0]["id"].as_i64().expect("a product found")
    }

    /// The first page of a search for `text`.
    pub async fn search(&self, text: &str) -> Value {
        expect(
            self.get("/api/v1/products")
                .query(&[("q", text)])
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    }

    pub async fn add_to_cart(&self, product: i64, quantity: u32) {
        let response = self
            .post("/api/v1/cart/items")
            .json(&json!({"product_id": product, "quantity": quantity}))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{:?}",
            response.text().await
        );
    }

    /// Checks out with `key`; returns the order.
    pub async fn checkout(&self, key: &str) -> Value {
        let response = self
            .post("/api/v1/orders")
            .header("Idempotency-Key", key)
            .json(&json!({
                "destination": {"x": 40, "y": 45},
                "delivery": "standard",
                "payment_method": self.card,
            }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = expect(response, status).await;
        assert!(status == 201 || status == 200, "checkout: {status} {body}");
        body
    }

    pub async fn order(&self, id: i64) -> Value {
        expect(
            self.get(&format!("/api/v1/orders/{id}"))
                .send()
                .await
                .unwrap(),
            200,
        )
        .await
    }

    /// Follows the order's event stream to its end; returns the statuses seen, in order.
    pub async fn follow(&self, id: i64) -> Vec<String> {
        let response = self
            .get(&format!("/api/v1/orders/{id}/events"))
            .header("Accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let mut statuses: Vec<String> = Vec::new();
        while let Some(chunk) = stream.next().await {
            buffer.push_str(&String::from_utf8_lossy(&chunk.expect("stream chunk")));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        let order: Value = serde_json::from_str(data.trim()).expect("event JSON");
                        let status = order["status"].as_str().expect("status").to_string();
                        if statuses.last() != Some(&status) {
                            statuses.push(status);
                        }
                    }
                }
            }
        }
        statuses
    }
}

/// Polls until every order is in a terminal status; returns them.
pub async fn settle(shopper: &Shopper, ids: &[i64]) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let mut orders = Vec::new();
        for id in ids {
            orders.push(shopper.order(*id).await);
        }
        let done = orders.iter().all(|o| {
            matches!(
                o["status"].as_str(),
                Some("delivered" | "cancelled" | "failed")
            )
        });
        if done {
            return orders;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "orders not settled: {:?}",
            orders
                .iter()
                .map(|o| o["status"].clone())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits (a guard, not a timing) until `app`'s gateway has captured `charged` in all, and
/// returns what it captured: a capture is an outbox effect performed after the `delivered`
/// status is committed, so it may come a moment after the order reads delivered (more so on a
/// database server).
pub async fn captured(app: &App, charged: i64) -> i64 {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let net = app.gateway().ledger().net_captured_minor();
        if net >= charged || tokio::time::Instant::now() >= deadline {
            return net;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many `delivered` entries an order's history holds.
pub fn deliveries(order: &Value) -> usize {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|e| e["status"].as_str() == Some("delivered"))
        .count()
}

/// The orders' statuses now.
pub async fn statuses(shopper: &Shopper, ids: &[i64]) -> Vec<String> {
    let mut statuses = Vec::new();
    for id in ids {
        statuses.push(
            shopper.order(*id).await["status"]
                .as_str()
                .unwrap_or("?")
                .to_string(),
        );
    }
    statuses
}
