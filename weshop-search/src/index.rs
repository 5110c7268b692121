//! The catalog index: one writer behind a mutex, lock-free readers over published snapshots.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy, NoMergePolicy};
use tantivy::query::EnableScoring;
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocSet, Index, IndexReader, IndexSettings, IndexSortByField, IndexWriter, Order as IndexOrder,
    ReloadPolicy, TERMINATED, TantivyDocument, Term,
};
use weshop_core::domain::{Category, ProductId, UserId};
use weshop_core::store::ProductSort;

use crate::cache::{MAX_KEY_BYTES, SearchKey};
use crate::collect::{Filters, Order, Page, collect};
use crate::document::{WORDS_TOKENIZER, WordTokenizer, to_document};
use crate::expand::text_query;
use crate::schema::{Fields, PRODUCT_KIND, names};
use crate::snapshot::Snapshot;
use crate::words::{MAX_SUGGESTIONS, query_words};
use crate::{IndexedProduct, SearchError, SearchQuery, SearchResults, Suggestion};

/// Memory the one indexing thread buffers documents in before it writes a segment: tantivy's
/// minimum. More would not pay: every commit starts a segment whose hash tables are sized by
/// it (a fixed cost per write), and a 100 000-product rebuild already takes under a second.
pub const WRITER_HEAP_BYTES: usize = 15_000_000;

/// Document-store blocks each segment keeps decompressed. None: only names are stored, read
/// for suggestions, whose answers are cached whole (and uncompressed blocks cost only a copy).
const DOC_STORE_CACHE_BLOCKS: usize = 0;

/// A search index over the catalog, kept beside the store (which stays the source of truth).
///
/// `Send + Sync`; share it in an [`Arc`]. Writes are serialised and each commits before it
/// returns; searches never wait for them and see every write that returned before they began
/// (see the crate docs).
pub struct CatalogIndex {
    index: Index,
    fields: Fields,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    /// What searches read: replaced, never changed, after each commit.
    snapshot: ArcSwap<Snapshot>,
    /// Remember answers per snapshot (see [`CatalogIndex::set_result_cache`]).
    cache_results: AtomicBool,
}

/// Documents are kept sorted newest first (by descending id) inside every segment, so the
/// newest products of a segment are its first documents: browsing needs no scan.
fn index_settings() -> IndexSettings {
    IndexSettings {
        sort_by_field: Some(IndexSortByField {
            field: names::ID.to_string(),
            order: IndexOrder::Desc,
        }),
        ..IndexSettings::default()
    }
}

impl CatalogIndex {
    /// An empty index in memory (tests, or a server that rebuilds at every start anyway).
    pub fn in_memory() -> Result<Self, SearchError> {
        let fields = Fields::new();
        let index = Index::builder()
            .schema(fields.schema.clone())
            .settings(index_settings())
            .create_in_ram()?;
        Self::with_index(index, fields)
    }

