//! Searches on other threads while writes happen: they never fail and never see half a write.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use common::stocked;
use weshop_core::store::ProductSort;
use weshop_search::{CatalogIndex, IndexedProduct, SearchQuery};

const PRODUCTS: i64 = 100;
const CATEGORIES: [&str; 4] = ["kitchen", "outdoor", "toys", "home"];

/// Product `id`, named "pair" (with its neighbour) or "single".
fn item(id: i64, paired: bool) -> IndexedProduct {
    let name = if paired {
        format!("pair {id}")
    } else {
        format!("single {id}")
    };
    stocked(id, &name, "", CATEGORIES[id as usize % 4], 100 + id)
}

#[test]
fn searches_never_fail_or_see_half_a_write() {
    let index = CatalogIndex::in_memory().unwrap();
    index
        .rebuild((1..=PRODUCTS).map(|id| item(id, false)))
        .unwrap();
    let done = AtomicBool::new(false);
    let searches = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for reader in 0..3 {
            let (index, done, searches) = (&index, &done, &searches);
            scope.spawn(move || {
                let mut seen_pairs = 0;
                while !done.load(Ordering::Acquire) {
                    // Every write changes products two by two, and keeps 100 of them.
                    let pairs = index.search(&SearchQuery::text("pair", 7)).unwrap();
                    assert_eq!(pairs.total % 2, 0, "half a write: {pairs:?}");
                    assert_eq!(pairs.ids.len() as u64, pairs.total.min(7));
                    seen_pairs = seen_pairs.max(pairs.total);
                    let all = index
                        .search(&SearchQuery {
                            limit: 10,
                            sort: [ProductSort::Newest, ProductSort::PriceAsc][reader % 2],
                            ..SearchQuery::default()
                        })
                        .unwrap();
                    assert_eq!(all.total, PRODUCTS as u64);
                    assert_eq!(all.category_facets.iter().map(|(_, n)| n).sum::<u64>(), 100);
                    let singles = index.search(&SearchQuery::text("single", 0)).unwrap();
                    let paired_now = index.search(&SearchQuery::text("pair", 0)).unwrap();
                    // Two snapshots may differ, but each is whole.
                    assert_eq!(singles.total % 2, 0);
                    assert_eq!(paired_now.total % 2, 0);
                    let counted: u64 = index.categories().unwrap().iter().map(|(_, n)| n).sum();
                    assert_eq!(counted, PRODUCTS as u64);
                    assert!(index.suggest("pa", 5).unwrap().len() <= 5);
                    searches.fetch_add(1, Ordering::Relaxed);
                }
                seen_pairs
            });
        }
        for step in 0..60i64 {
            if step % 20 == 19 {
                // Everything back to singles, at once.
                index
                    .rebuild((1..=PRODUCTS).map(|id| item(id, false)))
                    .unwrap();
                assert_eq!(
                    index.search(&SearchQuery::text("pair", 0)).unwrap().total,
                    0
                );
            } else {
                let first = (step * 2) % PRODUCTS + 1;
                let paired = step % 3 != 2;
                index
                    .upsert_many([item(first, paired), item(first + 1, paired)])
                    .unwrap();
                // Visible to the very next search.
                let found = index
                    .search(&SearchQuery::text(&format!("pair {first}"), 5))
                    .unwrap();
                assert_eq!(found.ids.iter().any(|id| id.get() == first), paired);
            }
        }
        done.store(true, Ordering::Release);
    });
    assert!(searches.load(Ordering::Relaxed) > 0);
}
