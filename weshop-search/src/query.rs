//! What a search asks and what it answers.

use weshop_core::domain::{Category, ProductId, UserId};
use weshop_core::store::{ProductQuery, ProductSort};

/// A catalog search: every given filter must hold.
///
/// Like the store's [`ProductQuery`] (and convertible from one), plus `in_stock_only`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Words that must all match the name, description or category (see the crate docs for
    /// prefixes and typos). `None`, or text without any word, matches every product.
    pub text: Option<String>,
    /// Only this category.
    pub category: Option<Category>,
    /// Only this seller's products.
    pub seller: Option<UserId>,
    /// Lowest unit price, in minor units, inclusive.
    pub min_price: Option<i64>,
    /// Highest unit price, in minor units, inclusive.
    pub max_price: Option<i64>,
    /// Only products with a sellable unit in some warehouse.
    pub in_stock_only: bool,
    /// Order of results.
    pub sort: ProductSort,
    /// Results to skip. Deep pages are allowed; they cost one heap entry per skipped result.
    pub offset: usize,
    /// Most results to return.
    pub limit: usize,
}

impl SearchQuery {
    /// Every product matching `text`, first page of `limit`, best first.
    pub fn text(text: &str, limit: usize) -> Self {
        Self {
            text: Some(text.to_string()),
            limit,
            ..Self::default()
        }
    }

    /// True if the query has words to match (not just filters).
    pub fn has_text(&self) -> bool {
        self.text
            .as_deref()
            .is_some_and(|t| t.chars().any(char::is_alphanumeric))
    }
}

impl From<&ProductQuery> for SearchQuery {
    fn from(query: &ProductQuery) -> Self {
        Self {
            text: query.text.clone(),
            category: query.category.clone(),
            seller: query.seller,
            min_price: query.min_price,
            max_price: query.max_price,
            in_stock_only: false,
            sort: query.sort,
            offset: query.offset,
            limit: query.limit,
        }
    }
}

/// One page of results.
///
/// Only ids: the caller fetches the products to render from the store or its cache, which
/// keeps the index small (it stores no documents) and never stale about prices or pictures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResults {
    /// The products of the requested page, in order.
    pub ids: Vec<ProductId>,
    /// Products matching over all pages (exact).
    pub total: u64,
    /// For each category, how many products match every part of the query **except the
    /// category filter** (so a shopper filtering on one category still sees how many results
    /// the others would give), by category name; categories with none are left out. Without a
    /// category filter, the counts add up to `total`.
    pub category_facets: Vec<(Category, u64)>,
}

/// One autocomplete suggestion: a product whose name matches what was typed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The product's name, as written.
    pub name: String,
    /// The best-ranked product with that name.
    pub id: ProductId,
}
