//! Two nodes on one store: one leads fulfilment (the lease), both take orders; the follower
//! hears of the leader's order steps and of products listed elsewhere through the store's
//! change feed; when the leader stops, the other takes the lease over and goes on in the
//! same world.

use std::{path::Path, time::Duration};

use weshop::server::{
    adapters::UpsEndpoint,
    app::App,
    config::cluster::ClusterSettings,
    demo::{app_options, seed},
    sim::{ShopEndpoint, UpsConfig, UpsServer},
};

use serde_json::json;

use crate::support::{
    FAST, PATIENCE, Shopper, captured, client, deliveries, expect, register_and_log_in, settings,
    settle, start_world,
};

/// Waits (a guard, not a timing) until `app` leads fulfilment.
async fn leads(app: &App) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !app.leads() {
        assert!(tokio::time::Instant::now() < deadline, "never led");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Places one order of one `product` through each shopper in turn.
async fn buy(shoppers: &[&Shopper], product: i64, keys: std::ops::Range<u32>) -> Vec<i64> {
    let mut ids = Vec::new();
    for (n, key) in keys.enumerate() {
        let shopper = shoppers[n % shoppers.len()];
        shopper.add_to_cart(product, 1).await;
        let order = shopper.checkout(&format!("cluster-{key}")).await;
        ids.push(order["id"].as_i64().expect("order id"));
    }
    ids
}

/// Registers a seller through `base` and lists a product called `name` there.
async fn list_product(http: &reqwest::Client, base: &str, name: &str) {
    let email = format!("{}@example.com", name.replace(' ', "."));
    let token = register_and_log_in(http, base, &email, "seller").await;
    expect(
        http.post(format!("{base}/api/v1/products"))
            .bearer_auth(token)
            .json(&json!({"name": name, "category": "lighting", "price": "25.00", "weight_grams": 800}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_a_store_and_hand_fulfilment_over() {
    let world = start_world(0).await;
    let any = ([127, 0, 0, 1], 0).into();
    let ups = UpsServer::start(
        world.ups_addr(),
        ShopEndpoint::Listen(any),
        UpsConfig {
            simspeed: Some(FAST),
            session: weshop::core::session::SessionConfig {
                initial_resend: Duration::from_millis(100),
                ..Default::default()
            },
            ..UpsConfig::default()
        },
    )
    .await
    .expect("ups starts");
    let store = weshop::storage::open("memory://").await.unwrap();
    let node = |name: &str| {
        let mut settings = settings(&world, Path::new("unused"), any, FAST);
        settings.storage = "memory://".into();
        // The leader dials the UPS (whichever node it is).
        settings.ups = UpsEndpoint::Connect(ups.shop_addr().expect("ups listens"));
        settings.cluster = Some(ClusterSettings {
            node: name.into(),
            lease_ttl: Duration::from_millis(900),
        });
        settings
    };
    let a = App::start_with(store.clone(), node("a"), app_options())
        .await
        .expect("node a starts");
    leads(&a).await;
    let b = App::start_with(store.clone(), node("b"), app_options())
        .await
        .expect("node b starts");
    seed(a.shop().as_ref(), 20).await.expect("catalog seeded");
    assert!(!b.leads(), "one leader");

    // One customer, logged in once, orders through both nodes (sessions, carts and cards are
    // in the store); the leader fulfils every order, the follower's too.
    let http = client();
    let on_a = Shopper::register(
        &http,
        &format!("http://{}", a.http_addr()),
        "ann@example.com",
    )
    .await;
    let on_b = Shopper {
        base: format!("http://{}", b.http_addr()),
        ..on_a.clone()
    };
    let mug = on_a.find("mug").await;
    let mut ids = buy(&[&on_a, &on_b], mug, 0..6).await;
    for order in settle(&on_b, &ids).await {
        assert_eq!(order["status"], "delivered", "{order}");
        assert_eq!(deliveries(&order), 1);
    }
    let world_id = a.world_id().await;
    assert!(world_id.is_some());

    // What the leader does reaches the follower's order followers through the store's change
    // feed (B runs no fulfilment, so nothing else can tell it): an order placed through A is
    // followed on B, by the shop's updates and over SSE, until it is delivered.
    let mut on_b_updates = b.shop().order_updates();
    let followed = buy(&[&on_a], mug, 100..101).await[0];
    let statuses = tokio::time::timeout(PATIENCE, on_b.follow(followed))
        .await
        .expect("B's event stream follows A's order to its end");
    assert_eq!(
        statuses.last().map(String::as_str),
        Some("delivered"),
        "{statuses:?}"
    );
    let heard = tokio::time::timeout(PATIENCE, async {
        loop {
            let update = on_b_updates.recv().await.expect("B's updates");
            if update.order.id().get() == followed
                && update.order.status() == weshop::core::domain::OrderStatus::Delivered
            {
                return;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "B was told of the delivery A's driver made");
    ids.push(followed);

    // A product listed through B is found by a search on A (each node keeps its own index).
    let listed = tokio::time::Instant::now();
    list_product(&http, &format!("http://{}", b.http_addr()), "Quokka lamp").await;
    let deadline = listed + PATIENCE;
    while on_a.search("quokka").await["total"] == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never found on A");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "a product listed on one node was found on the other after {:?}",
        listed.elapsed()
    );

    // A stops (and gives the lease back): B leads, in the same world, and delivers what is
    // placed through it from now on.
    a.shutdown().await;
    leads(&b).await;
    assert_eq!(
        b.world_id().await,
        world_id,
        "the new leader rejoins the same world"
    );
    ids.extend(buy(&[&on_b], mug, 6..10).await);
    let mut charged = 0i64;
    for order in settle(&on_b, &ids).await {
        assert_eq!(order["status"], "delivered", "{order}");
        assert_eq!(deliveries(&order), 1, "delivered once: {order}");
        let total: f64 = order["total"].as_str().unwrap().parse().unwrap();
        charged += (total * 100.0).round() as i64;
    }
    // One provider for both nodes: B's ledger holds A's captures too, each order's once.
    assert_eq!(
        captured(&b, charged).await,
        charged,
        "each order captured once"
    );
    assert_eq!(b.gateway().ledger().authorizations(), ids.len());
    b.shutdown().await;
    ups.shutdown().await;
    world.shutdown().await;
}
