//! The search index kept in step with the store: a random sequence of catalog and stock changes
//! (create, edit, withdraw, restock, checkout) goes through two shops over the same kind of
//! store, one with a search index and one without, and after it every search must answer
//! alike: the same matches and total, in the same order for the deterministic sorts. The
//! in-stock filter is checked against the store's own stock.

use std::{collections::BTreeSet, sync::Arc};

use proptest::prelude::*;
use weshop_core::{
    assembly::ShopBuilder,
    domain::{
        CardNumber, Category, Currency, DeliveryOption, Description, Location, Money, Password,
        PersonName, Product, ProductId, ProductName, Quantity, Roles, UserId, WarehouseId,
        WarehouseSite, Weight,
    },
    payments::IdempotencyKey,
    service::ShopService,
    shop::{CatalogQuery, Checkout, ProductDraft, ProductPatch, Registration, Shop},
    store::{CatalogStore, ProductQuery, ProductSort},
};
use weshop_search::CatalogIndex;
use weshop_storage::MemoryStore;

/// Words no two of which are a prefix of each other or within a typo of each other, so the
/// store's matching (every word a prefix) and the index's (exact, the last word a prefix,
/// typos for long words) agree on the queries below.
const WORDS: &[&str] = &[
    "mug", "lamp", "kettle", "blue", "green", "oak", "chair", "desk",
];
const CATEGORIES: &[&str] = &["kitchen", "garden", "office"];

#[derive(Debug, Clone)]
enum Op {
    Create {
        words: (usize, usize),
        category: usize,
        price: i64,
    },
    Edit {
        product: usize,
        word: usize,
        category: Option<usize>,
        price: Option<i64>,
    },
    Withdraw {
        product: usize,
    },
    Restock {
        product: usize,
        units: i64,
    },
    Buy {
        product: usize,
        units: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let word = 0..WORDS.len();
    let category = 0..CATEGORIES.len();
    prop_oneof![
        4 => ((word.clone(), word.clone()), category.clone(), 1..50i64)
            .prop_map(|(words, category, price)| Op::Create { words, category, price: price * 100 }),
        2 => (0..40usize, word, proptest::option::of(category), proptest::option::of(1..50i64))
            .prop_map(|(product, word, category, price)| Op::Edit {
                product, word, category, price: price.map(|p| p * 100 + 50)
            }),
        1 => (0..40usize).prop_map(|product| Op::Withdraw { product }),
        3 => (0..40usize, 1..4i64).prop_map(|(product, units)| Op::Restock { product, units }),
        3 => (0..40usize, 1..3i64).prop_map(|(product, units)| Op::Buy { product, units }),
    ]
}

#[derive(Debug, Clone)]
struct Probe {
    text: Option<String>,
    category: Option<usize>,
    max_price: Option<i64>,
    sort: ProductSort,
}

fn probe() -> impl Strategy<Value = Probe> {
    let text = proptest::option::of((
        0..WORDS.len(),
        proptest::option::of(0..WORDS.len()),
        1..4usize,
    ))
    .prop_map(|t| {
        t.map(|(first, second, cut)| match second {
            // A whole word, then a prefix of another (as typed).
            Some(second) => {
                let w = WORDS[second];
                format!("{} {}", WORDS[first], &w[..cut.min(w.len())])
            }
            None => WORDS[first].to_string(),
        })
    });
    let sort = prop_oneof![
        Just(ProductSort::Relevance),
        Just(ProductSort::PriceAsc),
        Just(ProductSort::PriceDesc),
        Just(ProductSort::Name),
        Just(ProductSort::Newest),
    ];
    (
        text,
        proptest::option::of(0..CATEGORIES.len()),
        proptest::option::of(1..50i64),
        sort,
    )
        .prop_map(|(text, category, max_price, sort)| Probe {
            text,
            category,
            max_price: max_price.map(|p| p * 100),
            sort,
        })
}

/// A shop over a fresh memory store, with or without an index, a seller and a customer.
struct Twin {
    store: Arc<MemoryStore>,
    shop: Arc<ShopService<MemoryStore>>,
    seller: UserId,
    customer: UserId,
    card: String,
}

const WAREHOUSE: i32 = 1;

async fn twin(indexed: bool) -> Twin {
    let store = Arc::new(MemoryStore::new());
    let mut builder = ShopBuilder::new(store.clone()).warehouses([WarehouseSite {
        id: WarehouseId::new(WAREHOUSE).unwrap(),
        location: Location::new(0, 0),
    }]);
    if indexed {
        builder = builder.search_index(Arc::new(CatalogIndex::in_memory().unwrap()));
    }
    let shop = builder.build().await.unwrap().shop().clone();
    let register = |email: &str, seller: bool| Registration {
        email: weshop_core::domain::Email::parse(email).unwrap(),
        password: Password::new("correct horse battery").unwrap(),
        name: PersonName::parse("Someone").unwrap(),
        roles: Roles {
            customer: !seller,
            seller,
        },
    };
    let seller = shop
        .register(register("seller@example.com", true))
        .await
        .unwrap()
        .id;
    let customer = shop
        .register(register("buyer@example.com", false))
        .await
        .unwrap()
        .id;
    let customer = shop
        .add_payment_method(customer, CardNumber::parse("4242424242424242").unwrap())
        .await
        .unwrap();
    Twin {
        store,
        shop,
        seller,
        customer: customer.id,
        card: customer.payment_methods[0].token.clone(),
    }
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::USD).unwrap()
}

