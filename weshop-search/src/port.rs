//! [`CatalogIndex`] as the shop's [`SearchIndex`] port, so `ShopBuilder::search_index` can
//! take it without the core knowing tantivy.

use weshop_core::catalog_index::{IndexError, IndexedProduct, SearchHits, SearchIndex};
use weshop_core::domain::{Category, ProductId, ProductName};
use weshop_core::shop::CatalogQuery;

use crate::{CatalogIndex, SearchError, SearchQuery};

impl From<SearchError> for IndexError {
    fn from(error: SearchError) -> Self {
        match error {
            SearchError::TooManyTerms { words, max } => IndexError::TooManyTerms { words, max },
            other => IndexError::Failed(other.to_string()),
        }
    }
}

impl SearchIndex for CatalogIndex {
    fn rebuild(&self, products: Vec<IndexedProduct>) -> Result<(), IndexError> {
        Ok(CatalogIndex::rebuild(self, products)?)
    }

    fn upsert_many(&self, products: Vec<IndexedProduct>) -> Result<(), IndexError> {
        Ok(CatalogIndex::upsert_many(self, products)?)
    }

    fn remove(&self, id: ProductId) -> Result<(), IndexError> {
        Ok(CatalogIndex::remove(self, id)?)
    }

    fn search(&self, query: &CatalogQuery) -> Result<SearchHits, IndexError> {
        let mut search = SearchQuery::from(&query.query);
        search.in_stock_only = query.in_stock_only;
        let results = CatalogIndex::search(self, &search)?;
        Ok(SearchHits {
            ids: results.ids,
            total: results.total,
            category_facets: results.category_facets,
        })
    }

    fn suggest(
        &self,
        typed: &str,
        limit: usize,
    ) -> Result<Vec<(ProductId, ProductName)>, IndexError> {
        CatalogIndex::suggest(self, typed, limit)?
            .into_iter()
            .map(|s| {
                // Names are indexed from valid products, so they parse back.
                let name = ProductName::parse(&s.name)
                    .map_err(|e| IndexError::Failed(format!("indexed name: {e}")))?;
                Ok((s.id, name))
            })
            .collect()
    }

    fn categories(&self) -> Result<Vec<(Category, u64)>, IndexError> {
        Ok(CatalogIndex::categories(self)?)
    }
}
