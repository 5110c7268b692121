//! Catalog read-path benchmark over HTTP: loads N products through the shop, then measures the
//! API's catalog requests and the web shop's catalog pages with `wrk` (2 threads, 32 connections, on the same cores as the
//! server) and the server's resident memory before and after.
//!
//! `cargo bench --bench catalog -- [N] [STORAGE] [SECONDS]`
//! - N: products to load (default 10000);
//! - STORAGE: `surrealkv` (default, on disk in a temporary folder), `mem` or `memory`;
//! - SECONDS: how long each request is measured (default 5).
//!
//! Needs `wrk` on the PATH (Debian: `apt-get install wrk`).

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::{StreamExt, stream};
use weshop::core::{
    domain::{
        Category, Description, Email, Money, Password, PersonName, ProductName, Roles, UserId,
        Weight,
    },
    shop::{ProductDraft, Registration, Shop},
};
use weshop::server::{
    adapters::UpsEndpoint,
    app::{App, AppOptions},
    config::{Settings, default_warehouses},
    sim::{WorldConfig, WorldServer},
};

/// The allocator the `weshop` binary uses, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const COLOURS: [&str; 12] = [
    "blue", "red", "green", "black", "white", "yellow", "grey", "pink", "orange", "purple",
    "brown", "silver",
];
/// 38 nouns: about 1 product in 38 is a mug (264 of 10,000).
const NOUNS: [&str; 38] = [
    "mug",
    "kettle",
    "lamp",
    "chair",
    "table",
    "shirt",
    "sock",
    "shoe",
    "ball",
    "racket",
    "bottle",
    "plate",
    "bowl",
    "spoon",
    "fork",
    "knife",
    "pan",
    "pot",
    "towel",
    "pillow",
    "blanket",
    "clock",
    "watch",
    "phone",
    "cable",
    "charger",
    "speaker",
    "headphones",
    "camera",
    "book",
    "pen",
    "pencil",
    "notebook",
    "bag",
    "wallet",
    "belt",
    "hat",
    "scarf",
];
const CATEGORIES: [&str; 20] = [
    "kitchen",
    "home",
    "garden",
    "sports",
    "toys",
    "books",
    "music",
    "office",
    "clothing",
    "shoes",
    "beauty",
    "health",
    "electronics",
    "computers",
    "phones",
    "tools",
    "auto",
    "pets",
    "baby",
    "food",
];

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Requests/s and latency p50/p99 (ms) as wrk reports them.
struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    non_2xx: bool,
}

fn wrk(url: &str, seconds: u64) -> Figures {
    let output = Command::new("wrk")
        .args(["-t2", "-c32", &format!("-d{seconds}s"), "--latency", url])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let millis = |value: &str| -> f64 {
        let value = value.trim();
        let (number, factor) = if let Some(v) = value.strip_suffix("us") {
            (v, 1e-3)
        } else if let Some(v) = value.strip_suffix("ms") {
            (v, 1.0)
        } else if let Some(v) = value.strip_suffix('s') {
            (v, 1e3)
        } else {
            (value, 1.0)
        };
        number.parse::<f64>().unwrap_or(f64::NAN) * factor
    };
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
    };
    Figures {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN),
        p50: field("50%").map_or(f64::NAN, |v| millis(&v)),
        p99: field("99%").map_or(f64::NAN, |v| millis(&v)),
        non_2xx: text.contains("Non-2xx"),
    }
}