/// Applies `op` to a shop; returns whether it succeeded (both twins must agree).
async fn apply(twin: &Twin, op: &Op, step: usize) -> bool {
    let shop = &twin.shop;
    let id = |n: usize| ProductId::new(n as i64 + 1).unwrap();
    match op {
        Op::Create {
            words,
            category,
            price,
        } => shop
            .create_product(
                twin.seller,
                ProductDraft {
                    name: ProductName::parse(&format!("{} {}", WORDS[words.0], WORDS[words.1]))
                        .unwrap(),
                    description: Description::parse(WORDS[(words.0 + 3) % WORDS.len()]).unwrap(),
                    category: Category::parse(CATEGORIES[*category]).unwrap(),
                    price: usd(*price),
                    weight: Weight::grams(100).unwrap(),
                    images: vec![],
                },
            )
            .await
            .is_ok(),
        Op::Edit {
            product,
            word,
            category,
            price,
        } => shop
            .update_product(
                twin.seller,
                id(*product),
                ProductPatch {
                    name: Some(
                        ProductName::parse(&format!(
                            "{} {}",
                            WORDS[*word],
                            WORDS[(word + 1) % WORDS.len()]
                        ))
                        .unwrap(),
                    ),
                    category: category.map(|c| Category::parse(CATEGORIES[c]).unwrap()),
                    price: price.map(usd),
                    ..ProductPatch::default()
                },
            )
            .await
            .is_ok(),
        Op::Withdraw { product } => shop.delete_product(twin.seller, id(*product)).await.is_ok(),
        Op::Restock { product, units } => shop
            .restock(
                twin.seller,
                id(*product),
                WarehouseId::new(WAREHOUSE).unwrap(),
                Quantity::new(*units).unwrap(),
            )
            .await
            .is_ok(),
        Op::Buy { product, units } => {
            if shop
                .add_to_cart(twin.customer, id(*product), Quantity::new(*units).unwrap())
                .await
                .is_err()
            {
                return false;
            }
            let placed = shop
                .checkout(
                    twin.customer,
                    Checkout {
                        destination: Location::new(3, 4),
                        delivery: DeliveryOption::Standard,
                        payment_method: twin.card.clone(),
                        ups_account: None,
                        idempotency_key: IdempotencyKey::parse(&format!("k{step}")).unwrap(),
                        expected_total: None,
                    },
                )
                .await
                .is_ok();
            // A refused checkout keeps the cart: empty it so the twins stay alike.
            let _ = shop.remove_cart_item(twin.customer, id(*product)).await;
            placed
        }
    }
}

