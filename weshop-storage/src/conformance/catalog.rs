//! The catalog: products, search, categories, warehouses and stock.

use std::sync::Arc;

use weshop_core::{
    domain::{
        Category, Currency, Description, ImageRef, Picture, PictureId, PictureSize, Product,
        ProductId, ProductName, StockDelta, WarehouseId, Weight,
    },
    store::{NewProduct, ProductQuery, ProductSort, Store, StoreError},
};

use super::common::{
    counts, delta, money, new_product, product_with, reserve, seller_role, site, usd, user_with,
};

/// Products: every field round-trips exactly; updates replace; deletes remove.
pub async fn products<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let mug = NewProduct {
        seller: seller.id,
        name: ProductName::parse("Travel mug – 350 ml ✓").unwrap(),
        description: Description::parse("Keeps coffee hot.\nDishwasher safe: \"yes\" \\o/")
            .unwrap(),
        category: Category::parse("home-office").unwrap(),
        price: money(1999, Currency::EUR),
        weight: Weight::grams(350).unwrap(),
        images: vec![
            ImageRef::parse("/images/products/mug-large.png").unwrap(),
            ImageRef::parse("/static/mug-side.png").unwrap(),
        ],
    };
    let created = store.create_product(mug.clone()).await.expect("create");
    let expected = Product {
        id: created.id,
        seller: mug.seller,
        name: mug.name.clone(),
        description: mug.description.clone(),
        category: mug.category.clone(),
        price: mug.price,
        weight: mug.weight,
        images: mug.images.clone(),
    };
    assert_eq!(created, expected);
    assert_eq!(
        store.product(created.id).await.unwrap(),
        Some(expected.clone())
    );

    let yen = Currency::new("JPY").unwrap();
    let plain = store
        .create_product(new_product(seller.id, "Chopsticks", money(500, yen)))
        .await
        .expect("create");
    assert!(plain.id > created.id, "product ids increase");
    let stored = store.product(plain.id).await.unwrap().expect("stored");
    assert_eq!(stored, plain);
    assert_eq!(stored.price.currency(), yen);
    assert_eq!(stored.description.as_str(), "");
    assert!(stored.images.is_empty());

    let mut changed = expected.clone();
    changed.name = ProductName::parse("Travel mug, 500 ml").unwrap();
    changed.description = Description::parse("").unwrap();
    changed.category = Category::parse("kitchen").unwrap();
    changed.price = money(0, Currency::USD);
    changed.weight = Weight::grams(i64::from(Weight::MAX_GRAMS)).unwrap();
    changed.images = vec![ImageRef::parse("/images/products/a.jpg").unwrap()];
    store.update_product(&changed).await.expect("update");
    assert_eq!(
        store.product(changed.id).await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(
        store.product(plain.id).await.unwrap(),
        Some(plain.clone()),
        "others unchanged"
    );

    let mut ghost = changed.clone();
    ghost.id = ProductId::new(999_999_999).unwrap();
    match store.update_product(&ghost).await {
        Err(StoreError::NotFound(_)) => {}
        other => panic!("updating a missing product must be NotFound, got {other:?}"),
    }
    assert_eq!(store.product(ghost.id).await.unwrap(), None);

    assert!(store.delete_product(changed.id).await.unwrap());
    assert_eq!(store.product(changed.id).await.unwrap(), None);
    assert!(!store.delete_product(changed.id).await.unwrap());
    assert_eq!(store.product(plain.id).await.unwrap(), Some(plain));
}

/// The ids of a search's page, and its total.
async fn found<S: Store + ?Sized>(store: &S, query: ProductQuery) -> (Vec<ProductId>, u64) {
    let query = ProductQuery {
        limit: if query.limit == 0 { 100 } else { query.limit },
        ..query
    };
    let page = store.search(&query).await.expect("search");
    (page.items.iter().map(|p| p.id).collect(), page.total)
}

fn text(words: &str, sort: ProductSort) -> ProductQuery {
    ProductQuery {
        text: Some(words.to_string()),
        sort,
        ..ProductQuery::default()
    }
}

