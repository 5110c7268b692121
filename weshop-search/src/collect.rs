//! One pass over the documents a query matches: filters, category facets, the exact total and
//! the top of the requested page, all read from fast-field columns.
//!
//! Filters are checked here rather than as tantivy sub-queries so that one pass can count
//! facets that ignore the category filter while totalling results that respect it, and so
//! that a filter costs one column read per matching document instead of a walk over the
//! whole column.
//!
//! Ties are broken by product id, and every segment keeps its documents sorted by descending
//! id (see `index_settings`), so within a segment "newer" is simply "lower document number":
//! a pass ranks by document number and reads the id column only for the hits it returns.

use std::collections::{BTreeMap, BinaryHeap};

use tantivy::query::Weight;
use tantivy::{DocAddress, DocId, Score, SegmentReader, TERMINATED};
use weshop_core::domain::{Category, ProductId};

use crate::SearchError;
use crate::snapshot::{SegmentColumns, Snapshot};

/// Filters on column values; every one given must hold.
#[derive(Debug, Default)]
pub(crate) struct Filters<'a> {
    pub category: Option<&'a str>,
    pub seller: Option<i64>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock_only: bool,
}

impl Filters<'_> {
    /// True if no filter other than the category is set.
    pub fn only_category(&self) -> bool {
        self.seller.is_none()
            && self.min_price.is_none()
            && self.max_price.is_none()
            && !self.in_stock_only
    }
}

/// The order of hits; ties always go by id (see the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    /// Best score first, then newest.
    Score,
    /// Highest id first.
    Newest,
    /// Cheapest first, then lowest id.
    PriceAsc,
    /// Dearest first, then lowest id.
    PriceDesc,
    /// Lower-cased name A–Z, then lowest id.
    Name,
}

/// What to collect besides the page.
#[derive(Debug)]
pub(crate) struct Page {
    pub order: Order,
    pub offset: usize,
    pub limit: usize,
    /// Count category facets (costs a column read per match).
    pub facets: bool,
}

/// A hit: the product and where its document is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub id: ProductId,
    pub address: DocAddress,
}

/// What one pass found.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    pub hits: Vec<Hit>,
    pub total: u64,
    pub facets: Vec<(Category, u64)>,
}

/// A sort position across segments: smaller comes first. `Text` is only used for the name
/// order when there are several segments, whose name ordinals do not compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Num(u64),
    Text(String),
}

/// Runs `weight` (or takes every document, if `None`) through `filters` and collects `page`.
pub(crate) fn collect(
    snapshot: &Snapshot,
    weight: Option<&dyn Weight>,
    filters: &Filters<'_>,
    page: &Page,
) -> Result<Collected, SearchError> {
    let keep = page.offset.saturating_add(page.limit);
    let mut total = 0;
    let mut facets: BTreeMap<&Category, u64> = BTreeMap::new();
    let mut entries: Vec<(Key, u64, Hit)> = Vec::new();
    let one_segment = snapshot.segments.len() == 1;
    let segments = snapshot.searcher.segment_readers().iter();
    for (ord, (segment, columns)) in segments.zip(&snapshot.segments).enumerate() {
        let segment_ord = u32::try_from(ord)
            .map_err(|_| SearchError::Corrupt("too many segments".to_string()))?;
        let mut pass = SegmentPass::open(segment, columns, filters, page, keep)?;
        match weight {
            Some(weight) => {
                let mut scorer = weight.scorer(segment, 1.0)?;
                let scored = page.order == Order::Score;
                let mut doc = scorer.doc();
                while doc != TERMINATED {
                    let score = if scored { scorer.score() } else { 0.0 };
                    pass.visit(doc, score)?;
                    doc = scorer.advance();
                }
            }
            None => {
                for doc in 0..segment.max_doc() {
                    pass.visit(doc, 0.0)?;
                }
            }
        }
        total += pass.total;
        for (ord, &count) in pass.facet_counts.iter().enumerate() {
            if let Some(category) = columns.categories.get(ord).filter(|_| count > 0) {
                *facets.entry(category).or_default() += count;
            }
        }
        pass.drain_top(segment_ord, one_segment, &mut entries)?;
    }
    entries.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let hits = entries
        .into_iter()
        .skip(page.offset)
        .take(page.limit)
        .map(|(_, _, hit)| hit)
        .collect();
    Ok(Collected {
        hits,
        total,
        facets: facets.into_iter().map(|(c, n)| (c.clone(), n)).collect(),
    })
}

/// The filters and counters of one segment's pass.
struct SegmentPass<'a> {
    segment: &'a SegmentReader,
    columns: &'a SegmentColumns,
    order: Order,
    keep: usize,
    seller: Option<i64>,
    /// Inclusive price range, if filtered.
    price_range: Option<(i64, i64)>,
    in_stock_only: bool,
    /// Read categories (for facets or the filter).
    categories: bool,
    /// The category filter as this segment's ordinal: `Some(None)` if no document here has it.
    wanted_category: Option<Option<u64>>,
    /// Matches per category ordinal, if facets are wanted.
    facet_counts: Vec<u64>,
    total: u64,
    /// The `keep` best (smallest) positions so far: (primary, tie-break, document), where the
    /// tie-break is the document number or its complement (see the module docs).
    top: BinaryHeap<(u64, u64, DocId)>,
}

