//! Issue 17: three `weshop serve` nodes on one SurrealDB server, the world and UPS simulators
//! in their own processes. Customers place 60 orders round-robin through the three nodes (the
//! issue asks 200: on this 2-core machine 200 take over five minutes even on one node, as the
//! driver's reads grow with the orders in flight; see issue 14's closing note); the
//! fulfilment leader is killed with SIGKILL mid-run (and started again, as a supervisor
//! would: it comes back as a follower). Another node takes the lease over; every order is
//! delivered exactly once and captured exactly once. Meanwhile an order placed through node 1
//! is followed over SSE on node 3 until it is delivered, and a product listed through node 2
//! is found by a search on node 3 within 2 s. Runs when `WESHOP_TEST_SURREAL_URL` names a
//! server (CI starts one); prints the failover time, the orders per second and how long the
//! product took to be found.

use std::{
    net::SocketAddr,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::process::Child;
use weshop_core::{
    assembly::ShopBuilder,
    domain::{OrderEventKind, OrderStatus},
    durable_gateway::DurableGateway,
    lease::FULFILMENT,
    store::Store,
};
use weshop_server::{config::default_warehouses, demo::seed};
use weshop_storage::{AuthLevel, Credentials, OpenOptions, open_with};

use super::kill9::{Customer, free_port, register, simulator};

/// Nodes and orders in all: 3 and 200 (the run) unless `WESHOP_TEST_CLUSTER_NODES` /
/// `WESHOP_TEST_CLUSTER_ORDERS` say otherwise (to compare one node with three).
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
const CUSTOMERS: usize = 6;
const STOCK: u32 = 300;
const SIMSPEED: u32 = 500;
const LEASE_TTL_MS: u64 = 3_000;
/// Only a guard against a hang.
const PATIENCE: Duration = Duration::from_secs(300);

/// What the test asks of a node's supervisor.
enum Command {
    /// SIGKILL, then start it again.
    Kill,
    /// SIGKILL, for good.
    Stop,
}

/// Runs node `name` as a supervisor would (systemd's `Restart=always`): started again whenever
/// it exits — after a SIGKILL, or by itself after losing the lease — until told to stop.
/// Returns how many times it was started.
async fn supervise(
    data: std::path::PathBuf,
    name: String,
    env: Vec<(String, String)>,
    mut commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
) -> usize {
    let mut starts = 0;
    loop {
        let mut child = spawn(&data, &name, starts, &env);
        starts += 1;
        let stop = tokio::select! {
            _ = child.wait() => false,
            command = commands.recv() => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                !matches!(command, Some(Command::Kill))
            }
        };
        if stop {
            return starts;
        }
    }
}

