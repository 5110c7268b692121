//! The search index port: a read model of the catalog that answers searches, facets and
//! autocomplete without scanning the store.
//!
//! The store stays the source of truth. The index is derived from it: rebuilt from
//! [`CatalogStore::catalog`](crate::store::CatalogStore::catalog) whenever the shop is built
//! (so a crash between a store write and the index update heals at the next start), and kept in
//! step by the service and the fulfilment driver right after each store write that changes what
//! a search would answer: a product created, edited or withdrawn, or its stock crossing zero.
//! Results are ids only; the service fetches the products from the store through its product
//! cache (forgotten on every product write), so prices and images are never stale.
//!
//! `weshop-search` implements it with tantivy; the core knows nothing of tantivy. The methods
//! are synchronous because an in-process index answers in microseconds and commits in a few
//! milliseconds; an implementation that does IO should do it on its own threads.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Mutex;

use crate::domain::{Category, Product, ProductId, ProductName, StockDelta, sellable};
use crate::read_cache::ReadCache;
use crate::shop::CatalogQuery;
use crate::store::{CatalogStore, StoreError};

/// A product as the index sees it: the product and how many units can be sold now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedProduct {
    /// The product, as stored.
    pub product: Product,
    /// Units that can be sold now, summed over warehouses (on hand + incoming − reserved).
    /// Only "any" or "none" matters to a search (the in-stock filter), so a stock change needs
    /// an upsert only when it crosses zero.
    pub units_available: u64,
}

impl IndexedProduct {
    /// `product` with `units_available` sellable units.
    pub fn new(product: Product, units_available: u64) -> Self {
        Self {
            product,
            units_available,
        }
    }
}

/// One page of ids and what the whole result looks like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchHits {
    /// The page's products, in order.
    pub ids: Vec<ProductId>,
    /// Matches over all pages.
    pub total: u64,
    /// For each category, the matches if the category filter were left out, by name; empty
    /// categories are left out.
    pub category_facets: Vec<(Category, u64)>,
}

/// Why the index could not answer or change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// The query has more words than the index searches for; nothing was searched.
    #[error("the query has {words} words; at most {max} are searched")]
    TooManyTerms {
        /// Words in the query.
        words: usize,
        /// The limit.
        max: usize,
    },
    /// The index failed (IO, corruption); rebuilding it from the store heals it.
    #[error("search index: {0}")]
    Failed(String),
}

/// A search index over the catalog (see the module docs for who keeps it in step).
pub trait SearchIndex: Send + Sync {
    /// Replaces the whole index with `products`.
    fn rebuild(&self, products: Vec<IndexedProduct>) -> Result<(), IndexError>;
    /// Adds or replaces these products (by id), in one commit.
    fn upsert_many(&self, products: Vec<IndexedProduct>) -> Result<(), IndexError>;
    /// Removes a product; nothing happens if it is not indexed.
    fn remove(&self, id: ProductId) -> Result<(), IndexError>;
    /// One page of matching ids, the total and the category facets.
    fn search(&self, query: &CatalogQuery) -> Result<SearchHits, IndexError>;
    /// Up to `limit` products whose names complete what was typed, best first, one per name.
    fn suggest(
        &self,
        typed: &str,
        limit: usize,
    ) -> Result<Vec<(ProductId, ProductName)>, IndexError>;
    /// Every category with its number of products, by name.
    fn categories(&self) -> Result<Vec<(Category, u64)>, IndexError>;
}

/// Replaces `index` with the store's whole catalog; returns how many products it holds.
/// [`ShopBuilder::build`](crate::assembly::ShopBuilder::build) does this at every start;
/// `weshop reindex` does it alone.
pub async fn rebuild_index<S: CatalogStore + ?Sized>(
    index: &dyn SearchIndex,
    store: &S,
) -> Result<usize, StoreError> {
    rebuild_with(index, store, |_| ()).await
}