impl<'a> SegmentPass<'a> {
    fn open(
        segment: &'a SegmentReader,
        columns: &'a SegmentColumns,
        filters: &Filters<'_>,
        page: &Page,
        keep: usize,
    ) -> Result<Self, SearchError> {
        let wanted_category = match filters.category {
            Some(wanted) => Some(columns.category.dictionary().term_ord(wanted)?),
            None => None,
        };
        let price_range = (filters.min_price.is_some() || filters.max_price.is_some()).then(|| {
            (
                filters.min_price.unwrap_or(i64::MIN),
                filters.max_price.unwrap_or(i64::MAX),
            )
        });
        Ok(Self {
            segment,
            columns,
            order: page.order,
            keep,
            seller: filters.seller,
            price_range,
            in_stock_only: filters.in_stock_only,
            categories: page.facets || filters.category.is_some(),
            wanted_category,
            facet_counts: if page.facets {
                vec![0; columns.categories.len()]
            } else {
                Vec::new()
            },
            total: 0,
            top: BinaryHeap::new(),
        })
    }

    /// Filters, counts and ranks one matching document.
    #[inline]
    fn visit(&mut self, doc: DocId, score: Score) -> Result<(), SearchError> {
        let columns = self.columns;
        if self.segment.is_deleted(doc) {
            return Ok(());
        }
        if let Some(seller) = self.seller
            && columns.seller.get(doc) != Some(seller)
        {
            return Ok(());
        }
        if let Some((min, max)) = self.price_range
            && !columns
                .price
                .get(doc)
                .is_some_and(|p| (min..=max).contains(&p))
        {
            return Ok(());
        }
        if self.in_stock_only && columns.in_stock.get(doc) != Some(1) {
            return Ok(());
        }
        if self.categories {
            let ord = columns.category_ord(doc);
            if let Some(count) = ord.and_then(|o| self.facet_counts.get_mut(o as usize)) {
                *count += 1;
            }
            if let Some(wanted) = self.wanted_category
                && (wanted.is_none() || ord != wanted)
            {
                return Ok(());
            }
        }
        self.total += 1;
        if self.keep == 0 {
            return Ok(());
        }
        // Lower document numbers are newer products.
        let newer_first = u64::from(doc);
        let older_first = u64::from(!doc);
        let entry = match self.order {
            Order::Score => (descending_score(score), newer_first, doc),
            Order::Newest => (0, newer_first, doc),
            Order::PriceAsc => (sortable(self.price(doc)?), older_first, doc),
            Order::PriceDesc => (!sortable(self.price(doc)?), older_first, doc),
            Order::Name => {
                let ord = columns.name_key_ord(doc).ok_or_else(|| missing("name"))?;
                (ord, older_first, doc)
            }
        };
        if self.top.len() < self.keep {
            self.top.push(entry);
        } else if let Some(mut worst) = self.top.peek_mut()
            && entry < *worst
        {
            *worst = entry;
        }
        Ok(())
    }

    fn price(&self, doc: DocId) -> Result<i64, SearchError> {
        self.columns.price.get(doc).ok_or_else(|| missing("price"))
    }

    /// Moves this segment's top into `entries`, with positions comparable across segments.
    fn drain_top(
        &mut self,
        segment_ord: u32,
        one_segment: bool,
        entries: &mut Vec<(Key, u64, Hit)>,
    ) -> Result<(), SearchError> {
        let mut name = String::new();
        for (primary, _, doc) in std::mem::take(&mut self.top) {
            let id = self.columns.id.get(doc).ok_or_else(|| missing("id"))?;
            let key = if self.order == Order::Name && !one_segment {
                self.columns.name_key.ord_to_str(primary, &mut name)?;
                Key::Text(name.clone())
            } else {
                Key::Num(primary)
            };
            let tie_break = match self.order {
                Order::Score | Order::Newest => descending_id(id),
                Order::PriceAsc | Order::PriceDesc | Order::Name => sortable(id),
            };
            let id = ProductId::new(id)
                .map_err(|e| SearchError::Corrupt(format!("indexed product id: {e}")))?;
            let address = DocAddress::new(segment_ord, doc);
            entries.push((key, tie_break, Hit { id, address }));
        }
        Ok(())
    }
}

fn missing(column: &str) -> SearchError {
    SearchError::Corrupt(format!("a document has no {column} value"))
}

/// `i64` to `u64`, preserving order.
fn sortable(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

/// Higher ids (newer products) first.
fn descending_id(id: i64) -> u64 {
    !sortable(id)
}

/// Higher scores first. Maps the float's bits so that unsigned order is float order (for
/// every non-NaN value; scores are never NaN), then reverses it.
fn descending_score(score: Score) -> u64 {
    let bits = score.to_bits();
    let ascending = if bits >> 31 == 1 {
        !bits
    } else {
        bits | (1 << 31)
    };
    u64::from(!ascending)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_sort_like_their_values() {
        assert!(sortable(-5) < sortable(0) && sortable(0) < sortable(7));
        assert!(descending_id(9) < descending_id(3));
        let scores = [10_000.5, 3.0, 0.25, 0.0, -1.0];
        for pair in scores.windows(2) {
            assert!(
                descending_score(pair[0]) < descending_score(pair[1]),
                "{pair:?}"
            );
        }
    }
}
