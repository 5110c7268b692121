//! The index's required behaviour, one property per test.

mod common;

use common::{cat, ids, pid, product, stocked};
use weshop_core::domain::UserId;
use weshop_core::store::{ProductQuery, ProductSort};
use weshop_search::{CatalogIndex, IndexedProduct, SearchError, SearchQuery};

fn index_of(products: Vec<IndexedProduct>) -> CatalogIndex {
    let index = CatalogIndex::in_memory().unwrap();
    index.rebuild(products).unwrap();
    index
}

fn found(index: &CatalogIndex, text: &str) -> Vec<i64> {
    let results = index.search(&SearchQuery::text(text, 100)).unwrap();
    assert_eq!(results.total, results.ids.len() as u64, "{text:?}");
    results.ids.iter().map(|id| id.get()).collect()
}

fn sorted(mut v: Vec<i64>) -> Vec<i64> {
    v.sort_unstable();
    v
}

#[test]
fn ranks_by_bm25_with_the_name_boosted() {
    let index = index_of(vec![
        stocked(1, "Teapot", "goes well with a mug", "kitchen", 100),
        stocked(2, "Mug", "plain", "kitchen", 100),
        stocked(3, "Travel mug with lid", "steel", "outdoor", 100),
    ]);
    // Name before description; the shorter name (higher BM25 term weight) first.
    assert_eq!(found(&index, "mug"), [2, 3, 1]);
}

#[test]
fn every_word_must_match_in_some_field() {
    let index = index_of(vec![
        stocked(1, "Blue mug", "", "kitchen", 100),
        stocked(2, "Red mug", "not blue at all", "kitchen", 100),
        stocked(3, "Blue kettle", "", "kitchen", 100),
        stocked(4, "Lamp", "", "home-office", 100),
    ]);
    assert_eq!(sorted(found(&index, "blue mug")), [1, 2]);
    assert_eq!(found(&index, "BLUE, kettle!"), [3]);
    // Category words are searchable too ("home-office" is "home" and "office").
    assert_eq!(found(&index, "office lamp"), [4]);
    assert!(found(&index, "blue lamp").is_empty());
}

#[test]
fn the_last_word_also_matches_as_a_prefix() {
    let index = index_of(vec![
        stocked(1, "Blue mug", "", "kitchen", 100),
        stocked(2, "Music box", "", "toys", 100),
        stocked(3, "Red mug", "", "kitchen", 100),
    ]);
    assert_eq!(sorted(found(&index, "mu")), [1, 2, 3]);
    assert_eq!(found(&index, "blue mu"), [1]);
    // Only the last word: "mu" in front must be a whole word.
    assert!(found(&index, "mu blue").is_empty());
    assert_eq!(sorted(found(&index, "m")), [1, 2, 3]);
}

#[test]
fn typos_are_tolerated_by_word_length() {
    let index = index_of(vec![
        stocked(1, "Electric kettle", "", "kitchen", 100),
        stocked(2, "Wireless headphones", "", "audio", 100),
        stocked(3, "Mug", "", "kitchen", 100),
    ]);
    assert_eq!(found(&index, "kettel"), [1], "swapped letters: one edit");
    assert_eq!(found(&index, "ketle"), [1], "a missing letter");
    assert_eq!(
        found(&index, "kettel electric"),
        [1],
        "not only the last word"
    );
    assert!(
        found(&index, "kettxx").is_empty(),
        "two edits in six letters"
    );
    assert_eq!(
        found(&index, "hedphones"),
        [2],
        "nine letters: two edits allowed"
    );
    assert_eq!(
        found(&index, "hedphnes"),
        Vec::<i64>::new(),
        "eight letters: one edit"
    );
    assert_eq!(found(&index, "headpohnse"), [2], "two swaps in ten letters");
    assert!(found(&index, "mag").is_empty(), "short words are exact");
    assert!(found(&index, "mgu x").is_empty());
}