/// Replaces `index` with the store's whole catalog, showing each product to `seen` first.
async fn rebuild_with<S: CatalogStore + ?Sized>(
    index: &dyn SearchIndex,
    store: &S,
    mut seen: impl FnMut(&IndexedProduct),
) -> Result<usize, StoreError> {
    let products: Vec<IndexedProduct> = store
        .catalog()
        .await?
        .into_iter()
        .map(|(product, units)| IndexedProduct::new(product, units))
        .inspect(|p| seen(p))
        .collect();
    let count = products.len();
    index
        .rebuild(products)
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(count)
}

/// Keeps an index in step with the store, for the service and the driver alike.
///
/// Each update re-reads what it indexes from the store, under one lock, so updates racing each
/// other cannot leave an older read in the index last: whichever flush runs last reads the
/// store after every write that preceded it. Updates are group-committed: a caller adds its
/// product to a pending batch, then whoever holds the lock flushes the whole batch in one
/// index commit (on a blocking thread), so a burst of writes (a seller's import, many
/// checkouts) costs one commit per burst rather than one each, and every caller still returns
/// only once its product is searchable. Measured with the catalog bench, loading products 32
/// at a time: 155 per second before, 2,500 after (in-memory store). An index that fails to update is logged and left; the store write stands, and
/// the next start rebuilds the index from the store.
pub(crate) struct IndexKeeper {
    index: Arc<dyn SearchIndex>,
    pending: std::sync::Mutex<Pending>,
    /// Every batch numbered below this has been flushed (or failed and was logged).
    flushed: AtomicU64,
    lock: Mutex<()>,
    /// Sellable units per product, as last read from the store: every stock change the shop
    /// commits passes through [`IndexKeeper::stock_changed`], which forgets the products it
    /// touched, so result pages can show stock badges without a stock read per product.
    pub(crate) units: ReadCache<u64>,
    /// Whether each product was indexed as in stock: a stock change heard from another node
    /// costs an index write only when it flips that.
    in_stock: std::sync::Mutex<std::collections::HashMap<ProductId, bool>>,
}

/// Products waiting for the next flush, and that batch's number.
#[derive(Default)]
struct Pending {
    ids: BTreeSet<ProductId>,
    batch: u64,
}

impl IndexKeeper {
    /// Keeps `index`, with room for the units of `cached` products.
    pub(crate) fn new(index: Arc<dyn SearchIndex>, cached: usize) -> Self {
        Self {
            index,
            pending: std::sync::Mutex::new(Pending::default()),
            flushed: AtomicU64::new(0),
            lock: Mutex::new(()),
            units: ReadCache::new(cached),
            in_stock: std::sync::Mutex::default(),
        }
    }

    /// The index, to search.
    pub(crate) fn index(&self) -> &dyn SearchIndex {
        &*self.index
    }

