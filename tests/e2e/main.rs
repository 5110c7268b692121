//! End-to-end: the shop over real TCP — HTTP API, world and UPS links, simulated world and UPS,
//! an embedded SurrealDB on disk.

mod browser;
mod chaos;
mod cluster;
mod mail;
mod support;

use std::time::Duration;

use futures::future::join_all;
use support::{FAST, PATIENCE, Shopper, System, client, deliveries, expect, settle};
use weshop::server::app::{App, AppOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_searches_buys_and_follows_the_order_to_delivered() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start(&data.path().join("db"), 0, 20).await;
    let http = client();
    let shopper = Shopper::register(&http, &system.base, "alice@example.com").await;

    let mug = shopper.find("mug").await;
    let product = expect(
        http.get(format!("{}/api/v1/products/{mug}", system.base))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(product["name"], "Stoneware mug");
    shopper.add_to_cart(mug, 2).await;
    let kettle = shopper.find("kettle").await;
    shopper.add_to_cart(kettle, 1).await;

    let order = shopper.checkout("alice-order-1").await;
    let id = order["id"].as_i64().expect("order id");
    assert!(order["shipping_cost"].is_string() || order["shipping_cost"].is_number());
    let again = shopper.checkout("alice-order-1").await;
    assert_eq!(again["id"].as_i64(), Some(id), "same key, same order");

    let statuses = tokio::time::timeout(PATIENCE, shopper.follow(id))
        .await
        .expect("the stream ends");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("delivered"),
        "{statuses:?}"
    );
    let order = shopper.order(id).await;
    assert_eq!(order["status"], "delivered");
    assert_eq!(deliveries(&order), 1);
    let orders = expect(shopper.get("/api/v1/orders").send().await.unwrap(), 200).await;
    assert_eq!(orders.as_array().map(Vec::len), Some(1));
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_customers_all_get_their_orders() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start(&data.path().join("db"), 0, 60).await;
    let shoppers = buy_at_once(&system, 100, "c", &["mug", "yoga", "kettle", "lamp"]).await;
    all_delivered_once(&shoppers).await;
    // Nobody sees anyone else's order.
    let (alice, _) = &shoppers[0];
    let (_, bobs) = &shoppers[1];
    let response = alice
        .get(&format!("/api/v1/orders/{bobs}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    system.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_delivered_through_a_world_that_drops_half_the_requests() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start(&data.path().join("db"), 50, 10).await;
    let http = client();
    let shopper = Shopper::register(&http, &system.base, "flaky@example.com").await;
    let mut ids = Vec::new();
    for (i, text) in ["mug", "knife", "yoga", "speaker", "candle"]
        .iter()
        .enumerate()
    {
        let product = shopper.find(text).await;
        shopper.add_to_cart(product, 1).await;
        ids.push(
            shopper.checkout(&format!("flaky-{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    for order in settle(&shopper, &ids).await {
        assert_eq!(order["status"], "delivered", "{order}");
        assert_eq!(deliveries(&order), 1);
    }
    system.shutdown().await;
}

/// A UPS like another team's: each truck leaves as soon as it is told to deliver one package,
/// so a package the shop is still loading onto it is refused by the world ("truck … is not at
/// warehouse …"). The shop asks for another truck instead of failing the order: many orders
/// from one warehouse at once, all delivered, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_sharing_trucks_with_an_eager_ups_are_all_delivered() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start_with(&data.path().join("db"), 0, 60, FAST, true).await;
    let shoppers = buy_at_once(&system, 16, "eager", &["mug"]).await;
    all_delivered_once(&shoppers).await;
    system.shutdown().await;
}

/// The world loses a warehouse's only mug without telling the shop: the shop believes it has
/// one, the world refuses to pack it, and the shop buys one again instead of failing the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_refused_for_stock_the_world_lost_is_bought_again_and_delivered() {
    let data = tempfile::tempdir().unwrap();
    let system = System::start(&data.path().join("db"), 0, 1).await;
    let http = client();
    let shopper = Shopper::register(&http, &system.base, "unlucky@example.com").await;
    let mug = shopper.find("mug").await;
    let world_id = system.app.world_id().await.expect("joined a world");
    let sites = weshop::server::config::default_warehouses();
    // The seeded unit arrives everywhere, then is lost everywhere.
    tokio::time::timeout(PATIENCE, async {
        for site in &sites {
            while system.world.stock(world_id, site.id.get(), mug).await != Some(1) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    })
    .await
    .expect("the seeded mugs arrive");
    for site in &sites {
        let lost = system.world.lose(world_id, site.id.get(), mug, 1).await;
        assert_eq!(lost, Some(1));
    }

    shopper.add_to_cart(mug, 1).await;
    let id = shopper.checkout("unlucky-1").await["id"].as_i64().unwrap();
    let order = &settle(&shopper, &[id]).await[0];
    assert_eq!(order["status"], "delivered", "{order}");
    assert_eq!(deliveries(order), 1);
    let setbacks: Vec<&str> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "setback")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    assert_eq!(setbacks.len(), 1, "{order}");
    assert!(
        setbacks[0].starts_with("The warehouse could not pack it"),
        "{setbacks:?}"
    );
    // Lost one, bought one, shipped one.
    let warehouse = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|e| e["warehouse_id"].as_i64())
        .expect("assigned") as i32;
    assert_eq!(system.world.stock(world_id, warehouse, mug).await, Some(0));
    system.shutdown().await;
}

/// `count` customers (`{prefix}{i}@example.com`) register and each buy one unit of the
/// product found by `searches[i % len]`, all at once; each with its order id.
async fn buy_at_once(
    system: &System,
    count: usize,
    prefix: &str,
    searches: &[&str],
) -> Vec<(Shopper, i64)> {
    let http = client();
    join_all((0..count).map(|i| {
        let (http, base) = (http.clone(), system.base.clone());
        async move {
            let email = format!("{prefix}{i}@example.com");
            let shopper = Shopper::register(&http, &base, &email).await;
            let product = shopper.find(searches[i % searches.len()]).await;
            shopper.add_to_cart(product, 1).await;
            let order = shopper.checkout(&format!("{prefix}-order-{i}")).await;
            (shopper, order["id"].as_i64().expect("order id"))
        }
    }))
    .await
}

/// Each shopper's order ends delivered, and was delivered once.
async fn all_delivered_once(shoppers: &[(Shopper, i64)]) {
    for (shopper, id) in shoppers {
        let orders = settle(shopper, &[*id]).await;
        assert_eq!(orders[0]["status"], "delivered", "{}", orders[0]);
        assert_eq!(deliveries(&orders[0]), 1);
    }
}

/// Slow enough that orders are in flight when the server stops.
const SLOW: u32 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restarted_on_the_same_data_delivers_every_order_exactly_once() {
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("db");
    let world = support::start_world(0).await;
    // A fixed UPS port, so the UPS (which dials the shop) finds the restarted server.
    let ups_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = App::start(
        support::settings(&world, &db, ups_port, SLOW),
        AppOptions::new(),
    )
    .await
    .expect("server starts");
    let ups = support::start_ups(&world, ups_port, SLOW).await;
    weshop::server::demo::seed(app.shop().as_ref(), 10)
        .await
        .unwrap();
    let world_id = app.world_id().await;
    let http = client();
    let base = format!("http://{}", app.http_addr());
    let shopper = Shopper::register(&http, &base, "restart@example.com").await;
    let mut ids = Vec::new();
    for (i, text) in [
        "mug", "knife", "pan", "kettle", "board", "shoes", "mat", "bottle",
    ]
    .iter()
    .enumerate()
    {
        let product = shopper.find(text).await;
        shopper.add_to_cart(product, 1).await;
        ids.push(
            shopper.checkout(&format!("restart-{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Stop mid-flow: at this simspeed packing, loading and driving take seconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = support::statuses(&shopper, &ids).await;
    assert!(
        before.iter().any(|s| s != "delivered"),
        "the restart must come mid-flow: {before:?}"
    );
    app.shutdown().await;

    let app = App::start(
        support::settings(&world, &db, ups_port, SLOW),
        AppOptions::new(),
    )
    .await
    .expect("server restarts on the same data");
    assert_eq!(app.world_id().await, world_id, "it rejoins the same world");
    let shopper = Shopper {
        base: format!("http://{}", app.http_addr()),
        ..shopper
    };
    let mut charged = 0i64;
    for order in settle(&shopper, &ids).await {
        assert_eq!(
            order["status"], "delivered",
            "{order} (before the restart: {before:?})"
        );
        assert_eq!(deliveries(&order), 1);
        let total: f64 = order["total"].as_str().unwrap().parse().unwrap();
        charged += (total * 100.0).round() as i64;
    }
    // The gateway's journal outlived the process: every order authorized before the stop was
    // captured after it, once, and the card saved before it still pays.
    assert_eq!(
        support::captured(&app, charged).await,
        charged,
        "each order captured exactly once"
    );
    assert_eq!(app.gateway().ledger().authorizations(), ids.len());
    let product = shopper.find("mug").await;
    shopper.add_to_cart(product, 1).await;
    let after = shopper.checkout("after-the-restart").await;
    assert_eq!(after["status"], "placed", "{after}");
    app.shutdown().await;
    ups.shutdown().await;
    world.shutdown().await;
}