    /// The index in `dir` (created, with the directory, if missing), memory-mapped: a large
    /// catalog costs page cache rather than heap. Fails if another process has it open for
    /// writing, or if it was written by a version with another schema — then delete the
    /// directory and [`rebuild`](Self::rebuild) from the store.
    pub fn open_or_create(dir: &Path) -> Result<Self, SearchError> {
        let fields = Fields::new();
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        let directory = MmapDirectory::open(dir)
            .map_err(|e| SearchError::Directory(format!("{}: {e}", dir.display())))?;
        let index = Index::builder()
            .schema(fields.schema.clone())
            .settings(index_settings())
            .open_or_create(directory)?;
        if index.settings().sort_by_field != index_settings().sort_by_field {
            return Err(SearchError::Directory(format!(
                "{}: index written by another version; delete it and rebuild",
                dir.display()
            )));
        }
        Self::with_index(index, fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<Self, SearchError> {
        // Tokenizers are not stored with an index: register ours on every open.
        index.tokenizers().register(WORDS_TOKENIZER, WordTokenizer);
        let options = IndexWriterOptions::builder()
            .memory_budget_per_thread(WRITER_HEAP_BYTES)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let writer = index.writer_with_options(options)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
            .try_into()?;
        let snapshot = Snapshot::new(reader.searcher())?;
        Ok(Self {
            index,
            fields,
            reader,
            writer: Mutex::new(writer),
            snapshot: ArcSwap::from_pointee(snapshot),
            cache_results: AtomicBool::new(true),
        })
    }

    /// Replaces the whole index with `products`, in one commit: searches see the old catalog
    /// until the new one is complete. For the start of a server and `weshop reindex`. If an
    /// id appears twice, the last one wins.
    pub fn rebuild(
        &self,
        products: impl IntoIterator<Item = IndexedProduct>,
    ) -> Result<(), SearchError> {
        let mut writer = self.lock_writer()?;
        // Merged in one go below: background merges of a half-written catalog would be wasted,
        // and one racing ours would make it fail.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let rebuilt = self.replace_all(&mut writer, products);
        writer.set_merge_policy(Box::<LogMergePolicy>::default());
        rebuilt
    }

    fn replace_all(
        &self,
        writer: &mut IndexWriter,
        products: impl IntoIterator<Item = IndexedProduct>,
    ) -> Result<(), SearchError> {
        self.apply(writer, |writer, fields| {
            // Deletes every document added before this operation, none added after.
            writer.delete_term(Term::from_field_text(fields.kind, PRODUCT_KIND));
            let mut seen = HashSet::new();
            for product in products {
                let id = product.product.id;
                // A delete costs a lookup at commit: only for (unexpected) repeated ids.
                if !seen.insert(id) {
                    writer.delete_term(Term::from_field_i64(fields.id, id.get()));
                }
                writer.add_document(to_document(fields, &product))?;
            }
            Ok(())
        })?;
        self.publish()?;
        // One segment: every search pays a little per segment, and nothing else would merge
        // a catalog that is only read until its next write.
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
            self.publish()?;
        }
        Ok(())
    }

    /// Adds or replaces a product: after it was created or edited, or its stock went from
    /// none to some or back.
    pub fn upsert(&self, product: IndexedProduct) -> Result<(), SearchError> {
        self.upsert_many([product])
    }

    /// Adds or replaces several products in one commit (cheaper than one commit each). If
    /// an id appears twice, the last one wins.
    pub fn upsert_many(
        &self,
        products: impl IntoIterator<Item = IndexedProduct>,
    ) -> Result<(), SearchError> {
        self.write(|writer, fields| {
            for product in products {
                writer.delete_term(Term::from_field_i64(fields.id, product.product.id.get()));
                writer.add_document(to_document(fields, &product))?;
            }
            Ok(())
        })
    }

    /// Removes a product (withdrawn from sale). Removing one that is not there is fine.
    pub fn remove(&self, id: ProductId) -> Result<(), SearchError> {
        self.write(|writer, fields| {
            writer.delete_term(Term::from_field_i64(fields.id, id.get()));
            Ok(())
        })
    }

    /// Products in the index.
    pub fn len(&self) -> u64 {
        self.snapshot.load().searcher.num_docs()
    }

    /// True if the index has no products (a fresh index to rebuild).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Turns remembering answers on (the default) or off.
    ///
    /// Each committed state of the index remembers the searches and suggestions it answered
    /// (a bounded number, small pages only), so a popular query costs a lookup until the next
    /// write; a write starts afresh, so nothing is ever stale. Off, every search does the
    /// full work: for measuring, or if memory is very tight (the cache of one state holds
    /// at most about a thousand small answers).
    pub fn set_result_cache(&self, enabled: bool) {
        self.cache_results.store(enabled, Ordering::Relaxed);
    }

    /// Segments searches currently run over (for metrics: each costs a little per search;
    /// writes add small ones that background merges fold together).
    pub fn segment_count(&self) -> usize {
        self.snapshot.load().segments.len()
    }

    /// Runs `ops` and commits them as one, then publishes the new state to searches.
    fn write(
        &self,
        ops: impl FnOnce(&IndexWriter, &Fields) -> Result<(), SearchError>,
    ) -> Result<(), SearchError> {
        let mut writer = self.lock_writer()?;
        self.apply(&mut writer, ops)?;
        self.publish()
    }

    /// Runs `ops` and commits them as one. If anything fails, the pending operations are
    /// rolled back, so a later commit cannot apply half of them.
    fn apply(
        &self,
        writer: &mut IndexWriter,
        ops: impl FnOnce(&IndexWriter, &Fields) -> Result<(), SearchError>,
    ) -> Result<(), SearchError> {
        let done = ops(writer, &self.fields).and_then(|()| Ok(writer.commit().map(drop)?));
        if let Err(error) = done {
            // The original error is the one worth reporting; a failed rollback surfaces at the
            // next write.
            let _ = writer.rollback();
            return Err(error);
        }
        Ok(())
    }

    /// Makes the last commit visible to searches. Called with the writer locked, so snapshots
    /// are published in commit order.
    fn publish(&self) -> Result<(), SearchError> {
        self.reader.reload()?;
        let snapshot = Snapshot::new(self.reader.searcher())?;
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// The writer. If a writer panicked mid-write (a caller's iterator, say), its pending
    /// operations are rolled back first.
    fn lock_writer(&self) -> Result<MutexGuard<'_, IndexWriter>, SearchError> {
        match self.writer.lock() {
            Ok(writer) => Ok(writer),
            Err(poisoned) => {
                let mut writer = poisoned.into_inner();
                writer.rollback()?;
                self.writer.clear_poison();
                Ok(writer)
            }
        }
    }

    /// Searches the catalog: one page of product ids, the exact total and category facets.
    ///
    /// Refuses a text of more than [`MAX_QUERY_TERMS`](crate::MAX_QUERY_TERMS) words.
    pub fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let words = query_words(query.text.as_deref().unwrap_or_default())?;
        let snapshot = self.snapshot.load();
        let key = self
            .cache_results
            .load(Ordering::Relaxed)
            .then(|| SearchKey::new(query, &words))
            .flatten();
        if let Some(results) = key.as_ref().and_then(|key| snapshot.searches.get(key)) {
            return Ok(results);
        }
        let results = self.run_search(&snapshot, query, &words)?;
        if let Some(key) = key {
            snapshot.searches.insert(key, results.clone());
        }
        Ok(results)
    }

