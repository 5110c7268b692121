//! Checkout throughput and latency through a shop assembled with `ShopBuilder` on a store
//! opened by URL (a SurrealDB one by default).
//!
//! `cargo bench -p weshop-storage --bench checkout -- [URL] [CLIENTS] [ORDERS_PER_CLIENT]`
//! (defaults: a fresh `surrealkv://` directory, 16 clients, 50 orders each; any URL that
//! `weshop_storage::open` takes, `memory://` too). Each client is a
//! customer who fills a cart with two products and checks out, over and over; the stock is
//! shared, so checkouts contend on the same rows as in a real sale. Prints orders per second,
//! latency percentiles of the checkout call alone, and the shop's own stage times (the whole
//! checkout, its payment hold, its commit). No HTTP, world, UPS or mail: what is left is the
//! store's share of a checkout.

use std::{sync::Arc, time::Instant};

use weshop_core::{
    assembly::ShopBuilder,
    domain::{
        CardNumber, Category, Currency, DeliveryOption, Description, Email, Location, Money,
        Password, PasswordHash, PaymentMethod, PersonName, ProductName, Quantity, Roles,
        StockDelta, Timestamp, WarehouseId, WarehouseSite, Weight,
    },
    payments::{IdempotencyKey, Payments, SimulatedGateway},
    shop::{Checkout, Shop},
    store::{NewProduct, NewUser},
};

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let dir = tempfile::tempdir().expect("temp dir");
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| format!("surrealkv://{}", dir.path().join("bench").display()));
    let clients: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(16);
    let per_client: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(50);

    let store = weshop_storage::open(&url).await.expect("open store");
    let warehouses: Vec<WarehouseSite> = (1..=3)
        .map(|i| WarehouseSite {
            id: WarehouseId::new(i).unwrap(),
            location: Location::new(i * 20, i * 10),
        })
        .collect();
    let gateway = Arc::new(SimulatedGateway::new());
    // Checkout alone is measured: the shop is assembled (warehouses registered, service and
    // driver built) but its outbox never starts.
    let assembled = ShopBuilder::new(store.clone())
        .warehouses(warehouses.clone())
        .payments(gateway.clone())
        .build()
        .await
        .expect("assemble the shop");
    let shop = assembled.shop().clone();
    // Fulfilment serves the new orders in a loop of its own, as in the server: without it
    // running, each checkout would serve its warehouse itself before returning, one at a
    // time (1,300 orders/s on memory+surrealkv at any number of clients).
    let driver = assembled.driver().clone();
    tokio::spawn(async move {
        driver
            .run_serving(std::time::Duration::from_secs(1), std::future::pending())
            .await
    });
    let hash = PasswordHash::create(&Password::new("benchmark password").unwrap());
    let seller = store
        .create_user(NewUser {
            email: Email::parse("seller@bench.example").unwrap(),
            name: PersonName::parse("Seller").unwrap(),
            roles: Roles::new(false, true).unwrap(),
            password: hash.clone(),
            created: Timestamp(0),
        })
        .await
        .unwrap();
    let mut products = Vec::new();
    for n in 0..20 {
        let product = store
            .create_product(NewProduct {
                seller: seller.id,
                name: ProductName::parse(&format!("Product {n}")).unwrap(),
                description: Description::parse("benchmark stock").unwrap(),
                category: Category::parse("bench").unwrap(),
                price: Money::from_minor(199 + n, Currency::USD).unwrap(),
                weight: Weight::grams(250).unwrap(),
                images: vec![],
            })
            .await
            .unwrap();
        for w in &warehouses {
            store
                .change_stock(&[StockDelta {
                    warehouse: w.id,
                    product: product.id,
                    on_hand: 1_000_000,
                    incoming: 0,
                    reserved: 0,
                }])
                .await
                .unwrap();
        }
        products.push(product.id);
    }
    let card = gateway
        .tokenize(&CardNumber::parse("4242424242424242").unwrap())
        .await
        .unwrap();
    let mut customers = Vec::new();
    for c in 0..clients {
        let mut user = store
            .create_user(NewUser {
                email: Email::parse(&format!("c{c}@bench.example")).unwrap(),
                name: PersonName::parse("Customer").unwrap(),
                roles: Roles::new(true, false).unwrap(),
                password: hash.clone(),
                created: Timestamp(0),
            })
            .await
            .unwrap();
        user.payment_methods.push(PaymentMethod {
            token: card.token.clone(),
            brand: card.brand,
            last4: card.last4.clone(),
        });
        store.update_user(&user).await.unwrap();
        customers.push(user.id);
    }

    println!("checkout bench: {url}, {clients} clients x {per_client} orders");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, customer) in customers.into_iter().enumerate() {
        let shop = shop.clone();
        let products = products.clone();
        let token = card.token.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let a = products[(c + n) % products.len()];
                let b = products[(c * 7 + n * 3 + 1) % products.len()];
                shop.add_to_cart(customer, a, Quantity::new(1).unwrap())
                    .await
                    .unwrap();
                shop.add_to_cart(customer, b, Quantity::new(2).unwrap())
                    .await
                    .unwrap();
                let checkout = Checkout {
                    destination: Location::new((n % 100) as i32, (c % 100) as i32),
                    delivery: DeliveryOption::Standard,
                    payment_method: token.clone(),
                    ups_account: None,
                    idempotency_key: IdempotencyKey::parse(&format!("bench-{c}-{n}")).unwrap(),
                    expected_total: None,
                };
                let t = Instant::now();
                shop.checkout(customer, checkout).await.expect("checkout");
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let orders = latencies.len();
    println!(
        "orders: {orders} in {:.2} s (cart filling included) = {:.0} orders/s",
        elapsed.as_secs_f64(),
        orders as f64 / elapsed.as_secs_f64()
    );
    println!(
        "checkout latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    println!("per stage, inside the shop:");
    for (stage, summary) in assembled.driver().stage_times().summaries() {
        println!("  {stage:<16} {summary}");
    }
    let placed = store
        .orders_in(&[
            weshop_core::domain::OrderStatus::Placed,
            weshop_core::domain::OrderStatus::Packing,
            weshop_core::domain::OrderStatus::WaitingForStock,
        ])
        .await
        .unwrap()
        .len();
    assert_eq!(placed, orders, "every checkout made exactly one order");
}
