//! WeShop catalog search: a [tantivy] index kept beside the store.
//!
//! The store stays the source of truth. The index holds just what search needs — the words of
//! each product's name, description and category, and its id, seller, price, category and
//! availability as columns — so the shop can answer catalog searches, browsing, facets and
//! autocomplete from memory instead of scanning the database. The caller keeps it in step:
//! [`CatalogIndex::rebuild`] at start (or on `weshop reindex`), [`CatalogIndex::upsert`] when a
//! product is created or edited or its stock flips between "some" and "none",
//! [`CatalogIndex::remove`] when it is withdrawn. Results are product ids in order; the caller
//! fetches the products from the store (or its cache) to render them.
//!
//! # What matches
//!
//! Text is split into words exactly as the store does it ([`weshop_core::store::search_terms`]:
//! lower-cased alphanumeric runs), both when indexing and when searching. A product matches a
//! query when **every** query word matches some word of its name, description or category
//! (AND), where query word `q` matches indexed word `w` when:
//!
//! - `w == q` (exact);
//! - or `q` is the last query word and `w` starts with `q` (completion as you type: "mu" finds
//!   "mug", "blue mu" finds "blue mug");
//! - or `q` has 5 to [`MAX_FUZZY_CHARS`] characters and `w` is within one edit of it, or two
//!   edits when `q` has 9 or more characters (typos: "kettel" finds "kettle", "hedphones" finds
//!   "headphones"). An edit is inserting, deleting or replacing one character, or swapping two
//!   adjacent ones (optimal string alignment distance; see [`max_edits`]).
//!
//! Shorter words must match exactly (or as a prefix, if last). Each query word expands to at
//! most [`MAX_EXPANSIONS`] indexed words per field and kind (completions, typos), the most
//! frequent first among the first [`EXPANSION_SCAN`] candidates in dictionary order, so a
//! one-letter prefix can never make a search walk the whole dictionary. A query may have at
//! most [`MAX_QUERY_TERMS`] words; more is refused with [`SearchError::TooManyTerms`] (the HTTP
//! layer validates first; this is the index's own guard against unbounded work).
//!
//! # Ranking
//!
//! With text, the [`ProductSort::Relevance`] order is BM25 over the name (boosted
//! [`NAME_BOOST`]×), description and category, in tiers: for each query word, a product that
//! has the word exactly gets a large constant on top of its BM25 score, one that only has a
//! completion of it a smaller one, and one that only has a typo of it none, so exact matches
//! rank above completions, and completions above typos, whatever the term statistics. Ties go to
//! the newest product (highest id). Without text, relevance means newest first. The other sorts
//! are deterministic: price ascending or descending (ties by id ascending), name A–Z
//! (lower-cased, ties by id ascending) and newest (id descending) — the same as the in-memory
//! store.
//!
//! # Concurrency and consistency
//!
//! Writes are serialised by one `IndexWriter` behind a mutex, and each write method commits
//! before it returns, then publishes a new searcher; searches never take that lock. A search
//! sees either all of a write or none of it, and once a write method has returned, every later
//! search sees it.
//!
//! [tantivy]: https://docs.rs/tantivy
//! [`ProductSort::Relevance`]: weshop_core::store::ProductSort::Relevance

mod bonus;
mod cache;
mod collect;
mod document;
mod error;
mod expand;
mod index;
mod query;
mod schema;
mod snapshot;
mod words;

pub use document::IndexedProduct;
pub use error::SearchError;
pub use index::{CatalogIndex, WRITER_HEAP_BYTES};
pub use query::{SearchQuery, SearchResults, Suggestion};
pub use words::{
    EXPANSION_SCAN, MAX_EXPANSIONS, MAX_FUZZY_CHARS, MAX_QUERY_TERMS, MAX_SUGGESTIONS, NAME_BOOST,
    max_edits, query_words,
};