async fn load(shop: Arc<dyn Shop>, seller: UserId, n: usize) {
    let usd = shop.currency();
    stream::iter(0..n)
        .map(|i| {
            let shop = shop.clone();
            async move {
                let name = format!(
                    "{} {} {i}",
                    COLOURS[i % COLOURS.len()],
                    NOUNS[(i / COLOURS.len()) % NOUNS.len()]
                );
                let draft = ProductDraft {
                    name: ProductName::parse(&name).unwrap(),
                    description: Description::parse(&format!("A fine {name}, made to last."))
                        .unwrap(),
                    category: Category::parse(CATEGORIES[i % CATEGORIES.len()]).unwrap(),
                    price: Money::from_minor(100 + (i as i64 * 37) % 20_000, usd).unwrap(),
                    weight: Weight::grams(200 + (i as i64 % 50) * 10).unwrap(),
                    images: vec![],
                };
                // A task each, as each HTTP request is: a future that blocks does not hold up
                // the others.
                tokio::spawn(async move { shop.create_product(seller, draft).await })
                    .await
                    .expect("create_product ran")
                    .expect("product created");
            }
        })
        .buffer_unordered(32)
        .collect::<()>()
        .await;
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let storage = args.next().unwrap_or_else(|| "surrealkv".into());
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let data = tempfile::tempdir().unwrap();
        let url = match storage.as_str() {
            "surrealkv" => format!("surrealkv://{}", data.path().join("db").display()),
            "mem" => "mem://".to_string(),
            "memory" => "memory://".to_string(),
            other => panic!("unknown storage {other}: surrealkv, mem or memory"),
        };
        let any = ([127, 0, 0, 1], 0).into();
        let world = WorldServer::bind(any, any, WorldConfig::default())
            .await
            .expect("world starts");
        // `WESHOP_*` variables apply (e.g. WESHOP_STORAGE_CACHE_MB), as they do to `weshop serve`.
        let defaults = Settings::load(None).expect("WESHOP_* variables are valid");
        let app = App::start(
            Settings {
                http: any,
                storage: url.clone(),
                world: world.amazon_addr(),
                warehouses: default_warehouses(),
                ups: UpsEndpoint::Listen(any),
                ..defaults
            },
            AppOptions::new(),
        )
        .await
        .expect("server starts");
        let shop = app.shop();
        let seller = shop
            .register(Registration {
                email: Email::parse("bench-seller@example.com").unwrap(),
                password: Password::new("bench seller password").unwrap(),
                name: PersonName::parse("Bench Seller").unwrap(),
                roles: Roles::new(false, true).unwrap(),
            })
            .await
            .expect("seller registered");
        let started = Instant::now();
        load(shop.clone(), seller.id, n).await;
        let loaded = started.elapsed();
        let rss_loaded = rss_mb();
        println!(
            "loaded {n} products into {url} in {:.1} s ({:.0} products/s); RSS {rss_loaded:.0} MB",
            loaded.as_secs_f64(),
            n as f64 / loaded.as_secs_f64()
        );

        let site = format!("http://{}", app.http_addr());
        let base = format!("{site}/api/v1");
        let middle = n / 2;
        let requests = [
            ("q=mug", format!("{base}/products?q=mug")),
            ("q=zzz-none (no hit)", format!("{base}/products?q=zzz-none")),
            ("listing, first page", format!("{base}/products")),
            (
                "q=mug filtered, price asc",
                format!(
                    "{base}/products?q=mug&category=kitchen&min_price=10&max_price=100&sort=price_asc"
                ),
            ),
            ("q=mug in stock", format!("{base}/products?q=mug&in_stock=true")),
            ("q=kettel (a typo)", format!("{base}/products?q=kettel")),
            ("suggest q=blue ke", format!("{base}/products/suggest?q=blue%20ke")),
            ("/categories", format!("{base}/categories")),
            ("product by id", format!("{base}/products/{middle}")),
            // The web shop's pages: the same searches rendered as HTML, stock badges and all.
            ("page /search?q=mug", format!("{site}/search?q=mug")),
            ("page / (home)", format!("{site}/")),
            ("page /products/{id}", format!("{site}/products/{middle}")),
        ];
        // The pages measured are real result pages, not errors or empty ones.
        let page = reqwest::get(format!("{site}/search?q=mug"))
            .await
            .expect("the search page")
            .text()
            .await
            .expect("its text");
        let cards = page.matches("<li class=\"card\">").count();
        let badges = page.matches("class=\"stock ").count();
        println!(
            "(/search?q=mug renders {} bytes: {cards} result cards with {badges} stock badges)",
            page.len()
        );
        assert!(cards >= 12 && badges >= cards, "a full page of results");
        println!(
            "\n| request ({n} products, {storage}) | req/s | p50 ms | p99 ms |\n|---|---|---|---|"
        );
        for (name, url) in &requests {
            let figures = wrk(url, seconds);
            println!(
                "| {name}{} | {:.0} | {:.2} | {:.2} |",
                if figures.non_2xx { " (NON-2xx!)" } else { "" },
                figures.rps,
                figures.p50,
                figures.p99
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        println!(
            "\nserver RSS: {rss_loaded:.0} MB after loading, {:.0} MB after the run",
            rss_mb()
        );
        if let Ok(rollup) = std::fs::read_to_string("/proc/self/smaps_rollup") {
            let kinds: Vec<&str> = rollup
                .lines()
                .filter(|l| l.starts_with("Anonymous:") || l.starts_with("Rss:"))
                .collect();
            println!("({})", kinds.join(", ").split_whitespace().collect::<Vec<_>>().join(" "));
        }
        app.shutdown().await;
        world.shutdown().await;
    });
}
