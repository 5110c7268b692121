//! A seeded chaos proxy for the wire protocols, and the test that runs the shop through it.
//!
//! The proxy stands between two peers that speak varint-delimited protobuf frames. It passes
//! each connection's first frame in each direction untouched (the handshake), then drops,
//! duplicates and delays whole frames — delays drawn per frame, so frames overtake one
//! another — and resets the whole connection every so often. Each connection's dice come from
//! the seed, its number and its direction.

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{mpsc, watch},
    time::Instant,
};

/// What the proxy does to frames.
#[derive(Debug, Clone, Copy)]
pub struct Chaos {
    pub seed: u64,
    /// Share of frames dropped.
    pub loss: f64,
    /// Share of frames sent twice.
    pub duplicate: f64,
    /// Longest delay of a frame.
    pub max_delay: Duration,
    /// Each connection is reset after a random time of about this (0.5–1.5 ×).
    pub reset_every: Duration,
}

/// Counters, to show the test did what it says.
#[derive(Debug, Default)]
pub struct ChaosStats {
    pub frames: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub resets: AtomicU64,
    pub connections: AtomicU64,
}

/// A running proxy.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    pub stats: Arc<ChaosStats>,
    stop: watch::Sender<bool>,
}

impl ChaosProxy {
    /// Listens on a free port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr, chaos: Chaos) -> ChaosProxy {
        Self::start_on(([127, 0, 0, 1], 0).into(), upstream, chaos).await
    }

    /// Like [`ChaosProxy::start`], on `listen`.
    pub async fn start_on(listen: SocketAddr, upstream: SocketAddr, chaos: Chaos) -> ChaosProxy {
        let listener = TcpListener::bind(listen).await.expect("proxy binds");
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(ChaosStats::default());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept(listener, upstream, chaos, stats.clone(), stopped));
        ChaosProxy { addr, stats, stop }
    }

    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    pub fn summary(&self) -> String {
        let s = &self.stats;
        format!(
            "{} connections, {} frames, {} dropped, {} duplicated, {} resets",
            s.connections.load(Ordering::Relaxed),
            s.frames.load(Ordering::Relaxed),
            s.dropped.load(Ordering::Relaxed),
            s.duplicated.load(Ordering::Relaxed),
            s.resets.load(Ordering::Relaxed)
        )
    }
}

async fn accept(
    listener: TcpListener,
    upstream: SocketAddr,
    chaos: Chaos,
    stats: Arc<ChaosStats>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut number = 0u64;
    loop {
        let client = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
        };
        number += 1;
        let Ok(server) = TcpStream::connect(upstream).await else {
            continue; // the client sees its connection close, and dials again
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(
            client,
            server,
            chaos,
            number,
            stats.clone(),
            stopped.clone(),
        ));
    }
}

/// One proxied connection, until it is reset, either side closes, or the proxy stops.
async fn connection(
    client: TcpStream,
    server: TcpStream,
    chaos: Chaos,
    number: u64,
    stats: Arc<ChaosStats>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut rng = ChaCha8Rng::seed_from_u64(chaos.seed ^ number.wrapping_mul(0x9e37_79b9));
    let life = chaos.reset_every.mul_f64(rng.random_range(0.5..1.5));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(
        client_read,
        server_write,
        chaos,
        rng.random(),
        stats.clone(),
    );
    let down = pump(
        server_read,
        client_write,
        chaos,
        rng.random(),
        stats.clone(),
    );
    tokio::select! {
        _ = tokio::time::sleep(life) => {
            stats.resets.fetch_add(1, Ordering::Relaxed);
        }
        _ = up => {}
        _ = down => {}
        _ = stopped.changed() => {}
    }
    // Dropping both halves of both sockets closes them: each peer sees the link go.
}