fn sorted(mut ids: Vec<ProductId>) -> Vec<ProductId> {
    ids.sort();
    ids
}

/// Search: text prefixes and several words, category, seller, price bounds, every sort,
/// paging and totals; deleted products vanish.
pub async fn search<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let a = user_with(&*store, "a@example.com", seller_role()).await;
    let b = user_with(&*store, "b@example.com", seller_role()).await;
    let mut made = Vec::new();
    for (seller, name, description, category, price) in [
        (&a, "Travel mug", "Keeps coffee hot", "kitchen", 1200),
        (
            &a,
            "Coffee grinder",
            "Burr grinder for espresso",
            "kitchen",
            4500,
        ),
        (&b, "Garden hose", "Twenty metres", "garden", 2500),
        (&b, "mug rack", "Holds six mugs", "kitchen", 1200),
        (&a, "Desk lamp", "LED, warm light", "home-office", 3900),
        (&b, "Smug cat poster", "Framed", "home-office", 900),
        (&b, "travel MUG", "", "kitchen", 1500),
    ] {
        let product = store
            .create_product(NewProduct {
                description: Description::parse(description).unwrap(),
                category: Category::parse(category).unwrap(),
                ..new_product(seller.id, name, usd(price))
            })
            .await
            .expect("create");
        made.push(product.id);
    }
    let p = |n: usize| made[n - 1];
    let newest = |ns: &[usize]| -> Vec<ProductId> {
        let mut ids: Vec<ProductId> = ns.iter().map(|n| p(*n)).collect();
        ids.sort_by(|x, y| y.cmp(x));
        ids
    };
    let all = || ProductQuery {
        sort: ProductSort::Newest,
        ..ProductQuery::default()
    };

    // Text: every word must be the start of a word of the product.
    for (words, expected) in [
        ("mug", vec![1, 4, 7]),
        ("MU", vec![1, 4, 7]),
        ("coffee", vec![1, 2]),
        ("travel mu", vec![1, 7]),
        ("mug, coffee!", vec![1]),
        ("mug espresso", vec![]),
        ("ug", vec![]),
        ("grind", vec![2]),
        ("warm led", vec![5]),
    ] {
        let (ids, total) = found(&*store, text(words, ProductSort::Newest)).await;
        assert_eq!(ids, newest(&expected), "search {words:?}");
        assert_eq!(total, expected.len() as u64, "total of {words:?}");
    }
    let (ids, total) = found(&*store, text(" -- ", ProductSort::Newest)).await;
    assert_eq!(
        (ids, total),
        (newest(&[1, 2, 3, 4, 5, 6, 7]), 7),
        "no words: no text filter"
    );

    // Relevance with text: the matches, in a stable order.
    let (relevant, total) = found(&*store, text("mug", ProductSort::Relevance)).await;
    assert_eq!(
        (sorted(relevant.clone()), total),
        (sorted(newest(&[1, 4, 7])), 3)
    );
    let (again, _) = found(&*store, text("mug", ProductSort::Relevance)).await;
    assert_eq!(again, relevant, "relevance order is deterministic");

    // Category, seller, price: exact and inclusive, combined with each other and with text.
    let kitchen = Some(Category::parse("kitchen").unwrap());
    for (query, expected, what) in [
        (
            ProductQuery {
                category: kitchen.clone(),
                ..all()
            },
            vec![1, 2, 4, 7],
            "category",
        ),
        (
            ProductQuery {
                category: kitchen.clone(),
                ..text("mug", ProductSort::Newest)
            },
            vec![1, 4, 7],
            "category and text",
        ),
        (
            ProductQuery {
                category: Some(Category::parse("kitch").unwrap()),
                ..all()
            },
            vec![],
            "category is exact",
        ),
        (
            ProductQuery {
                seller: Some(a.id),
                ..all()
            },
            vec![1, 2, 5],
            "seller",
        ),
        (
            ProductQuery {
                seller: Some(b.id),
                category: kitchen.clone(),
                ..all()
            },
            vec![4, 7],
            "seller and category",
        ),
        (
            ProductQuery {
                min_price: Some(1200),
                max_price: Some(2500),
                ..all()
            },
            vec![1, 3, 4, 7],
            "price bounds are inclusive",
        ),
        (
            ProductQuery {
                min_price: Some(1201),
                max_price: Some(2499),
                ..all()
            },
            vec![7],
            "price bounds",
        ),
        (
            ProductQuery {
                min_price: Some(4500),
                ..all()
            },
            vec![2],
            "min price",
        ),
        (
            ProductQuery {
                max_price: Some(899),
                ..all()
            },
            vec![],
            "max price",
        ),
        (
            ProductQuery {
                max_price: Some(1200),
                seller: Some(b.id),
                ..text("mug", ProductSort::Newest)
            },
            vec![4],
            "everything at once",
        ),
    ] {
        let (ids, total) = found(&*store, query).await;
        assert_eq!(ids, newest(&expected), "{what}");
        assert_eq!(total, expected.len() as u64, "total of {what}");
    }

    // Every sort, over everything.
    for (sort, expected) in [
        (ProductSort::Newest, vec![7, 6, 5, 4, 3, 2, 1]),
        (ProductSort::Relevance, vec![7, 6, 5, 4, 3, 2, 1]),
        (ProductSort::PriceAsc, vec![6, 1, 4, 7, 3, 5, 2]),
        (ProductSort::PriceDesc, vec![2, 5, 3, 7, 1, 4, 6]),
        (ProductSort::Name, vec![2, 5, 3, 4, 6, 1, 7]),
    ] {
        let query = ProductQuery {
            sort,
            ..ProductQuery::default()
        };
        let (ids, total) = found(&*store, query).await;
        let expected: Vec<ProductId> = expected.into_iter().map(p).collect();
        assert_eq!(ids, expected, "sort {sort:?}");
        assert_eq!(total, 7);
    }

    // Paging: offset and limit over the sorted matches; the total counts them all.
    for (sort, offset, limit, expected) in [
        (ProductSort::Newest, 2, 3, vec![5, 4, 3]),
        (ProductSort::Newest, 6, 10, vec![1]),
        (ProductSort::Newest, 7, 10, vec![]),
        (ProductSort::Newest, 100, 10, vec![]),
        (ProductSort::PriceAsc, 1, 2, vec![1, 4]),
        (ProductSort::Name, 5, 1, vec![1]),
    ] {
        let query = ProductQuery {
            sort,
            offset,
            limit,
            ..ProductQuery::default()
        };
        let (ids, total) = found(&*store, query).await;
        let expected: Vec<ProductId> = expected.into_iter().map(p).collect();
        assert_eq!(ids, expected, "{sort:?} from {offset}, {limit} at most");
        assert_eq!(total, 7, "{sort:?} from {offset}: total");
    }
    let page = store
        .search(&ProductQuery {
            offset: 1,
            limit: 1,
            ..text("mug", ProductSort::Newest)
        })
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        page.items,
        vec![store.product(p(4)).await.unwrap().unwrap()],
        "search returns whole products"
    );

    // Changes show in search at once.
    assert!(store.delete_product(p(4)).await.unwrap());
    let (ids, total) = found(&*store, text("mug", ProductSort::Newest)).await;
    assert_eq!(
        (ids, total),
        (newest(&[1, 7]), 2),
        "a deleted product vanishes"
    );
    let (ids, total) = found(&*store, all()).await;
    assert_eq!((ids, total), (newest(&[1, 2, 3, 5, 6, 7]), 6));
    let mut lamp = store.product(p(5)).await.unwrap().unwrap();
    lamp.name = ProductName::parse("Mug warmer").unwrap();
    lamp.price = usd(100);
    store.update_product(&lamp).await.unwrap();
    let (ids, _) = found(&*store, text("mug", ProductSort::Newest)).await;
    assert_eq!(
        ids,
        newest(&[1, 5, 7]),
        "an updated product is found by its new name"
    );
    let (ids, _) = found(
        &*store,
        ProductQuery {
            max_price: Some(100),
            ..all()
        },
    )
    .await;
    assert_eq!(ids, vec![p(5)], "and by its new price");
    let (ids, _) = found(&*store, text("lamp", ProductSort::Newest)).await;
    assert_eq!(ids, vec![], "and not by its old name");
}