#[test]
fn exact_words_rank_above_completions_and_completions_above_typos() {
    let index = index_of(vec![
        // A typo of "kettle", in a short name, twice: the best BM25 of the lot.
        stocked(1, "Settle settle", "", "kitchen", 100),
        // A completion.
        stocked(2, "Kettles", "", "kitchen", 100),
        // Exact, but in a long description only: the weakest BM25.
        stocked(
            3,
            "Stove",
            "a very long description that mentions a kettle once among many other words",
            "kitchen",
            100,
        ),
    ]);
    assert_eq!(found(&index, "kettle"), [3, 2, 1]);
    // Not the last word, "kettle" completes nothing: "kettles" is now a typo like "settle".
    let ranked = found(&index, "kettle kitchen");
    assert_eq!((ranked[0], sorted(ranked)), (3, vec![1, 2, 3]));
}

#[test]
fn filters_narrow_and_keep_totals_exact() {
    let mut seller_two = product(4, "Mug four", "", "kitchen", 2_500);
    seller_two.seller = UserId::new(2).unwrap();
    let index = index_of(vec![
        stocked(1, "Mug one", "", "kitchen", 999),
        stocked(2, "Mug two", "", "kitchen", 1_000),
        IndexedProduct::new(product(3, "Mug three", "", "outdoor", 10_000), 0),
        IndexedProduct::new(seller_two, 1),
        stocked(5, "Mug five", "", "kitchen", 10_001),
    ]);
    let query = |edit: &dyn Fn(&mut SearchQuery)| {
        let mut query = SearchQuery::text("mug", 10);
        query.sort = ProductSort::Newest;
        edit(&mut query);
        let results = index.search(&query).unwrap();
        assert_eq!(results.total, results.ids.len() as u64);
        results.ids.iter().map(|id| id.get()).collect::<Vec<_>>()
    };
    assert_eq!(query(&|_| {}), [5, 4, 3, 2, 1]);
    assert_eq!(query(&|q| q.category = Some(cat("outdoor"))), [3]);
    assert_eq!(
        query(&|q| q.category = Some(cat("garden"))),
        Vec::<i64>::new()
    );
    // Inclusive bounds.
    assert_eq!(
        query(&|q| {
            q.min_price = Some(1_000);
            q.max_price = Some(10_000);
        }),
        [4, 3, 2]
    );
    assert_eq!(query(&|q| q.seller = UserId::new(2).ok()), [4]);
    assert_eq!(query(&|q| q.in_stock_only = true), [5, 4, 2, 1]);
    assert_eq!(
        query(&|q| {
            q.in_stock_only = true;
            q.category = Some(cat("kitchen"));
            q.max_price = Some(5_000);
        }),
        [4, 2, 1]
    );
}

#[test]
fn sorts_are_deterministic_with_ties_by_id() {
    let index = index_of(vec![
        stocked(1, "banana Mug", "", "kitchen", 500),
        stocked(2, "apple mug", "", "kitchen", 300),
        stocked(3, "Cherry mug", "", "kitchen", 500),
        stocked(4, "apple mug", "", "kitchen", 100),
    ]);
    let order = |text: Option<&str>, sort| {
        let query = SearchQuery {
            text: text.map(str::to_string),
            sort,
            limit: 10,
            ..SearchQuery::default()
        };
        let results = index.search(&query).unwrap();
        results.ids.iter().map(|id| id.get()).collect::<Vec<_>>()
    };
    for text in [None, Some("mug")] {
        assert_eq!(order(text, ProductSort::PriceAsc), [4, 2, 1, 3]);
        assert_eq!(order(text, ProductSort::PriceDesc), [1, 3, 2, 4]);
        assert_eq!(order(text, ProductSort::Name), [2, 4, 1, 3]);
        assert_eq!(order(text, ProductSort::Newest), [4, 3, 2, 1]);
    }
    // Relevance without text is newest first; with text, equal scores go newest first.
    assert_eq!(order(None, ProductSort::Relevance), [4, 3, 2, 1]);
    assert_eq!(order(Some("!!"), ProductSort::Relevance), [4, 3, 2, 1]);
    assert_eq!(order(Some("apple mug"), ProductSort::Relevance), [4, 2]);
}

