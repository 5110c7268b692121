//! End-to-end order benchmark over HTTP: `weshop demo`'s setup (simulated world and UPS at
//! maximum simspeed, embedded SurrealDB on disk), CLIENTS concurrent customers each placing
//! ORDERS orders through `POST /api/v1/orders`. Prints the checkout latency percentiles, the
//! end-to-end rate (orders placed *and delivered* per second) and where the time went inside
//! the shop, stage by stage (checkout, its commit, the driver's commits, event batches, the
//! outbox passes), and how far the mail the orders made lagged behind them.
//!
//! `cargo bench --bench orders -- [CLIENTS] [ORDERS_PER_CLIENT] [surrealkv|memkv|mem|memory]`
//! (default 100 × 5 on surrealkv: SurrealDB on disk with a sync per commit; `memkv` is the
//! durable memory store, `memory+surrealkv://`, every write synced to surrealkv before it
//! returns; `mem` is SurrealDB in memory, `memory` the in-memory `MemoryStore`, to show what
//! storage costs).
//! It runs with the binary's allocator and log subscriber (its log on stderr, `RUST_LOG`).
//! With `--queries` (SurrealDB stores) it also sums the store's queries by kind: how many ran
//! per order and how long they took, the attribution a CPU profile cannot give (the engine runs
//! each query in a task of its own).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use weshop::core::domain::OrderStatus;
use weshop::server::demo::{DEMO_CARD, Demo, DemoOptions};
use weshop::server::watchdog;

/// The allocator the `weshop` binary uses, so the figures are the server's (glibc's malloc
/// and free were 17% of this bench's samples on surrealkv).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{status}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

struct Customer {
    http: reqwest::Client,
    base: String,
    token: String,
    card: String,
}

impl Customer {
    async fn new(base: &str, i: usize) -> Customer {
        let http = reqwest::Client::new();
        let email = format!("bench{i}@example.com");
        let password = "benchmark password";
        ok(http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": password, "name": "Bench", "roles": ["customer"]}))
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
            .json(&json!({"card_number": DEMO_CARD}))
            .send()
            .await
            .unwrap())
        .await;
        Customer {
            http,
            base: base.to_string(),
            token,
            card: card[0]["token"].as_str().unwrap().to_string(),
        }
    }

    /// Fills the cart and checks out; returns the order id and the checkout latency.
    async fn order(&self, key: &str, product: i64) -> (i64, Duration) {
        ok(self
            .http
            .post(format!("{}/api/v1/cart/items", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"product_id": product, "quantity": 1}))
            .send()
            .await
            .unwrap())
        .await;
        let started = Instant::now();
        let order = ok(self
            .http
            .post(format!("{}/api/v1/orders", self.base))
            .bearer_auth(&self.token)
            .header("Idempotency-Key", key)
            .json(&json!({"destination": {"x": 30, "y": 30}, "delivery": "standard", "payment_method": self.card}))
            .send()
            .await
            .unwrap())
        .await;
        (order["id"].as_i64().expect("order id"), started.elapsed())
    }

    async fn undelivered(&self) -> usize {
        let orders = ok(self
            .http
            .get(format!("{}/api/v1/orders", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap())
        .await;
        orders
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["status"] != "delivered")
            .count()
    }
}

/// Queries summed by kind from the store's timing events: count, total and longest time.
#[derive(Default)]
struct QueryTimes(Mutex<HashMap<String, (u64, Duration, Duration)>>);

