//! Answers already given on one snapshot.
//!
//! A shop's searches are dominated by a few queries — the home page, popular words, the first
//! letters typed into the search box — and an exact total with facets costs a pass over every
//! match, which grows with the catalog. Each snapshot remembers the answers it gave, so a
//! repeated query costs a hash lookup until the next write publishes a new snapshot, whose
//! cache starts empty: nothing can be stale, and there is nothing to invalidate.
//!
//! Bounded: [`SHARDS`] × [`PER_SHARD`] entries, each with a key of at most
//! [`MAX_KEY_BYTES`] of text and at most [`MAX_IDS`] ids; a full shard is simply emptied.
//! Sharded so that concurrent searches rarely meet on a lock, which is held only for one map
//! lookup or insert, never during a search.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, PoisonError};

use weshop_core::domain::{Category, UserId};
use weshop_core::store::ProductSort;

use crate::SearchQuery;

/// Independent maps.
const SHARDS: usize = 16;
/// Entries per map before it is emptied.
const PER_SHARD: usize = 64;
/// Longest query text (words, in bytes) worth remembering.
pub(crate) const MAX_KEY_BYTES: usize = 256;
/// Largest page worth remembering.
pub(crate) const MAX_IDS: usize = 200;

/// A bounded concurrent map from queries to their answers.
pub(crate) struct Cache<K, V> {
    hasher: RandomState,
    shards: Vec<Mutex<HashMap<K, V>>>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: &K) -> &Mutex<HashMap<K, V>> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        &self.shards[index]
    }

    /// The answer remembered for `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        // A panic elsewhere cannot leave a map half-updated: take it as it is.
        let shard = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(key).cloned()
    }

    /// Remembers `value` for `key`.
    pub fn insert(&self, key: K, value: V) {
        let mut shard = self
            .shard(&key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= PER_SHARD {
            shard.clear();
        }
        shard.insert(key, value);
    }
}

/// What determines a search's answer on a given snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SearchKey {
    words: Vec<String>,
    category: Option<Category>,
    seller: Option<UserId>,
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock_only: bool,
    sort: u8,
    offset: usize,
    limit: usize,
}

impl SearchKey {
    /// The key of `query` with its text split into `words`, if small enough to remember.
    pub fn new(query: &SearchQuery, words: &[String]) -> Option<Self> {
        if words.iter().map(String::len).sum::<usize>() > MAX_KEY_BYTES || query.limit > MAX_IDS {
            return None;
        }
        Some(Self {
            words: words.to_vec(),
            category: query.category.clone(),
            seller: query.seller,
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock_only: query.in_stock_only,
            sort: match query.sort {
                ProductSort::Relevance => 0,
                ProductSort::PriceAsc => 1,
                ProductSort::PriceDesc => 2,
                ProductSort::Name => 3,
                ProductSort::Newest => 4,
            },
            offset: query.offset,
            limit: query.limit,
        })
    }
}

/// What determines a list of suggestions: the words typed and how many are wanted.
pub(crate) type SuggestKey = (Vec<String>, usize);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_and_stays_bounded() {
        let cache: Cache<u32, u32> = Cache::new();
        assert_eq!(cache.get(&1), None);
        cache.insert(1, 10);
        assert_eq!(cache.get(&1), Some(10));
        for i in 0..10_000 {
            cache.insert(i, i);
        }
        let entries: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(entries <= SHARDS * PER_SHARD);
    }

    #[test]
    fn keys_ignore_spelling_but_not_meaning() {
        let words = |text: &str| crate::query_words(text).unwrap();
        let query = SearchQuery::text("Blue  MUG", 20);
        let key = SearchKey::new(&query, &words("Blue  MUG"));
        assert_eq!(key, SearchKey::new(&query, &words("blue mug")));
        let page_two = SearchQuery {
            offset: 20,
            ..query.clone()
        };
        assert_ne!(key, SearchKey::new(&page_two, &words("blue mug")));
        assert!(SearchKey::new(&query, &words(&"x".repeat(300))).is_none());
        assert!(SearchKey::new(&SearchQuery::text("mug", 201), &words("mug")).is_none());
    }
}
