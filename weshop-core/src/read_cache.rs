//! Values recently read from the store per product, for pages that show many products: the
//! products themselves ([`ProductCache`]) and their sellable units (the search page's stock
//! badges).
//!
//! A search or a listing answers from the index with a page of ids; rendering the page needs the
//! products themselves. Reading twenty of them from the store one by one costs far more than the
//! search (measured: a SurrealDB page of 20 capped the listing at about 1,000 requests/s on 2
//! cores), so the service keeps the products it read in a bounded map and reads only the misses.
//!
//! It cannot serve a stale product, within one process: every product write goes through the
//! service, which forgets the product *after* the store write (see [`ProductCache::forget`]).
//! A read that missed fills the map only if no write was forgotten while it read the store
//! (a generation counter bumped by each [`forget`](ProductCache::forget)), so a slow read of the
//! old version cannot land after the write that replaced it. When several processes share one
//! store, each forgets the products the others wrote as their changes arrive through the store's
//! change feed ([`crate::changes`]): until then (milliseconds) a listing may show a price one
//! write old (carts and checkout price from it too, see `ShopService::priced_product`), while
//! product pages always read the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::{Product, ProductId};

/// Products read from the store.
pub(crate) type ProductCache = ReadCache<Arc<Product>>;

/// A bounded map of values read from the store, one per product.
pub(crate) struct ReadCache<V> {
    products: Mutex<HashMap<ProductId, V>>,
    /// Bumped by every [`ProductCache::forget`]; a fill that saw another value started before
    /// a write finished and is dropped.
    generation: AtomicU64,
    capacity: usize,
}

