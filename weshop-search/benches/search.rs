//! Catalog search latency at 10 000 and 100 000 products.
//!
//! `cargo bench -p weshop-search -j2` (add `-- --quick` for fewer iterations). For each catalog
//! size it rebuilds an in-memory index of products named like "blue mug 123" in 20
//! categories, then times each query one call at a time, single-threaded, and prints the
//! median, 99th percentile and calls per second — "cold" with the result cache off (the full
//! work of every search) and "cached" with it on (a query repeated on an unchanged index) —
//! plus rebuild and single-write costs.
//!
//! Environment: `WESHOP_BENCH_SIZES=10000,100000`, `WESHOP_BENCH_ITERATIONS=3000`,
//! `WESHOP_BENCH_ONLY=<label substring>` (for profiling one query).

use std::time::{Duration, Instant};

use weshop_core::domain::{
    Category, Currency, Description, Money, Product, ProductId, ProductName, UserId, Weight,
};
use weshop_core::store::ProductSort;
use weshop_search::{CatalogIndex, IndexedProduct, SearchQuery};

const COLOURS: [&str; 10] = [
    "blue", "red", "green", "black", "white", "yellow", "silver", "orange", "purple", "grey",
];
const NOUNS: [&str; 20] = [
    "mug",
    "kettle",
    "lamp",
    "chair",
    "desk",
    "tent",
    "ball",
    "puzzle",
    "towel",
    "pillow",
    "speaker",
    "headphones",
    "notebook",
    "pen",
    "bottle",
    "jacket",
    "shoes",
    "backpack",
    "blanket",
    "teapot",
];
const CATEGORIES: [&str; 20] = [
    "kitchen",
    "home",
    "office",
    "outdoor",
    "toys",
    "bath",
    "bedroom",
    "audio",
    "stationery",
    "sports",
    "clothing",
    "garden",
    "tools",
    "books",
    "games",
    "music",
    "travel",
    "pets",
    "beauty",
    "grocery",
];
const ADJECTIVES: [&str; 8] = [
    "durable", "handy", "classic", "modern", "compact", "light", "sturdy", "elegant",
];

/// A small deterministic generator (xorshift), so every run indexes the same catalog.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next() % items.len() as u64) as usize]
    }
}

fn catalog(size: i64) -> Vec<IndexedProduct> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (1..=size)
        .map(|id| {
            let noun = rng.pick(&NOUNS);
            let name = format!("{} {noun} {id}", rng.pick(&COLOURS));
            let description = format!(
                "A {} {noun} for every day, {} and {}.",
                rng.pick(&ADJECTIVES),
                rng.pick(&ADJECTIVES),
                rng.pick(&COLOURS)
            );
            let product = Product {
                id: ProductId::new(id).expect("positive id"),
                seller: UserId::new(1 + (rng.next() % 50) as i64).expect("positive id"),
                name: ProductName::parse(&name).expect("valid name"),
                description: Description::parse(&description).expect("valid description"),
                category: Category::parse(rng.pick(&CATEGORIES)).expect("valid category"),
                price: Money::from_minor(100 + (rng.next() % 20_000) as i64, Currency::USD)
                    .expect("valid price"),
                weight: Weight::grams(500).expect("valid weight"),
                images: Vec::new(),
            };
            IndexedProduct::new(product, rng.next() % 4)
        })
        .collect()
}

/// Latency figures of one measurement.
struct Figures {
    p50: Duration,
    p99: Duration,
    per_second: f64,
    results: usize,
}

/// Times `run` call by call, after a warm-up.
fn measure(iterations: usize, mut run: impl FnMut() -> usize) -> Figures {
    for _ in 0..(iterations / 10).max(10) {
        std::hint::black_box(run());
    }
    let mut times = Vec::with_capacity(iterations);
    let mut checksum = 0;
    let start = Instant::now();
    for _ in 0..iterations {
        let call = Instant::now();
        checksum += std::hint::black_box(run());
        times.push(call.elapsed());
    }
    let elapsed = start.elapsed();
    times.sort_unstable();
    let percentile = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    Figures {
        p50: percentile(50),
        p99: percentile(99),
        per_second: iterations as f64 / elapsed.as_secs_f64(),
        results: checksum / iterations.max(1),
    }
}

fn selected(label: &str) -> bool {
    std::env::var("WESHOP_BENCH_ONLY").is_err_and(|_| true)
        || std::env::var("WESHOP_BENCH_ONLY").is_ok_and(|only| label.contains(&only))
}

fn cells(figures: &Figures) -> String {
    format!(
        "{:>8.1} {:>9.1} {:>8.0}",
        micros(figures.p50),
        micros(figures.p99),
        figures.per_second
    )
}