/// Categories: each with its product count, by name; empty ones vanish.
pub async fn categories<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.categories().await.unwrap(), vec![]);
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let mut made = Vec::new();
    for category in ["kitchen", "garden", "kitchen", "home-office"] {
        let product = store
            .create_product(NewProduct {
                category: Category::parse(category).unwrap(),
                ..new_product(seller.id, "Thing", usd(100))
            })
            .await
            .unwrap();
        made.push(product);
    }
    let listed = |pairs: &[(&str, u64)]| -> Vec<(Category, u64)> {
        pairs
            .iter()
            .map(|(c, n)| (Category::parse(c).unwrap(), *n))
            .collect()
    };
    assert_eq!(
        store.categories().await.unwrap(),
        listed(&[("garden", 1), ("home-office", 1), ("kitchen", 2)])
    );
    let mut moved = made[0].clone();
    moved.category = Category::parse("garden").unwrap();
    store.update_product(&moved).await.unwrap();
    assert_eq!(
        store.categories().await.unwrap(),
        listed(&[("garden", 2), ("home-office", 1), ("kitchen", 1)])
    );
    assert!(store.delete_product(made[3].id).await.unwrap());
    assert_eq!(
        store.categories().await.unwrap(),
        listed(&[("garden", 2), ("kitchen", 1)])
    );
}