    /// Replaces the index with the store's whole catalog.
    pub(crate) async fn rebuild<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
    ) -> Result<usize, StoreError> {
        let _guard = self.lock.lock().await;
        let mut in_stock = std::collections::HashMap::new();
        let count = rebuild_with(&*self.index, store, |p| {
            in_stock.insert(p.product.id, p.units_available > 0);
        })
        .await?;
        *self.in_stock() = in_stock;
        Ok(count)
    }

    fn in_stock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<ProductId, bool>> {
        self.in_stock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-indexes a product as stored now (created or edited), or removes it if it is gone.
    pub(crate) async fn product_changed<S: CatalogStore + ?Sized>(&self, store: &S, id: ProductId) {
        self.flush(store, [id]).await;
    }

    /// Re-indexes, in one commit, the products another process edited (`products`), and
    /// those whose stock it changed (`stock`) if that flipped whether they are in stock.
    pub(crate) async fn changed_elsewhere<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
        products: &BTreeSet<ProductId>,
        stock: &BTreeSet<ProductId>,
    ) {
        let mut ids = products.clone();
        for &id in stock {
            self.units.forget(id);
            if ids.contains(&id) {
                continue;
            }
            let indexed = self.in_stock().get(&id).copied();
            match store.stock(id).await {
                Ok(now) => {
                    let now = now.iter().any(|(_, s)| s.available() > 0);
                    if indexed != Some(now) {
                        ids.insert(id);
                    }
                }
                Err(_) => {
                    ids.insert(id);
                }
            }
        }
        if !ids.is_empty() {
            self.flush(store, ids).await;
        }
    }

    /// After stock deltas were committed: re-indexes the products whose availability crossed
    /// zero. A delta that keeps on hand + incoming − reserved (an arrival moving incoming to on
    /// hand, a packing taking reserved units off the shelf) cannot flip it, so only products
    /// with a net change cost a stock read, and only a flip costs an index write.
    pub(crate) async fn stock_changed<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
        deltas: &[StockDelta],
    ) {
        self.stock_changed_to(store, deltas, &BTreeMap::new()).await
    }

    /// [`Self::stock_changed`] for a caller that read some products' sellable units after the
    /// commit (`after`): only the others are read again.
    pub(crate) async fn stock_changed_to<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
        deltas: &[StockDelta],
        after: &BTreeMap<ProductId, u64>,
    ) {
        let mut net: BTreeMap<ProductId, i64> = BTreeMap::new();
        for d in deltas {
            *net.entry(d.product).or_default() += d.on_hand + d.incoming - d.reserved;
        }
        for id in net.keys() {
            self.units.forget(*id);
        }
        let mut flipped = Vec::new();
        for (id, change) in net {
            if change == 0 {
                continue;
            }
            let units = match after.get(&id) {
                Some(units) => Ok(*units),
                None => store.stock(id).await.map(|stock| sellable(&stock)),
            };
            match units {
                Ok(after) => {
                    let before = after as i64 - change;
                    if (before > 0) != (after > 0) {
                        flipped.push(id);
                    }
                }
                // Unknown: index it anyway (it costs a write, never a wrong answer).
                Err(_) => flipped.push(id),
            }
        }
        if !flipped.is_empty() {
            self.flush(store, flipped).await;
        }
    }

    /// Adds `ids` to the pending batch and, under the lock, indexes the whole batch as the
    /// store has it now, in one commit — unless another caller flushed that batch while this
    /// one waited for the lock. That check keeps a steady stream of writers from turning into
    /// a convoy of one-product commits: each waiter whose ids went out with someone else's
    /// batch returns at once, so the next flush carries everything that arrived meanwhile.
    async fn flush<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
        ids: impl IntoIterator<Item = ProductId>,
    ) {
        let mine = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.ids.extend(ids);
            pending.batch
        };
        let _guard = self.lock.lock().await;
        if self.flushed.load(Ordering::Acquire) > mine {
            return;
        }
        let (batch, ids) = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let batch = pending.batch;
            pending.batch += 1;
            (batch, std::mem::take(&mut pending.ids))
        };
        if !ids.is_empty()
            && let Err(error) = self.refresh(store, &ids).await
        {
            tracing::warn!(products = ids.len(), %error, "search index not updated");
        }
        self.flushed.store(batch + 1, Ordering::Release);
    }

    /// Indexes `ids` as the store has them now (caller holds the lock).
    async fn refresh<S: CatalogStore + ?Sized>(
        &self,
        store: &S,
        ids: &BTreeSet<ProductId>,
    ) -> Result<(), String> {
        let mut upserts = Vec::with_capacity(ids.len());
        let mut removed = Vec::new();
        for &id in ids {
            let Some(product) = store.product(id).await.map_err(|e| e.to_string())? else {
                self.in_stock().remove(&id);
                removed.push(id);
                continue;
            };
            let units: u64 = store
                .stock(id)
                .await
                .map_err(|e| e.to_string())?
                .iter()
                .map(|(_, s)| s.available())
                .sum();
            self.in_stock().insert(id, units > 0);
            upserts.push(IndexedProduct::new(product, units));
        }
        // A commit takes milliseconds of CPU and waits for the index's own threads: off the
        // async workers, so the requests (and the other writers joining this batch) go on.
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || {
            for id in removed {
                index.remove(id)?;
            }
            if upserts.is_empty() {
                return Ok(());
            }
            index.upsert_many(upserts)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }
}