/// What a reader saw before it went to the store (see [`ProductCache::fill`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl<V: Clone> ReadCache<V> {
    /// A cache of at most `capacity` products; 0 turns it off.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            products: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
            capacity,
        }
    }

    /// The cached products among `ids`, in the same order (`None` for a miss), and the
    /// generation to hand to [`fill`](Self::fill) with what the misses read.
    pub(crate) fn get_many(&self, ids: &[ProductId]) -> (Vec<Option<V>>, Generation) {
        // Read before the lookups: a forget after this point makes the later fill stale.
        let generation = Generation(self.generation.load(Ordering::Acquire));
        let products = self.lock();
        let found = ids.iter().map(|id| products.get(id).cloned()).collect();
        (found, generation)
    }

    /// Remembers values read from the store, unless a product was forgotten since `seen`
    /// was taken (one of them may be older than what the store now holds).
    pub(crate) fn fill(&self, seen: Generation, read: impl IntoIterator<Item = (ProductId, V)>) {
        if self.capacity == 0 {
            return;
        }
        let mut products = self.lock();
        // Checked under the lock that `forget` bumps under: no forget can slip in between.
        if self.generation.load(Ordering::Acquire) != seen.0 {
            return;
        }
        for (id, value) in read {
            if products.len() >= self.capacity && !products.contains_key(&id) {
                // Full: make room by dropping whichever entry the map yields first. Not LRU,
                // but cheap, bounded, and popular products are read back at once.
                if let Some(evicted) = products.keys().next().copied() {
                    products.remove(&evicted);
                }
            }
            products.insert(id, value);
        }
    }

    /// The values of `ids`, in order: the cached ones, and `read`'s answer for each miss
    /// (`None`: the store has none), which then fills the cache as [`fill`](Self::fill) does.
    pub(crate) async fn read_through<E, F, Fut>(
        &self,
        ids: &[ProductId],
        mut read: F,
    ) -> Result<Vec<Option<V>>, E>
    where
        F: FnMut(ProductId) -> Fut,
        Fut: std::future::Future<Output = Result<Option<V>, E>>,
    {
        let (cached, seen) = self.get_many(ids);
        let mut fresh = Vec::new();
        let mut out = Vec::with_capacity(ids.len());
        for (&id, cached) in ids.iter().zip(cached) {
            let value = match cached {
                Some(value) => Some(value),
                None => {
                    let value = read(id).await?;
                    if let Some(value) = &value {
                        fresh.push((id, value.clone()));
                    }
                    value
                }
            };
            out.push(value);
        }
        if !fresh.is_empty() {
            self.fill(seen, fresh);
        }
        Ok(out)
    }

    /// Forgets a product after the store changed it (created, edited, withdrawn). Call it
    /// after the store write has committed.
    pub(crate) fn forget(&self, id: ProductId) {
        let mut products = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        products.remove(&id);
    }

    /// Forgets every product (changes by other processes may have been missed).
    pub(crate) fn forget_all(&self) {
        let mut products = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        products.clear();
    }

    /// Products held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProductId, V>> {
        // A panic elsewhere cannot leave the map half-changed: take it as it is.
        self.products.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Currency, Description, Money, ProductName, UserId, Weight};

    fn product(id: i64, price: i64) -> Arc<Product> {
        Arc::new(Product {
            id: ProductId::new(id).unwrap(),
            seller: UserId::new(1).unwrap(),
            name: ProductName::parse("Blue mug").unwrap(),
            description: Description::parse("A mug").unwrap(),
            category: Category::parse("kitchen").unwrap(),
            price: Money::from_minor(price, Currency::USD).unwrap(),
            weight: Weight::grams(300).unwrap(),
            images: Vec::new(),
        })
    }

    fn keyed(product: Arc<Product>) -> (ProductId, Arc<Product>) {
        (product.id, product)
    }

    fn id(n: i64) -> ProductId {
        ProductId::new(n).unwrap()
    }

    #[test]
    fn a_filled_product_is_found_until_forgotten() {
        let cache = ProductCache::new(10);
        let (found, seen) = cache.get_many(&[id(1)]);
        assert!(found[0].is_none());
        cache.fill(seen, [keyed(product(1, 100))]);
        let (found, _) = cache.get_many(&[id(2), id(1)]);
        assert!(found[0].is_none());
        assert_eq!(found[1].as_ref().unwrap().price.minor(), 100);
        cache.forget(id(1));
        assert!(cache.get_many(&[id(1)]).0[0].is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = ProductCache::new(10);
        // A reader misses and goes to the store, which still has the old price...
        let (_, seen) = cache.get_many(&[id(1)]);
        let old = product(1, 100);
        // ...while a writer commits a new price and forgets the product...
        cache.forget(id(1));
        // ...then the reader comes back with the old one: it must not stick.
        cache.fill(seen, [keyed(old)]);
        assert!(cache.get_many(&[id(1)]).0[0].is_none());
        // A read that starts after the write is kept.
        let (_, seen) = cache.get_many(&[id(1)]);
        cache.fill(seen, [keyed(product(1, 200))]);
        assert_eq!(
            cache.get_many(&[id(1)]).0[0]
                .as_ref()
                .unwrap()
                .price
                .minor(),
            200
        );
    }

    #[test]
    fn read_through_reads_only_the_misses_and_keeps_what_it_found() {
        futures::executor::block_on(async {
            let cache: ReadCache<u64> = ReadCache::new(10);
            let (_, seen) = cache.get_many(&[id(1)]);
            cache.fill(seen, [(id(1), 11)]);
            let mut asked = Vec::new();
            let got = cache
                .read_through(&[id(1), id(2), id(3)], |n| {
                    asked.push(n);
                    async move { Ok::<_, ()>((n != id(3)).then_some(n.get() as u64 * 10)) }
                })
                .await
                .unwrap();
            assert_eq!(got, vec![Some(11), Some(20), None]);
            assert_eq!(asked, vec![id(2), id(3)], "only the misses are read");
            assert_eq!(cache.get_many(&[id(2), id(3)]).0, vec![Some(20), None]);
        });
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = ProductCache::new(3);
        for n in 1..=10 {
            let (_, seen) = cache.get_many(&[id(n)]);
            cache.fill(seen, [keyed(product(n, n * 10))]);
            assert!(cache.len() <= 3);
        }
        // The last one filled is always there.
        assert!(cache.get_many(&[id(10)]).0[0].is_some());
        let off = ProductCache::new(0);
        let (_, seen) = off.get_many(&[id(1)]);
        off.fill(seen, [keyed(product(1, 1))]);
        assert_eq!(off.len(), 0);
    }
}