#[test]
fn pages_by_offset_and_limit_including_deep_pages() {
    let products = (1..=250)
        .map(|i| stocked(i, &format!("mug {i}"), "", "kitchen", 100 + i))
        .collect();
    let index = index_of(products);
    for text in [None, Some("mug")] {
        for sort in [ProductSort::Newest, ProductSort::PriceAsc] {
            let page = |offset, limit| {
                let query = SearchQuery {
                    text: text.map(str::to_string),
                    sort,
                    offset,
                    limit,
                    ..SearchQuery::default()
                };
                index.search(&query).unwrap()
            };
            let all = page(0, 1000);
            assert_eq!((all.total, all.ids.len()), (250, 250));
            let deep = page(230, 20);
            assert_eq!(deep.ids, all.ids[230..250]);
            assert_eq!(deep.total, 250);
            let past = page(250, 20);
            assert!(past.ids.is_empty() && past.total == 250);
            assert!(page(0, 0).ids.is_empty());
            assert_eq!(page(usize::MAX, usize::MAX).total, 250);
        }
    }
}

#[test]
fn facets_count_the_query_without_its_category_filter() {
    let index = index_of(vec![
        stocked(1, "Blue mug", "", "kitchen", 100),
        stocked(2, "Red mug", "", "kitchen", 100),
        stocked(3, "Camping mug", "", "outdoor", 100),
        stocked(4, "Tent", "", "outdoor", 100),
    ]);
    let mut query = SearchQuery::text("mug", 10);
    let results = index.search(&query).unwrap();
    let expected = vec![(cat("kitchen"), 2), (cat("outdoor"), 1)];
    assert_eq!(results.category_facets, expected);
    query.category = Some(cat("outdoor"));
    let results = index.search(&query).unwrap();
    assert_eq!((results.ids, results.total), (ids(&[3]), 1));
    assert_eq!(results.category_facets, expected);
    // Other filters do narrow the facets.
    query.max_price = Some(50);
    assert!(index.search(&query).unwrap().category_facets.is_empty());
    // Browsing everything: facets are the whole catalog.
    let results = index
        .search(&SearchQuery {
            limit: 2,
            ..SearchQuery::default()
        })
        .unwrap();
    assert_eq!(
        results.category_facets,
        [(cat("kitchen"), 2), (cat("outdoor"), 2)]
    );
    assert_eq!(index.categories().unwrap(), results.category_facets);
}

#[test]
fn more_than_32_words_are_refused() {
    let index = index_of(vec![stocked(1, "a", "", "kitchen", 100)]);
    let ok = index
        .search(&SearchQuery::text(&"a ".repeat(32), 10))
        .unwrap();
    assert_eq!(ok.ids, ids(&[1]));
    let refused = index.search(&SearchQuery::text(&"a ".repeat(33), 10));
    assert!(matches!(
        refused,
        Err(SearchError::TooManyTerms { words: 33, max: 32 })
    ));
    assert!(index.suggest(&"a ".repeat(33), 5).is_err());
    // A long word is fine: it is matched, not expanded.
    let long = "x".repeat(10_000);
    assert!(found(&index, &long).is_empty());
}

#[test]
fn writes_are_visible_to_the_next_search() {
    let index = CatalogIndex::in_memory().unwrap();
    assert!(index.is_empty());
    index
        .upsert(stocked(1, "Blue mug", "", "kitchen", 100))
        .unwrap();
    assert_eq!(found(&index, "mug"), [1]);
    // Edit: the old words are gone.
    index
        .upsert(stocked(1, "Red cup", "", "kitchen", 100))
        .unwrap();
    assert!(found(&index, "mug").is_empty());
    assert_eq!(found(&index, "cup"), [1]);
    assert_eq!(index.len(), 1);
    // Stock running out flips the in-stock filter.
    let in_stock = SearchQuery {
        in_stock_only: true,
        limit: 10,
        ..SearchQuery::default()
    };
    assert_eq!(index.search(&in_stock).unwrap().total, 1);
    index
        .upsert(IndexedProduct::new(
            product(1, "Red cup", "", "kitchen", 100),
            0,
        ))
        .unwrap();
    assert_eq!(index.search(&in_stock).unwrap().total, 0);
    // Withdrawn.
    index.remove(pid(1)).unwrap();
    index.remove(pid(99)).unwrap();
    assert!(found(&index, "cup").is_empty());
    assert!(index.is_empty() && index.categories().unwrap().is_empty());
    // A batch, with a duplicate: the last one wins.
    index
        .upsert_many([
            stocked(2, "Lamp", "", "home", 100),
            stocked(3, "Desk", "", "home", 100),
            stocked(2, "Torch", "", "outdoor", 100),
        ])
        .unwrap();
    assert_eq!(found(&index, "torch"), [2]);
    assert!(found(&index, "lamp").is_empty());
    assert_eq!(
        index.categories().unwrap(),
        [(cat("home"), 1), (cat("outdoor"), 1)]
    );
}

