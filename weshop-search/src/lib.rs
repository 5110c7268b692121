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
//! # Results
//!
//! [`CatalogIndex::search`] returns one page of product ids in order, the exact number of
//! matches, and category facets: for each category, how many products match everything in
//! the query **except its category filter**, so a shopper who picked one category still sees
//! what the others hold. [`CatalogIndex::suggest`] returns up to [`MAX_SUGGESTIONS`] distinct
//! product names for autocomplete; [`CatalogIndex::categories`] counts the whole catalog.
//!
//! # Concurrency, consistency and cost
//!
//! Writes are serialised by one `IndexWriter` behind a mutex, and each write method commits
//! before it returns (a few milliseconds: batch bursts with [`CatalogIndex::upsert_many`]),
//! then publishes a new immutable snapshot; searches never take that lock. A search sees
//! either all of a write or none of it, and once a write method has returned, every later
//! search sees it.
//!
//! A search costs a pass over the products its words match (the exact total and the facets
//! need every one), so it grows with the catalog; browsing newest first without text costs
//! only the page, thanks to segments kept sorted newest first. Each snapshot also remembers
//! the answers it gave (bounded, see [`CatalogIndex::set_result_cache`]), so the popular
//! queries that dominate a shop's traffic cost a lookup until the next write.
//!
//! ```
//! use weshop_core::domain::{
//!     Category, Currency, Description, Money, Product, ProductId, ProductName, UserId, Weight,
//! };
//! use weshop_search::{CatalogIndex, IndexedProduct, SearchQuery};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mug = Product {
//!     id: ProductId::new(1)?,
//!     seller: UserId::new(7)?,
//!     name: ProductName::parse("Blue mug")?,
//!     description: Description::parse("Stoneware, 350 ml")?,
//!     category: Category::parse("kitchen")?,
//!     price: Money::from_minor(1_250, Currency::USD)?,
//!     weight: Weight::grams(350)?,
//!     images: Vec::new(),
//! };
//! let index = CatalogIndex::in_memory()?;
//! index.rebuild([IndexedProduct::new(mug, 3)])?;
//! let results = index.search(&SearchQuery::text("blue mu", 20))?;
//! assert_eq!(results.ids, [ProductId::new(1)?]);
//! assert_eq!(index.suggest("mu", 5)?[0].name, "Blue mug");
//! assert_eq!(index.search(&SearchQuery::text("stonewear", 20))?.total, 1); // a typo
//! # Ok(())
//! # }
//! ```
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
mod port;
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