impl QueryTimes {
    /// Installs the server's log output plus this sum as the global subscriber.
    fn install() -> Arc<QueryTimes> {
        use tracing_subscriber::{Layer, filter, layer::SubscriberExt, util::SubscriberInitExt};
        let times = Arc::new(QueryTimes::default());
        let queries = filter::Targets::new().with_target(
            weshop::storage::surreal::QUERY_TIMING_TARGET,
            tracing::Level::DEBUG,
        );
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_filter(weshop::server::cli::log_filter()),
            )
            .with(QueryLayer(times.clone()).with_filter(queries))
            .init();
        times
    }

    /// Forgets what was summed so far (the customers' registration), so the figures are
    /// the orders'.
    fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The kinds that took longest in all, with their counts per order.
    fn print(&self, orders: usize) {
        let times = self.0.lock().unwrap();
        let mut kinds: Vec<_> = times.iter().collect();
        kinds.sort_by_key(|(_, (_, total, _))| std::cmp::Reverse(*total));
        let all: Duration = kinds.iter().map(|(_, (_, t, _))| *t).sum();
        println!(
            "store queries: {} in {:.2} s (wall time summed over concurrent queries), by kind:",
            kinds.iter().map(|(_, (n, _, _))| n).sum::<u64>(),
            all.as_secs_f64()
        );
        println!(
            "  {:>7} {:>9} {:>8} {:>9} {:>8}  first statement",
            "total s", "per order", "count", "mean ms", "max ms"
        );
        for (kind, (count, total, max)) in kinds.iter().take(30) {
            println!(
                "  {:>7.2} {:>9.2} {:>8} {:>9.2} {:>8.1}  {kind}",
                total.as_secs_f64(),
                *count as f64 / orders as f64,
                count,
                total.as_secs_f64() * 1e3 / *count as f64,
                max.as_secs_f64() * 1e3,
            );
        }
    }
}

/// The layer that feeds a [`QueryTimes`].
struct QueryLayer(Arc<QueryTimes>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for QueryLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Fields(String, u64);
        impl tracing::field::Visit for Fields {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "kind" {
                    self.0 = value.to_string();
                }
            }
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "micros" {
                    self.1 = value;
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let took = Duration::from_micros(fields.1);
        let mut times = self.0.0.lock().unwrap();
        let entry = times.entry(fields.0).or_default();
        entry.0 += 1;
        entry.1 += took;
        entry.2 = entry.2.max(took);
    }
}

/// When each order was first seen in each status, from the shop's order updates.
type Milestones = HashMap<i64, HashMap<OrderStatus, Instant>>;

/// Drains the shop's order updates until `total` orders are delivered: when the last was,
/// and when each order reached each status; `None` when updates were missed (the channel
/// overflowed), so the caller must ask the API instead.
async fn watch_deliveries(
    mut updates: tokio::sync::broadcast::Receiver<weshop::core::shop::OrderUpdate>,
    total: usize,
) -> Option<(Instant, Milestones)> {
    let mut delivered = HashSet::new();
    let mut seen = Milestones::new();
    while delivered.len() < total {
        match updates.recv().await {
            Ok(update) => {
                let (id, status) = (update.order.id().get(), update.order.status());
                seen.entry(id)
                    .or_default()
                    .entry(status)
                    .or_insert_with(Instant::now);
                if status == OrderStatus::Delivered {
                    delivered.insert(id);
                }
            }
            Err(RecvError::Lagged(_)) => return None,
            Err(RecvError::Closed) => panic!("the shop stopped"),
        }
    }
    Some((Instant::now(), seen))
}

/// How long orders took from placed to each later status, and when the deliveries came: the
/// end-to-end rate is the placing phase plus the tail of fulfilment behind its last order.
fn print_milestones(seen: &Milestones, started: Instant) {
    println!("fulfilment, from an order's first update (placed) to each status:");
    for status in OrderStatus::ALL {
        let mut took: Vec<Duration> = seen
            .values()
            .filter_map(|at| {
                let first = at.values().min()?;
                Some(at.get(&status)?.duration_since(*first))
            })
            .collect();
        if took.is_empty() || status == OrderStatus::Placed {
            continue;
        }
        took.sort();
        println!(
            "  {:<16} {:>5} × p50 {:>7.1} ms  p90 {:>7.1} ms  max {:>7.1} ms",
            format!("{status:?}"),
            took.len(),
            percentile(&took, 0.5).as_secs_f64() * 1e3,
            percentile(&took, 0.9).as_secs_f64() * 1e3,
            took[took.len() - 1].as_secs_f64() * 1e3,
        );
    }
    let mut deliveries: Vec<Duration> = seen
        .values()
        .filter_map(|at| Some(at.get(&OrderStatus::Delivered)?.duration_since(started)))
        .collect();
    deliveries.sort();
    if !deliveries.is_empty() {
        let at = |p| format!("{:.2}", percentile(&deliveries, p).as_secs_f64());
        println!(
            "  deliveries after start (s): 10% {}, 50% {}, 90% {}, all {}",
            at(0.1),
            at(0.5),
            at(0.9),
            at(1.0)
        );
    }
}