/// Measures `run` with the result cache off, then on, and prints both.
fn query(index: &CatalogIndex, label: &str, iterations: usize, mut run: impl FnMut() -> usize) {
    if !selected(label) {
        return;
    }
    index.set_result_cache(false);
    let cold = measure(iterations, &mut run);
    index.set_result_cache(true);
    let cached = measure(iterations, &mut run);
    println!(
        "  {label:<38} {}   {}   {:>7}",
        cells(&cold),
        cells(&cached),
        cold.results
    );
}

/// The process's resident memory (Linux), for a rough idea of the index's footprint.
fn resident_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .map(|line| line.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn search(index: &CatalogIndex, query: &SearchQuery) -> usize {
    let results = index.search(query).expect("search");
    results.ids.len() + results.category_facets.len() + results.total as usize
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let iterations = match std::env::var("WESHOP_BENCH_ITERATIONS") {
        Ok(n) => n.parse().unwrap_or(3_000),
        Err(_) if quick => 300,
        Err(_) => 3_000,
    };
    let sizes: Vec<i64> = match std::env::var("WESHOP_BENCH_SIZES") {
        Ok(sizes) => sizes
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![10_000, 100_000],
    };
    for size in sizes {
        let products = catalog(size);
        let index = CatalogIndex::in_memory().expect("index");
        let start = Instant::now();
        index.rebuild(products.clone()).expect("rebuild");
        println!(
            "{size} products: rebuilt in {:.2} s ({} segment); process resident memory {}",
            start.elapsed().as_secs_f64(),
            index.segment_count(),
            resident_memory()
        );
        println!(
            "  {:<38} {:>8} {:>9} {:>8}   {:>8} {:>9} {:>8}   {:>7}",
            "(µs; single thread)", "cold p50", "p99", "q/s", "cache p50", "p99", "q/s", "results"
        );
        let mug = SearchQuery::text("mug", 20);
        query(&index, "q=mug (relevance, 20 per page)", iterations, || {
            search(&index, &mug)
        });
        let newest = SearchQuery {
            limit: 20,
            ..SearchQuery::default()
        };
        query(&index, "no query (first page, newest)", iterations, || {
            search(&index, &newest)
        });
        let none = SearchQuery::text("zzz-none", 20);
        query(&index, "q=zzz-none", iterations, || search(&index, &none));
        let filtered = SearchQuery {
            category: Some(Category::parse("kitchen").expect("category")),
            min_price: Some(1_000),
            max_price: Some(10_000),
            sort: ProductSort::PriceAsc,
            ..SearchQuery::text("mug", 20)
        };
        query(
            &index,
            "q=mug kitchen 10.00-100.00 price asc",
            iterations,
            || search(&index, &filtered),
        );
        query(&index, "categories", iterations, || {
            index.categories().expect("categories").len()
        });
        query(&index, "suggest(\"mu\")", iterations, || {
            index.suggest("mu", 10).expect("suggest").len()
        });
        // Not in the targets, for context: a typo, two words, a deep page, other sorts.
        let typo = SearchQuery::text("hedphones", 20);
        query(&index, "q=hedphones (typo)", iterations / 3, || {
            search(&index, &typo)
        });
        let two = SearchQuery::text("blue mu", 20);
        query(&index, "q=blue mu", iterations / 3, || search(&index, &two));
        let deep = SearchQuery {
            offset: 5_000,
            ..SearchQuery::text("mug", 20)
        };
        query(&index, "q=mug offset 5000", iterations / 3, || {
            search(&index, &deep)
        });
        let by_name = SearchQuery {
            sort: ProductSort::Name,
            ..SearchQuery::text("mug", 20)
        };
        query(&index, "q=mug by name", iterations / 3, || {
            search(&index, &by_name)
        });
        let browse = SearchQuery {
            category: Some(Category::parse("kitchen").expect("category")),
            ..newest.clone()
        };
        query(&index, "category=kitchen (newest)", iterations / 3, || {
            search(&index, &browse)
        });
        let by_price = SearchQuery {
            sort: ProductSort::PriceAsc,
            ..newest.clone()
        };
        query(&index, "no query, price asc", iterations / 10, || {
            search(&index, &by_price)
        });
        if selected("upsert") {
            let mut next = 0;
            let writes = if quick { 20 } else { 100 };
            let figures = measure(writes, || {
                next = (next + 7_919) % products.len();
                index.upsert(products[next].clone()).expect("upsert");
                1
            });
            println!("  {:<38} {}", "upsert (one commit each)", cells(&figures));
            query(&index, "q=mug after those writes", iterations, || {
                search(&index, &mug)
            });
            println!("  ({} segments after the writes)", index.segment_count());
        }
    }
}