#[test]
fn remembered_answers_never_outlive_a_write() {
    let index = index_of(vec![stocked(1, "Blue mug", "", "kitchen", 100)]);
    for cached in [true, false] {
        index.set_result_cache(cached);
        assert_eq!(found(&index, "mug"), [1]);
        assert_eq!(found(&index, "mug"), [1]);
        assert_eq!(index.suggest("mu", 5).unwrap().len(), 1);
        index
            .upsert(stocked(2, "Red mug", "", "kitchen", 100))
            .unwrap();
        assert_eq!(found(&index, "mug"), [2, 1]);
        assert_eq!(index.suggest("mu", 5).unwrap().len(), 2);
        index.remove(pid(2)).unwrap();
        assert_eq!(found(&index, "mug"), [1]);
        assert_eq!(index.suggest("mu", 5).unwrap().len(), 1);
    }
}

#[test]
fn rebuild_replaces_everything_at_once() {
    let index = index_of(vec![stocked(1, "Old mug", "", "kitchen", 100)]);
    index
        .rebuild(vec![
            stocked(2, "New mug", "", "kitchen", 100),
            stocked(3, "New lamp", "", "home", 100),
        ])
        .unwrap();
    assert_eq!(sorted(found(&index, "new")), [2, 3]);
    assert!(found(&index, "old").is_empty());
    assert_eq!(index.len(), 2);
}

#[test]
fn suggestions_complete_names_as_you_type() {
    let mut products: Vec<_> = (1..=30)
        .map(|i| stocked(i, &format!("Mug model {i}"), "", "kitchen", 100))
        .collect();
    products.push(stocked(31, "Music box", "", "toys", 100));
    products.push(stocked(32, "Mug model 1", "", "kitchen", 100));
    products.push(stocked(33, "Lamp", "a mug-shaped lamp", "home", 100));
    let index = index_of(products);
    let names = |typed, limit| {
        index
            .suggest(typed, limit)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect::<Vec<_>>()
    };
    let mu = index.suggest("mu", 50).unwrap();
    assert_eq!(mu.len(), 10, "at most ten");
    let distinct: std::collections::HashSet<_> = mu.iter().map(|s| s.name.to_lowercase()).collect();
    assert_eq!(distinct.len(), 10, "no duplicate names");
    assert!(
        mu.iter().all(|s| s.name.starts_with("Mu")),
        "only names: {mu:?}"
    );
    assert_eq!(names("music b", 5), ["Music box"]);
    assert_eq!(names("mug model 12", 5)[0], "Mug model 12");
    assert_eq!(names("mug", 3).len(), 3);
    assert!(names("", 5).is_empty() && names("zzz", 5).is_empty() && names("mu", 0).is_empty());
    assert_eq!(names("musci", 5), ["Music box"], "typos too");
}

#[test]
fn an_index_on_disk_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    {
        let index = CatalogIndex::open_or_create(&path).unwrap();
        index
            .rebuild(vec![
                stocked(1, "Blue mug", "", "kitchen", 100),
                stocked(2, "Lamp", "", "home", 100),
            ])
            .unwrap();
        index.remove(pid(2)).unwrap();
        // A second writer on the same directory is refused while this one lives.
        assert!(CatalogIndex::open_or_create(&path).is_err());
    }
    let index = CatalogIndex::open_or_create(&path).unwrap();
    assert_eq!(found(&index, "mug"), [1]);
    assert_eq!(index.categories().unwrap(), [(cat("kitchen"), 1)]);
}

#[test]
fn store_queries_convert() {
    let query = ProductQuery {
        text: Some("mug".into()),
        category: Some(cat("kitchen")),
        min_price: Some(1),
        max_price: Some(2),
        sort: ProductSort::Name,
        offset: 3,
        limit: 4,
        ..ProductQuery::default()
    };
    let converted = SearchQuery::from(&query);
    assert_eq!(converted.text.as_deref(), Some("mug"));
    assert_eq!(
        (converted.offset, converted.limit, converted.sort),
        (3, 4, ProductSort::Name)
    );
    assert!(!converted.in_stock_only && converted.has_text());
}

#[test]
fn the_index_is_shareable() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<CatalogIndex>();
}