fn spawn(data: &std::path::Path, name: &str, start: usize, env: &[(String, String)]) -> Child {
    let log = std::fs::File::create(data.join(format!("{name}-{start}.log"))).unwrap();
    tokio::process::Command::new(env!("CARGO_BIN_EXE_weshop"))
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("WESHOP_NODE", name)
        .env(
            "RUST_LOG",
            std::env::var("WESHOP_TEST_NODE_LOG").unwrap_or("warn".into()),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("weshop serve starts")
}

async fn healthy(http: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !matches!(
        reqwest::get(format!("http://{http}/health")).await,
        Ok(r) if r.status().is_success()
    ) {
        assert!(Instant::now() < deadline, "node {http} did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Who holds the fulfilment lease (node name / process nonce) and at which term, once one
/// does.
async fn leader(store: &Arc<dyn Store>) -> (String, u64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(lease) = store.lease(FULFILMENT).await.unwrap()
            && lease.until.millis() > weshop_core::domain::Timestamp::now().millis()
        {
            return (lease.holder, lease.term);
        }
        assert!(Instant::now() < deadline, "nobody leads");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Follows order `id` over SSE through `customer`'s node until the stream ends; returns the
/// statuses it streamed, each once. Like a browser's `EventSource`, it connects again when the
/// stream breaks (the node may be the leader the test kills) and goes on from there.
async fn follow(customer: Customer, id: i64) -> Vec<String> {
    let mut statuses = Vec::<String>::new();
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(
            Instant::now() < deadline,
            "order {id} never streamed to its end"
        );
        let response = customer
            .http
            .get(format!("{}/api/v1/orders/{id}/events", customer.base))
            .bearer_auth(&customer.token)
            .header("Accept", "text/event-stream")
            .timeout(PATIENCE)
            .send()
            .await;
        let Ok(response) = response.and_then(|r| r.error_for_status()) else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut stream = response.bytes_stream();
        let mut buffer = String::new();
        let ended = loop {
            match stream.next().await {
                None => break true,
                Some(Err(_)) => break false,
                Some(Ok(chunk)) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
            }
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for data in event.lines().filter_map(|l| l.strip_prefix("data:")) {
                    let order: Value = serde_json::from_str(data.trim()).expect("an order");
                    let status = order["status"].as_str().expect("a status").to_string();
                    if statuses.last() != Some(&status) {
                        statuses.push(status);
                    }
                }
            }
        };
        // A stream also ends cleanly when its node shuts down: only a terminal status ends it.
        let terminal = matches!(
            statuses.last().map(String::as_str),
            Some("delivered" | "cancelled" | "failed")
        );
        if ended && terminal {
            return statuses;
        }
    }
}

/// Registers a seller through `listing`, lists a product there, and searches for it through
/// `searching` until found; returns how long that took from the listing's answer.
async fn listed_then_found(http: &reqwest::Client, listing: &str, searching: &str) -> Duration {
    let (email, password) = ("lister@example.com", "correct horse battery");
    let roles =
        json!({"email": email, "password": password, "name": "Lister", "roles": ["seller"]});
    let response = http
        .post(format!("{listing}/api/v1/auth/register"))
        .json(&roles)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let login: Value = http
        .post(format!("{listing}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("a token");
    let product = json!({"name": "Quokka lamp", "category": "lighting", "price": "25.00", "weight_grams": 800});
    let response = http
        .post(format!("{listing}/api/v1/products"))
        .bearer_auth(token)
        .json(&product)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let listed = Instant::now();
    loop {
        let page: Value = http
            .get(format!("{searching}/api/v1/products?q=quokka"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if page["total"].as_u64() == Some(1) {
            return listed.elapsed();
        }
        assert!(
            listed.elapsed() < PATIENCE,
            "never found through {searching}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_every_order_once_when_the_leader_is_killed() {
    let Ok(url) = std::env::var("WESHOP_TEST_SURREAL_URL") else {
        eprintln!("WESHOP_TEST_SURREAL_URL not set: skipping the three-node run");
        return;
    };
    let (nodes_n, orders) = (
        setting("WESHOP_TEST_CLUSTER_NODES", 3).max(1),
        setting("WESHOP_TEST_CLUSTER_ORDERS", 200).max(CUSTOMERS + 1),
    );
    // One order is the followed one; the customers share the rest.
    let orders_of =
        move |c: usize| (orders - 1) / CUSTOMERS + usize::from(c < (orders - 1) % CUSTOMERS);
    let user = std::env::var("WESHOP_TEST_SURREAL_USER").unwrap_or_else(|_| "root".into());
    let pass = std::env::var("WESHOP_TEST_SURREAL_PASS").unwrap_or_else(|_| "root".into());
    let database = format!("cluster{}", std::process::id());
    let data = tempfile::tempdir().unwrap();
    // Kept after the test (the nodes' and simulators' logs, named in every failure).
    let data = Box::leak(Box::new(data));
    eprintln!("logs in {}", data.path().display());
    let (world_amazon, world_ups, ups_listen) = (free_port(), free_port(), free_port());
    let _world = simulator(
        data.path(),
        "world-sim",
        &[
            "--amazon-listen".into(),
            world_amazon.to_string(),
            "--ups-listen".into(),
            world_ups.to_string(),
        ],
        world_amazon,
    )
    .await;
    let _ups = simulator(
        data.path(),
        "ups-sim",
        &[
            "--world".into(),
            world_ups.to_string(),
            "--listen".into(),
            ups_listen.to_string(),
            "--simspeed".into(),
            SIMSPEED.to_string(),
        ],
        ups_listen,
    )
    .await;

    let store = open_with(
        &url,
        OpenOptions {
            namespace: "weshop_e2e".into(),
            database: database.clone(),
            credentials: Some(Credentials {
                user: user.clone(),
                password: pass.clone(),
                level: AuthLevel::Root,
            }),
            ..OpenOptions::default()
        },
    )
    .await
    .unwrap();
    let built = ShopBuilder::new(store.clone())
        .warehouses(default_warehouses())
        .build()
        .await
        .unwrap();
    seed(built.shop().as_ref(), STOCK).await.unwrap();
    drop(built);

    let env: Vec<(String, String)> = [
        ("WESHOP_STORAGE", url.clone()),
        ("WESHOP_STORAGE_USER", user),
        ("WESHOP_STORAGE_PASSWORD", pass),
        ("WESHOP_STORAGE_AUTH", "root".into()),
        ("WESHOP_STORAGE_NAMESPACE", "weshop_e2e".into()),
        ("WESHOP_STORAGE_DATABASE", database),
        ("WESHOP_WORLD", world_amazon.to_string()),
        ("WESHOP_SIMSPEED", SIMSPEED.to_string()),
        ("WESHOP_UPS_CONNECT", ups_listen.to_string()),
        ("WESHOP_LEASE_TTL_MS", LEASE_TTL_MS.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (mut nodes, mut bases, mut addresses) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..nodes_n {
        let http = free_port();
        let mut env = env.clone();
        env.push(("WESHOP_HTTP".into(), http.to_string()));
        let (commands, received) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(supervise(
            data.path().to_path_buf(),
            format!("n{n}"),
            env,
            received,
        ));
        nodes.push((commands, task));
        bases.push(format!("http://{http}"));
        addresses.push(http);
    }
    for http in &addresses {
        healthy(*http).await;
    }

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut customers = Vec::new();
    for n in 0..CUSTOMERS {
        customers.push(register(&http, &bases[n % nodes_n], n).await);
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

    // An order placed through node 1, followed over SSE on node 3 while the run goes on.
    let followed = Customer {
        base: bases[0].clone(),
        ..customers[0].clone()
    };
    followed.cart_one(products[0]).await;
    let followed_id = followed.checkout("cluster-followed").await;
    let follower = tokio::spawn(follow(
        Customer {
            base: bases[2 % nodes_n].clone(),
            ..customers[0].clone()
        },
        followed_id,
    ));

    let started = Instant::now();
    let mut buyers = Vec::new();
    for (c, customer) in customers.iter().cloned().enumerate() {
        let (products, bases) = (products.clone(), bases.clone());
        buyers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..orders_of(c) {
                // Round-robin over the nodes, as a load balancer would.
                let via = Customer {
                    base: bases[(c + i) % nodes_n].clone(),
                    ..customer.clone()
                };
                via.cart_one(products[(c * 3 + i) % products.len()]).await;
                ids.push(via.checkout(&format!("cluster-{c}-{i}")).await);
            }
            ids
        }));
    }

    // Under that load, a product listed through node 2 is found by a search on node 3.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let found_after = listed_then_found(&http, &bases[1 % nodes_n], &bases[2 % nodes_n]).await;
    assert!(
        found_after < Duration::from_secs(2),
        "found on node 3 {found_after:?} after it was listed on node 2"
    );

    // The leader dies mid-run; a supervisor starts it again (it comes back as a follower).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (first, term) = leader(&store).await;
    let index: usize = first
        .split('/')
        .next()
        .and_then(|name| name.trim_start_matches('n').parse().ok())
        .unwrap();
    nodes[index].0.send(Command::Kill).unwrap();
    let killed_at = Instant::now();
    let (second, new_term) = loop {
        // The killed node comes back too, as a follower; wait for another's term.
        let (name, t) = leader(&store).await;
        if t > term {
            break (name, t);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let failover = killed_at.elapsed();
    assert_ne!(second, first, "another process took over");
    assert!(new_term > term);

    let mut ids = vec![followed_id];
    for buyer in buyers {
        ids.extend(buyer.await.unwrap());
    }
    assert_eq!(ids.len(), orders);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let delivered = store
            .orders_in(&[OrderStatus::Delivered])
            .await
            .unwrap()
            .len();
        if delivered == ids.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {} orders delivered; logs in {}",
            ids.len(),
            data.path().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed();
    let statuses = tokio::time::timeout(PATIENCE, follower)
        .await
        .expect("node 3's event stream ends")
        .unwrap();
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("delivered"),
        "node 3 streamed {statuses:?}"
    );

    // Exactly once: each order's history holds one delivery, and the payment journal (one
    // provider for every node) captured each order's total once — waiting (a guard) for the
    // last captures, which follow the deliveries.
    let orders = store.orders_in(&[OrderStatus::Delivered]).await.unwrap();
    for order in &orders {
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
        assert_eq!(deliveries, 1, "order {} delivered once", order.id());
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let gateway = DurableGateway::open(store.clone()).await.unwrap();
        let holds = gateway.ledger().holds();
        let short: Vec<_> = orders
            .iter()
            .filter(|o| holds[o.payment()].captured != o.total())
            .map(|o| o.id())
            .collect();
        if short.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orders not captured exactly once: {short:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{nodes_n} node(s): {} orders delivered in {:.1} s ({:.1} orders/s); leader {first} killed, \
         {second} took over in {} ms (lease {LEASE_TTL_MS} ms); a product listed on node 2 \
         was found on node 3 after {} ms; node 3 streamed {statuses:?}",
        orders.len(),
        elapsed.as_secs_f64(),
        orders.len() as f64 / elapsed.as_secs_f64(),
        failover.as_millis(),
        found_after.as_millis()
    );
    let mut starts = Vec::new();
    for (commands, task) in nodes {
        commands.send(Command::Stop).unwrap();
        starts.push(task.await.unwrap());
    }
    println!("starts of each node (1 + restarts after the kill or a lost lease): {starts:?}");
    store.close().await.unwrap();
}