fn query(probe: &Probe) -> ProductQuery {
    ProductQuery {
        text: probe.text.clone(),
        category: probe
            .category
            .map(|c| Category::parse(CATEGORIES[c]).unwrap()),
        seller: None,
        min_price: None,
        max_price: probe.max_price,
        sort: probe.sort,
        offset: 0,
        limit: 100,
    }
}

fn ids(products: &[Product]) -> Vec<ProductId> {
    products.iter().map(|p| p.id).collect()
}

/// Both twins answer `probe` with the same products, field for field, and the same units of
/// each (so a page served from the indexed shop's caches is never older than the store).
async fn same_answer(plain: &Twin, indexed: &Twin, probe: &Probe) -> Vec<Product> {
    let want = plain.shop.search(query(probe)).await.unwrap();
    let got = indexed.shop.search(query(probe)).await.unwrap();
    assert_eq!(got.total, want.total, "{probe:?}");
    if probe.sort == ProductSort::Relevance {
        let by_id = |p: &[Product]| {
            let mut p = p.to_vec();
            p.sort_by_key(|p| p.id);
            p
        };
        assert_eq!(by_id(&got.items), by_id(&want.items), "{probe:?}");
    } else {
        assert_eq!(got.items, want.items, "{probe:?}");
    }
    // Stock badges: the indexed shop's units cache agrees with the plain shop's store reads.
    let shown = ids(&want.items);
    assert_eq!(
        indexed.shop.availabilities(&shown).await.unwrap(),
        plain.shop.availabilities(&shown).await.unwrap(),
        "{probe:?}"
    );
    want.items
}

async fn check(ops: Vec<Op>, probes: Vec<Probe>) {
    let plain = twin(false).await;
    let indexed = twin(true).await;
    for (step, op) in ops.iter().enumerate() {
        let a = apply(&plain, op, step).await;
        let b = apply(&indexed, op, step).await;
        assert_eq!(a, b, "{op:?} succeeded in one twin only");
        // Searches between writes, so cached pages meet the edits that follow them.
        same_answer(&plain, &indexed, &probes[step % probes.len()]).await;
    }
    for probe in &probes {
        let want_items = same_answer(&plain, &indexed, probe).await;
        // The in-stock filter, against the store's own stock.
        let in_stock = indexed
            .shop
            .browse(CatalogQuery {
                query: query(probe),
                in_stock_only: true,
            })
            .await
            .unwrap();
        let mut expected = Vec::new();
        for product in &want_items {
            let units: u64 = plain
                .store
                .stock(product.id)
                .await
                .unwrap()
                .iter()
                .map(|(_, s)| s.available())
                .sum();
            if units > 0 {
                expected.push(product.id);
            }
        }
        let got: BTreeSet<_> = ids(&in_stock.page.items).into_iter().collect();
        assert_eq!(
            got,
            expected.into_iter().collect::<BTreeSet<_>>(),
            "in stock: {probe:?}"
        );
    }
    assert_eq!(
        indexed.shop.categories().await.unwrap(),
        plain.shop.categories().await.unwrap()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_index_answers_like_the_store(
        ops in proptest::collection::vec(op(), 1..60),
        probes in proptest::collection::vec(probe(), 1..12),
    ) {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(check(ops, probes));
    }
}

/// A crash between a store write and the index update heals at the next start: the builder
/// rebuilds the index from the store.
#[tokio::test]
async fn a_stale_index_heals_at_build() {
    let shop = twin(false).await;
    for step in 0..5 {
        let op = Op::Create {
            words: (step, step + 1),
            category: step % 3,
            price: 100,
        };
        assert!(apply(&shop, &op, step).await);
    }
    // The same store, now with an index that missed every write.
    let healed = ShopBuilder::new(shop.store.clone())
        .search_index(Arc::new(CatalogIndex::in_memory().unwrap()))
        .build()
        .await
        .unwrap();
    let all = healed
        .shop()
        .search(ProductQuery {
            limit: 100,
            ..ProductQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(all.total, 5);
}