/// This process's user and system CPU time so far (Linux: `/proc/self/stat`), or `None`.
/// Per order it is a steadier figure than the rates: on this shared 2-core machine the rates
/// of back-to-back runs differ by a fifth.
fn cpu_time() -> Option<(Duration, Duration)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
    let time = |i: usize| ticks(i).map(|t| Duration::from_millis(t.saturating_mul(10)));
    Some((time(11)?, time(12)?))
}

/// How long this machine takes, now, for a fixed piece of work like the store's (allocating,
/// ordered maps, copying, formatting), at best of five: the VM's speed drifts by a fifth and
/// more between runs minutes apart, so CPU per order is also given in these units. They take
/// out part of that drift, not all (six runs: 1.50-1.94 ms raw, 0.074-0.088 units); to compare
/// two builds, interleave their runs.
fn calibration() -> Duration {
    (0..5)
        .map(|_| {
            let started = Instant::now();
            let mut map = std::collections::BTreeMap::new();
            let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..100_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                map.insert(x, format!("{i:08x}-{x:016x}").into_bytes());
            }
            let copied: Vec<Vec<u8>> = map.values().cloned().collect();
            std::hint::black_box((map, copied));
            started.elapsed()
        })
        .min()
        .unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let clients = args.first().copied().unwrap_or(100);
    let per_client = args.get(1).copied().unwrap_or(5);
    // The durable memory store's directory, removed when the run ends.
    let scratch = tempfile::tempdir().unwrap();
    let storage = std::env::args().skip(1).find_map(|a| match a.as_str() {
        "surrealkv" => Some(None),
        "memkv" => Some(Some(format!(
            "memory+surrealkv://{}",
            scratch.path().join("db").display()
        ))),
        "mem" => Some(Some("mem://".to_string())),
        "memory" => Some(Some("memory://".to_string())),
        _ => None,
    });
    let storage = storage.flatten();
    // The server's log subscriber, as `weshop demo` installs it. Without any, the `log`
    // feature of `tracing` (which a dependency turns on) makes every disabled span format its
    // fields for `log`: SurrealDB's trace spans then printed each key and key range it touched
    // (6% of this bench's samples), work the server never does.
    let queries = std::env::args()
        .any(|a| a == "--queries")
        .then(QueryTimes::install);
    weshop::server::cli::init_logging();
    println!(
        "storage: {}",
        storage.as_deref().unwrap_or("surrealkv (on disk)")
    );
    let unit_before = calibration();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let cpu = runtime.block_on(async move {
        let demo = Demo::start(DemoOptions {
            port: 0,
            stock_per_warehouse: u32::try_from(clients * per_client).unwrap().max(10),
            storage,
            ..DemoOptions::default()
        })
        .await
        .expect("demo starts");
        // A run that meets surrealkv 0.21.4's lock-order deadlock (see `watchdog`) ends, saying
        // so, instead of hanging.
        let _watchdog = watchdog::exit_when_wedged(demo.app.store(), Duration::from_secs(60));
        let base = format!("http://{}", demo.app.http_addr());
        let catalog = ok(reqwest::get(format!("{base}/api/v1/products?per_page=100"))
            .await
            .unwrap())
        .await;
        let products: Vec<i64> = catalog["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        let customers = join_all((0..clients).map(|i| Customer::new(&base, i))).await;
        println!("{clients} customers registered; placing {per_client} orders each");

        // Deliveries are watched in process: polling 100 customers' orders over HTTP every
        // 50 ms was 13% of the CPU while the shop fulfilled (HTTP and order reads), load the
        // measured system would not otherwise have. A task drains the updates from the first
        // order on: left unread while the customers ordered, they overflowed the channel (500
        // orders make thousands of updates), and the lost deliveries were then found by a
        // poll after 500 ms of quiet, time the shop had not spent.
        let total = clients * per_client;
        let watcher = tokio::spawn(watch_deliveries(demo.app.shop().order_updates(), total));
        if let Some(queries) = &queries {
            queries.clear();
        }
        let started = Instant::now();
        let cpu_before = cpu_time();
        let latencies = join_all(customers.iter().enumerate().map(|(i, c)| {
            let products = &products;
            async move {
                let mut latencies = Vec::new();
                for n in 0..per_client {
                    let product = products[(i * 7 + n) % products.len()];
                    latencies.push(c.order(&format!("bench-{i}-{n}"), product).await.1);
                }
                latencies
            }
        }))
        .await;
        let placed = started.elapsed();
        let mut latencies: Vec<Duration> = latencies.into_iter().flatten().collect();
        latencies.sort();
        assert_eq!(latencies.len(), total);
        let mut milestones = None;
        let delivered = match watcher.await.expect("the watcher runs") {
            Some((last, seen)) => {
                milestones = Some(seen);
                last - started
            }
            None => {
                // The watcher fell behind anyway: the API says when nothing is left, to
                // within its polling period.
                println!("order updates lagged: polling the API every 100 ms for what is left");
                loop {
                    let left: usize = join_all(customers.iter().map(Customer::undelivered))
                        .await
                        .into_iter()
                        .sum();
                    if left == 0 {
                        break started.elapsed();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let cpu = cpu_time()
            .zip(cpu_before)
            .map(|((user, system), (user0, system0))| (user - user0, system - system0));
        // The mails the orders made (placed, packed, shipped, delivered, …) keep arriving after
        // the last delivery while the mailer catches up: how many were in by then, and when the
        // last one came (looked at every 100 ms until the count stays put for a second).
        let mailed_by_delivery = demo.mail.count();
        let (mut mailed, mut last_mail) = (mailed_by_delivery, delivered);
        let mut quiet = Instant::now();
        while quiet.elapsed() < Duration::from_secs(1) {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = demo.mail.count();
            if now != mailed {
                (mailed, last_mail, quiet) = (now, started.elapsed(), Instant::now());
            }
        }
        println!("per stage, inside the shop (HTTP is the checkout figure below minus checkout):");
        for (stage, summary) in demo.app.stage_times().summaries() {
            println!("  {stage:<16} {summary}");
        }
        println!(
            "POST /api/v1/orders under {clients} concurrent clients ({total} orders): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&latencies, 0.90).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies[total - 1].as_secs_f64() * 1e3,
        );
        println!(
            "placed {total} orders in {:.2} s ({:.1} orders/s); all delivered after {:.2} s: {:.1} orders/s end to end",
            placed.as_secs_f64(),
            total as f64 / placed.as_secs_f64(),
            delivered.as_secs_f64(),
            total as f64 / delivered.as_secs_f64(),
        );
        if let Some((user, system)) = cpu {
            println!(
                "CPU from the first order to the last delivery (the whole process: shop, simulated world and UPS, clients): {:.2} ms user + {:.2} ms system per order",
                user.as_secs_f64() * 1e3 / total as f64,
                system.as_secs_f64() * 1e3 / total as f64,
            );
        }
        println!(
            "mail: {mailed_by_delivery} of {mailed} mails (welcomes included) in the SMTP catcher at the last delivery; the last by {:.1} s",
            last_mail.as_secs_f64(),
        );
        if let Some(seen) = &milestones {
            print_milestones(seen, started);
        }
        if let Some(queries) = &queries {
            queries.print(total);
        }
        demo.shutdown().await;
        cpu
    });
    drop(runtime);
    let unit = (unit_before + calibration()) / 2;
    if let Some((user, system)) = cpu {
        let total = (clients * per_client) as f64;
        println!(
            "calibration unit (fixed work, before and after): {:.2} ms; CPU per order: {:.3} units",
            unit.as_secs_f64() * 1e3,
            (user + system).as_secs_f64() / total / unit.as_secs_f64(),
        );
    }
}