    fn run_search(
        &self,
        snapshot: &Snapshot,
        query: &SearchQuery,
        words: &[String],
    ) -> Result<SearchResults, SearchError> {
        let searcher = &snapshot.searcher;
        let filters = Filters {
            category: query.category.as_ref().map(Category::as_str),
            seller: query.seller.map(UserId::get),
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock_only: query.in_stock_only,
        };
        let order = match query.sort {
            ProductSort::Relevance if !words.is_empty() => Order::Score,
            ProductSort::Relevance | ProductSort::Newest => Order::Newest,
            ProductSort::PriceAsc => Order::PriceAsc,
            ProductSort::PriceDesc => Order::PriceDesc,
            ProductSort::Name => Order::Name,
        };
        if words.is_empty() && order == Order::Newest && filters.only_category() {
            return self.browse_newest(snapshot, filters.category, query.offset, query.limit);
        }
        let weight = if words.is_empty() {
            None
        } else {
            let text_fields = self.fields.text_fields();
            let Some(text) = text_query(searcher, &text_fields, words)? else {
                return Ok(SearchResults::default());
            };
            let scoring = if order == Order::Score {
                EnableScoring::enabled_from_searcher(searcher)
            } else {
                EnableScoring::disabled_from_searcher(searcher)
            };
            Some(text.weight(scoring)?)
        };
        let page = Page {
            order,
            offset: query.offset,
            limit: query.limit,
            facets: true,
        };
        let collected = collect(snapshot, weight.as_deref(), &filters, &page)?;
        Ok(SearchResults {
            ids: collected.hits.iter().map(|hit| hit.id).collect(),
            total: collected.total,
            category_facets: collected.facets,
        })
    }

