//! One committed state of the index, as searches see it: the searcher, each segment's columns
//! opened once, and what has been worked out about it (category counts).

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::OnceLock;

use tantivy::columnar::{Cardinality, Column, StrColumn};
use tantivy::{DocId, Searcher, SegmentReader};
use weshop_core::domain::Category;

use crate::cache::{Cache, SearchKey, SuggestKey};
use crate::schema::{Fields, names};
use crate::{SearchError, SearchResults, Suggestion};

/// A searcher and what searches need beside it. Published whole after each commit and never
/// changed after, so a search that loaded it sees one consistent state throughout.
pub(crate) struct Snapshot {
    pub searcher: Searcher,
    /// The columns of each segment, in the searcher's segment order. Opening a column parses
    /// its header; doing it once per commit rather than once per search saves microseconds
    /// per segment on every search.
    pub segments: Vec<SegmentColumns>,
    /// Products per category over the whole catalog, computed on first use.
    categories: OnceLock<Vec<(Category, u64)>>,
    /// Searches answered on this state.
    pub searches: Cache<SearchKey, SearchResults>,
    /// Suggestions given on this state.
    pub suggestions: Cache<SuggestKey, Vec<Suggestion>>,
}

impl Snapshot {
    pub fn new(searcher: Searcher) -> Result<Self, SearchError> {
        let segments = searcher
            .segment_readers()
            .iter()
            .map(SegmentColumns::open)
            .collect::<Result<_, _>>()?;
        Ok(Self {
            searcher,
            segments,
            categories: OnceLock::new(),
            searches: Cache::new(),
            suggestions: Cache::new(),
        })
    }

    /// Products per category over the whole catalog, by name.
    pub fn categories(&self, fields: &Fields) -> Result<&[(Category, u64)], SearchError> {
        if let Some(counts) = self.categories.get() {
            return Ok(counts);
        }
        // Two searches racing here both count; the first to finish is kept. Same answer.
        let counts = self.count_categories(fields)?;
        Ok(self.categories.get_or_init(|| counts))
    }

    /// From the term dictionary's document frequencies where a segment has no deletions, else
    /// by reading the category of every live document.
    fn count_categories(&self, fields: &Fields) -> Result<Vec<(Category, u64)>, SearchError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (segment, columns) in self.searcher.segment_readers().iter().zip(&self.segments) {
            if segment.has_deletes() {
                let mut per_ord = vec![0u64; columns.category.num_terms()];
                for doc in segment.doc_ids_alive() {
                    if let Some(count) = columns
                        .category_ord(doc)
                        .and_then(|ord| per_ord.get_mut(ord as usize))
                    {
                        *count += 1;
                    }
                }
                for (category, count) in columns.categories.iter().zip(per_ord) {
                    if count > 0 {
                        *counts.entry(category.to_string()).or_default() += count;
                    }
                }
            } else {
                let inverted = segment.inverted_index(fields.category)?;
                let mut terms = inverted.terms().stream()?;
                while let Some((key, info)) = terms.next() {
                    let key = std::str::from_utf8(key)
                        .map_err(|e| SearchError::Corrupt(format!("indexed category: {e}")))?;
                    *counts.entry(key.to_string()).or_default() += u64::from(info.doc_freq);
                }
            }
        }
        counts
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(name, count)| Ok((category(&name)?, count)))
            .collect()
    }
}

/// A category read back from the index.
pub(crate) fn category(name: &str) -> Result<Category, SearchError> {
    Category::parse(name).map_err(|e| SearchError::Corrupt(format!("indexed category: {e}")))
}

/// The fast-field columns of one segment.
pub(crate) struct SegmentColumns {
    /// Every category in the segment, by ordinal (decoded once: facets need them all).
    pub categories: Vec<Category>,
    pub id: Values<i64>,
    pub seller: Values<i64>,
    pub price: Values<i64>,
    pub in_stock: Values<u64>,
    /// Category names; the ordinals sort like the names.
    pub category: StrColumn,
    category_ords: Values<u64>,
    /// Lower-cased names; the ordinals sort like the names.
    pub name_key: StrColumn,
    name_key_ords: Values<u64>,
}

impl SegmentColumns {
    fn open(segment: &SegmentReader) -> Result<Self, SearchError> {
        let columns = segment.fast_fields();
        let category = str_column(segment, names::CATEGORY)?;
        let name_key = str_column(segment, names::NAME_KEY)?;
        let mut categories = Vec::with_capacity(category.num_terms());
        let mut name = String::new();
        for ord in 0..category.num_terms() as u64 {
            if !category.ord_to_str(ord, &mut name)? {
                return Err(SearchError::Corrupt(format!("no category {ord}")));
            }
            categories.push(self::category(&name)?);
        }
        Ok(Self {
            categories,
            id: Values::new(columns.i64(names::ID)?),
            seller: Values::new(columns.i64(names::SELLER)?),
            price: Values::new(columns.i64(names::PRICE)?),
            in_stock: Values::new(columns.u64(names::IN_STOCK)?),
            category_ords: Values::new(category.ords().clone()),
            name_key_ords: Values::new(name_key.ords().clone()),
            category,
            name_key,
        })
    }

    /// The ordinal of a document's category in [`Self::category`].
    #[inline]
    pub fn category_ord(&self, doc: DocId) -> Option<u64> {
        self.category_ords.get(doc)
    }

    /// The ordinal of a document's lower-cased name in [`Self::name_key`].
    #[inline]
    pub fn name_key_ord(&self, doc: DocId) -> Option<u64> {
        self.name_key_ords.get(doc)
    }
}

fn str_column(segment: &SegmentReader, name: &str) -> Result<StrColumn, SearchError> {
    segment
        .fast_fields()
        .str(name)?
        .ok_or_else(|| SearchError::Corrupt(format!("no {name} column")))
}

/// A column read one document at a time. Every document has every field, so columns are
/// normally "full" and a value is read straight from the values, skipping the generic
/// optional/multi-valued index lookup of `Column::first` (a third of the cost of a read).
#[derive(Clone)]
pub(crate) struct Values<T> {
    column: Column<T>,
    full: bool,
}

impl<T: PartialOrd + Copy + Debug + Send + Sync + 'static> Values<T> {
    fn new(column: Column<T>) -> Self {
        let full = column.get_cardinality() == Cardinality::Full;
        Self { column, full }
    }

    /// The document's value, if it has one.
    #[inline]
    pub fn get(&self, doc: DocId) -> Option<T> {
        if self.full {
            Some(self.column.values.get_val(doc))
        } else {
            self.column.first(doc)
        }
    }
}