/// Warehouses: listed by id; putting one again moves it.
pub async fn warehouses<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.warehouses().await.unwrap(), vec![]);
    let (one, two) = (site(1, 0, 0), site(2, 5, 5));
    store.put_warehouse(two).await.unwrap();
    store.put_warehouse(one).await.unwrap();
    assert_eq!(store.warehouses().await.unwrap(), vec![one, two]);
    let moved = site(1, -3, i32::MAX);
    store.put_warehouse(moved).await.unwrap();
    assert_eq!(store.warehouses().await.unwrap(), vec![moved, two]);
    store.put_warehouse(moved).await.unwrap();
    assert_eq!(store.warehouses().await.unwrap(), vec![moved, two]);
}

/// Stock: deltas apply in order with their check, all or none; a refusal names the row and
/// what was available before its delta, and changes nothing.
pub async fn stock<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let p = product_with(&*store, seller.id, "Mug", usd(500)).await.id;
    let other = product_with(&*store, seller.id, "Teapot", usd(900))
        .await
        .id;
    let (w1, w2, w3) = (
        WarehouseId::new(1).unwrap(),
        WarehouseId::new(2).unwrap(),
        WarehouseId::new(3).unwrap(),
    );
    let rows = |store: Arc<S>, product: ProductId| async move {
        store
            .stock(product)
            .await
            .expect("stock")
            .into_iter()
            .map(|(w, s)| (w, counts(s)))
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(store.clone(), p).await, vec![]);

    store
        .change_stock(&[delta(w2, p, 5, 0, 0), delta(w1, p, 0, 3, 0)])
        .await
        .expect("add stock");
    assert_eq!(
        rows(store.clone(), p).await,
        vec![(w1, (0, 3, 0)), (w2, (5, 0, 0))]
    );
    assert_eq!(rows(store.clone(), other).await, vec![], "per product");
    store
        .change_stock(&[reserve(w2, p, 2), reserve(w1, p, 3)])
        .await
        .expect("reserve");
    let before = vec![(w1, (0, 3, 3)), (w2, (5, 0, 2))];
    assert_eq!(rows(store.clone(), p).await, before);

    let refusals: Vec<(Vec<StockDelta>, WarehouseId, u64, &str)> = vec![
        (
            vec![reserve(w2, p, 1), reserve(w1, p, 1)],
            w1,
            0,
            "a later delta refused undoes an earlier one",
        ),
        (
            vec![delta(w2, p, -4, 0, 0)],
            w2,
            3,
            "fewer on hand and incoming than reserved",
        ),
        (vec![delta(w1, p, 0, -4, 0)], w1, 0, "a negative count"),
        (vec![reserve(w2, p, -3)], w2, 3, "negative reserved"),
        (
            vec![delta(w3, p, 7, 0, 0), reserve(w1, p, 1)],
            w1,
            0,
            "a row created by a refused change is not kept",
        ),
        (
            vec![reserve(w2, p, 3), reserve(w2, p, 1)],
            w2,
            0,
            "available counts the earlier deltas of the change",
        ),
    ];
    for (deltas, warehouse, available, what) in refusals {
        match store.change_stock(&deltas).await {
            Err(StoreError::OutOfStock {
                product,
                warehouse: at,
                available: left,
            }) => {
                assert_eq!((product, at, left), (p, warehouse, available), "{what}");
            }
            other => panic!("{what}: expected OutOfStock, got {other:?}"),
        }
        assert_eq!(
            rows(store.clone(), p).await,
            before,
            "{what}: nothing changed"
        );
    }

    // Deltas of one change apply in order: the reservation needs the units added before it.
    store
        .change_stock(&[
            delta(w1, p, 0, 2, 0),
            reserve(w1, p, 2),
            delta(w1, p, 4, -4, 0),
        ])
        .await
        .expect("in order");
    assert_eq!(
        rows(store.clone(), p).await,
        vec![(w1, (4, 1, 5)), (w2, (5, 0, 2))]
    );
    // Packing takes units off both on hand and reserved.
    store
        .change_stock(&[delta(w2, p, -2, 0, -2)])
        .await
        .expect("pack");
    assert_eq!(
        rows(store.clone(), p).await,
        vec![(w1, (4, 1, 5)), (w2, (3, 0, 0))]
    );
    store.change_stock(&[]).await.expect("no change");
    assert_eq!(rows(store.clone(), other).await, vec![]);
}