    /// Newest first, at most a category filter: the first documents of each (sorted) segment,
    /// with totals and facets from the cached category counts. Costs the page, not the
    /// catalog.
    fn browse_newest(
        &self,
        snapshot: &Snapshot,
        wanted: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<SearchResults, SearchError> {
        let counts = snapshot.categories(&self.fields)?;
        let total: u64 = match wanted {
            None => counts.iter().map(|(_, n)| n).sum(),
            Some(wanted) => counts
                .iter()
                .find(|(c, _)| c.as_str() == wanted)
                .map_or(0, |(_, n)| *n),
        };
        let keep = offset
            .saturating_add(limit)
            .min(usize::try_from(total).unwrap_or(usize::MAX));
        let mut newest: Vec<i64> = Vec::new();
        let segments = snapshot.searcher.segment_readers().iter();
        for (segment, columns) in segments.zip(&snapshot.segments) {
            let mut taken = 0;
            let mut take = |doc| {
                if !segment.is_deleted(doc)
                    && let Some(id) = columns.id.get(doc)
                {
                    newest.push(id);
                    taken += 1;
                }
                taken < keep
            };
            match wanted {
                None => {
                    for doc in 0..segment.max_doc() {
                        if !take(doc) {
                            break;
                        }
                    }
                }
                Some(wanted) => {
                    let term = Term::from_field_text(self.fields.category, wanted);
                    let inverted = segment.inverted_index(self.fields.category)?;
                    if let Some(mut postings) =
                        inverted.read_postings(&term, IndexRecordOption::Basic)?
                    {
                        let mut doc = postings.doc();
                        while doc != TERMINATED && take(doc) {
                            doc = postings.advance();
                        }
                    }
                }
            }
        }
        newest.sort_unstable_by(|a, b| b.cmp(a));
        let ids = newest
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|id| {
                ProductId::new(id)
                    .map_err(|e| SearchError::Corrupt(format!("indexed product id: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(SearchResults {
            ids,
            total,
            category_facets: counts.to_vec(),
        })
    }

    /// Autocomplete: up to `limit` (at most [`MAX_SUGGESTIONS`]) distinct product names
    /// matching what was typed so far — every word, the last as a prefix, typos tolerated —
    /// best match first. Only names are searched: a suggestion should visibly fit what was
    /// typed. May return fewer than `limit` when many matching products share a name.
    pub fn suggest(&self, typed: &str, limit: usize) -> Result<Vec<Suggestion>, SearchError> {
        let limit = limit.min(MAX_SUGGESTIONS);
        let words = query_words(typed)?;
        if words.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let snapshot = self.snapshot.load();
        let key = (self.cache_results.load(Ordering::Relaxed)
            && words.iter().map(String::len).sum::<usize>() <= MAX_KEY_BYTES)
            .then(|| (words.clone(), limit));
        if let Some(suggestions) = key.as_ref().and_then(|key| snapshot.suggestions.get(key)) {
            return Ok(suggestions);
        }
        let suggestions = self.run_suggest(&snapshot, &words, limit)?;
        if let Some(key) = key {
            snapshot.suggestions.insert(key, suggestions.clone());
        }
        Ok(suggestions)
    }

    fn run_suggest(
        &self,
        snapshot: &Snapshot,
        words: &[String],
        limit: usize,
    ) -> Result<Vec<Suggestion>, SearchError> {
        let searcher = &snapshot.searcher;
        let Some(query) = text_query(searcher, &[(self.fields.name, 1.0)], words)? else {
            return Ok(Vec::new());
        };
        let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let page = Page {
            order: Order::Score,
            offset: 0,
            // Room for duplicate names.
            limit: limit * 4,
            facets: false,
        };
        let collected = collect(snapshot, Some(&*weight), &Filters::default(), &page)?;
        let mut seen = HashSet::new();
        let mut suggestions = Vec::with_capacity(limit);
        for hit in collected.hits {
            let doc: TantivyDocument = snapshot.searcher.doc(hit.address)?;
            let name = doc
                .get_first(self.fields.display_name)
                .and_then(|v| v.as_str());
            if let Some(name) = name
                && seen.insert(name.to_lowercase())
            {
                let name = name.to_string();
                suggestions.push(Suggestion { name, id: hit.id });
                if suggestions.len() == limit {
                    break;
                }
            }
        }
        Ok(suggestions)
    }

    /// Every category with its number of products, by name (like the store's).
    pub fn categories(&self) -> Result<Vec<(Category, u64)>, SearchError> {
        Ok(self.snapshot.load().categories(&self.fields)?.to_vec())
    }
}