/// Reads frames from `from` and hands them, mistreated, to a writer into `to`.
async fn pump(
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    chaos: Chaos,
    seed: u64,
    stats: Arc<ChaosStats>,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (frames, queue) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    // Aborted when the pump is dropped (a reset), so the socket's write half goes with it.
    let mut writer = AbortOnDrop(tokio::spawn(write_in_due_order(to, queue)));
    let mut first = true;
    while let Some(frame) = read_frame(&mut from).await {
        stats.frames.fetch_add(1, Ordering::Relaxed);
        if std::mem::take(&mut first) {
            let _ = frames.send((Instant::now(), frame));
            continue;
        }
        if rng.random_bool(chaos.loss) {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let copies = if rng.random_bool(chaos.duplicate) {
            stats.duplicated.fetch_add(1, Ordering::Relaxed);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = chaos.max_delay.mul_f64(rng.random_range(0.0..1.0));
            let _ = frames.send((Instant::now() + delay, frame.clone()));
        }
    }
    drop(frames);
    let _ = (&mut writer.0).await;
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Writes each frame at its due time, earliest first (so later frames may overtake).
async fn write_in_due_order(
    mut to: OwnedWriteHalf,
    mut queue: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
) {
    let mut due: BTreeMap<(Instant, u64), Vec<u8>> = BTreeMap::new();
    let mut n = 0u64;
    let mut open = true;
    while open || !due.is_empty() {
        let next = due.keys().next().map(|(at, _)| *at);
        tokio::select! {
            frame = queue.recv(), if open => match frame {
                Some((at, frame)) => {
                    n += 1;
                    due.insert((at, n), frame);
                }
                None => open = false,
            },
            _ = sleep_until(next) => {
                let now = Instant::now();
                while let Some(entry) = due.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let frame = entry.remove();
                    if to.write_all(&frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// One whole frame (its varint length prefix included), or `None` at the end of the stream.
async fn read_frame(from: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut frame = Vec::new();
    let mut length = 0usize;
    for shift in (0..64).step_by(7) {
        let byte = from.read_u8().await.ok()?;
        frame.push(byte);
        length |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let start = frame.len();
    frame.resize(start + length, 0);
    from.read_exact(&mut frame[start..]).await.ok()?;
    Some(frame)
}

/// Issue 15: through the chaos proxy, between the shop and the world and between the shop and
/// the UPS — half the frames lost, some doubled, all delayed and reordered, every connection
/// reset every few seconds — every one of 1,000 orders is delivered exactly once and captured
/// exactly once, and the world's stock ends exactly where the orders put it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_orders_through_half_the_frames_lost_and_resets_are_each_delivered_and_charged_once()
 {
    use weshop::core::{
        domain::{
            CardNumber, DeliveryOption, Email, Location, OrderEventKind, OrderStatus, Password,
            PersonName, Quantity, Roles,
        },
        payments::IdempotencyKey,
        shop::{Checkout, Registration},
        store::ProductQuery,
    };
    use weshop::server::{
        app::{App, AppOptions},
        config::Settings,
    };

    const CUSTOMERS: usize = 10;
    const ORDERS_EACH: usize = 100;
    const STOCK: u32 = 1_000;
    let chaos = |seed| Chaos {
        seed,
        loss: 0.5,
        duplicate: 0.1,
        max_delay: Duration::from_millis(40),
        reset_every: Duration::from_secs(3),
    };
    let world = super::support::start_world(0).await;
    let to_world = ChaosProxy::start(world.amazon_addr(), chaos(15)).await;
    let app = App::start(
        Settings {
            storage: "memory://".into(),
            world: to_world.addr,
            ..super::support::settings(
                &world,
                std::path::Path::new("unused"),
                ([127, 0, 0, 1], 0).into(),
                super::support::FAST,
            )
        },
        AppOptions::new(),
    )
    .await
    .expect("server starts");
    let to_shop = ChaosProxy::start(app.ups_addr().expect("listens for the UPS"), chaos(16)).await;
    let ups = super::support::start_ups(&world, to_shop.addr, super::support::FAST).await;
    let shop = app.shop();
    weshop::server::demo::seed(shop.as_ref(), STOCK)
        .await
        .expect("catalog seeded through the proxy");
    let products: Vec<_> = shop
        .search(ProductQuery {
            limit: 100,
            ..ProductQuery::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.id)
        .collect();

    let mut tasks = Vec::new();
    for c in 0..CUSTOMERS {
        let shop = shop.clone();
        let products = products.clone();
        tasks.push(tokio::spawn(async move {
            let user = shop
                .register(Registration {
                    email: Email::parse(&format!("chaos{c}@example.com")).unwrap(),
                    password: Password::new("correct horse battery").unwrap(),
                    name: PersonName::parse("Chaos").unwrap(),
                    roles: Roles::new(true, false).unwrap(),
                })
                .await
                .unwrap();
            let card = shop
                .add_payment_method(user.id, CardNumber::parse("4242 4242 4242 4242").unwrap())
                .await
                .unwrap()
                .payment_methods[0]
                .token
                .clone();
            let mut ids = Vec::new();
            for i in 0..ORDERS_EACH {
                let product = products[(c * 7 + i) % products.len()];
                shop.add_to_cart(user.id, product, Quantity::new(1).unwrap())
                    .await
                    .unwrap();
                let order = shop
                    .checkout(
                        user.id,
                        Checkout {
                            destination: Location::new((i % 90) as i32, (c * 9) as i32),
                            delivery: DeliveryOption::Standard,
                            payment_method: card.clone(),
                            ups_account: None,
                            idempotency_key: IdempotencyKey::parse(&format!("chaos-{c}-{i}"))
                                .unwrap(),
                            expected_total: None,
                        },
                    )
                    .await
                    .unwrap();
                ids.push(order.id());
            }
            (user.id, ids)
        }));
    }
    let mut placed = Vec::new();
    for task in tasks {
        placed.push(task.await.unwrap());
    }

    // Wait (a guard, not a timing) until every order has ended.
    let deadline = std::time::Instant::now() + super::support::PATIENCE;
    let orders = loop {
        let mut orders = Vec::new();
        for (user, ids) in &placed {
            for id in ids {
                orders.push(shop.order(*user, *id).await.unwrap());
            }
        }
        if orders.iter().all(|o| o.status().is_terminal()) {
            break orders;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all ended; world proxy: {}; UPS proxy: {}; open: {:?}",
            to_world.summary(),
            to_shop.summary(),
            orders
                .iter()
                .filter(|o| !o.status().is_terminal())
                .map(|o| (o.id(), o.status()))
                .take(10)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(orders.len(), CUSTOMERS * ORDERS_EACH);
    // Captures come after the delivered status commits: wait for them before reading holds.
    let total: i64 = orders.iter().map(|o| o.total().minor()).sum();
    super::support::captured(&app, total).await;

    let holds = app.gateway().ledger().holds();
    let mut delivered_units = std::collections::BTreeMap::new();
    let mut charged = 0;
    for order in &orders {
        assert_eq!(
            order.status(),
            OrderStatus::Delivered,
            "{:?}",
            order.end_reason()
        );
        let deliveries = order
            .history()
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    OrderEventKind::StatusChanged {
                        to: OrderStatus::Delivered,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(deliveries, 1, "order {}", order.id());
        let hold = &holds[order.payment()];
        assert_eq!(
            hold.captured,
            order.total(),
            "order {} captured once",
            order.id()
        );
        charged += order.total().minor();
        for line in order.lines() {
            *delivered_units
                .entry((order.warehouse().unwrap(), line.product))
                .or_insert(0i64) += i64::from(line.quantity.get());
        }
    }
    assert_eq!(app.gateway().ledger().net_captured_minor(), charged);

    let world_id = app.world_id().await.expect("joined a world");
    for site in weshop::server::config::default_warehouses() {
        for product in &products {
            let sent = delivered_units
                .get(&(site.id, *product))
                .copied()
                .unwrap_or(0);
            assert_eq!(
                world.stock(world_id, site.id.get(), product.get()).await,
                Some(i64::from(STOCK) - sent),
                "product {product} at warehouse {}",
                site.id
            );
        }
    }
    println!(
        "world proxy: {}; UPS proxy: {}",
        to_world.summary(),
        to_shop.summary()
    );
    for proxy in [&to_world, &to_shop] {
        assert!(
            proxy.stats.dropped.load(Ordering::Relaxed) > 100,
            "{}",
            proxy.summary()
        );
        assert!(
            proxy.stats.resets.load(Ordering::Relaxed) > 0,
            "{}",
            proxy.summary()
        );
    }
    to_world.stop();
    to_shop.stop();
    app.shutdown().await;
    ups.shutdown().await;
    world.shutdown().await;
}