/// The whole catalog (what a search index is rebuilt from): every product by id, each with its
/// sellable units (on hand + incoming − reserved) summed over warehouses; withdrawn products
/// are left out, products without stock have none.
pub async fn catalog_listing<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.catalog().await.unwrap(), vec![]);
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let mug = product_with(&*store, seller.id, "Mug", usd(500)).await;
    let pot = product_with(&*store, seller.id, "Teapot", usd(900)).await;
    let gone = product_with(&*store, seller.id, "Lamp", usd(1500)).await;
    let (w1, w2) = (WarehouseId::new(1).unwrap(), WarehouseId::new(2).unwrap());
    store
        .change_stock(&[
            delta(w1, mug.id, 5, 2, 0),
            delta(w2, mug.id, 1, 0, 0),
            reserve(w1, mug.id, 3),
            delta(w1, gone.id, 4, 0, 0),
        ])
        .await
        .expect("stock");
    assert!(store.delete_product(gone.id).await.unwrap());
    assert_eq!(
        store.catalog().await.unwrap(),
        vec![(mug, 5), (pot, 0)],
        "by id, units over warehouses, withdrawn left out"
    );
}

/// Pictures: both sizes round-trip byte for byte (every byte value, and a large one); storing
/// the same id again keeps it; an unknown id is `None`.
pub async fn pictures<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let id = PictureId::parse("00112233445566778899aabbccddeeff").unwrap();
    let picture = Picture {
        id: id.clone(),
        thumbnail: (0..=255u8).collect(),
        large: (0..400_000u32).map(|i| (i * 7 % 251) as u8).collect(),
    };
    store.put_picture(&picture).await.expect("put");
    store.put_picture(&picture).await.expect("put again");
    for size in [PictureSize::Thumbnail, PictureSize::Large] {
        let stored = store.picture(&id, size).await.unwrap();
        assert_eq!(stored.as_deref(), Some(picture.bytes(size)), "{size:?}");
    }
    let other = PictureId::parse("ffeeddccbbaa99887766554433221100").unwrap();
    assert_eq!(
        store.picture(&other, PictureSize::Large).await.unwrap(),
        None
    );
}
