//! The catalog in memory: products, warehouses, stock and pictures, and search over them.

use std::{cmp::Reverse, collections::BTreeMap};

use async_trait::async_trait;
use weshop_core::{
    domain::{
        Category, Picture, PictureId, PictureSize, Product, ProductId, Stock, StockDelta,
        WarehouseId, WarehouseSite,
    },
    store::{CatalogStore, NewProduct, Page, ProductQuery, ProductSort, StoreError, search_terms},
};

use super::{MemoryStore, State, next_id, records::Record};
use crate::corrupt;

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn create_product(&self, product: NewProduct) -> Result<Product, StoreError> {
        self.write(|state| {
            let id =
                ProductId::new(next_id(&mut state.last_product, "product")?).map_err(corrupt)?;
            let product = product.with_id(id);
            state.products.insert(id, product.clone());
            state.touch(Record::Product(id));
            state.touch(Record::Counters);
            self.feed.product(id);
            Ok(product)
        })
        .await
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Product(id));
            state.products.get(&id).cloned()
        })
        .await
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.write(|state| {
            let stored = state
                .products
                .get_mut(&product.id)
                .ok_or_else(|| StoreError::NotFound(format!("product {}", product.id)))?;
            // The id and the seller stay.
            *stored = Product {
                id: stored.id,
                seller: stored.seller,
                ..product.clone()
            };
            state.touch(Record::Product(product.id));
            self.feed.product(product.id);
            Ok(())
        })
        .await
    }

    async fn delete_product(&self, id: ProductId) -> Result<bool, StoreError> {
        self.write(|state| {
            let removed = state.products.remove(&id).is_some();
            if removed {
                state.touch(Record::Product(id));
                self.feed.product(id);
            }
            Ok(removed)
        })
        .await
    }

    async fn search(&self, query: &ProductQuery) -> Result<Page<Product>, StoreError> {
        self.read(|state| search(state, query)).await
    }

    async fn categories(&self) -> Result<Vec<(Category, u64)>, StoreError> {
        self.read(|state| {
            let mut counts: BTreeMap<&str, (Category, u64)> = BTreeMap::new();
            for product in state.products.values() {
                counts
                    .entry(product.category.as_str())
                    .or_insert_with(|| (product.category.clone(), 0))
                    .1 += 1;
            }
            counts.into_values().collect()
        })
        .await
    }

    async fn catalog(&self) -> Result<Vec<(Product, u64)>, StoreError> {
        self.read(|state| {
            let mut units: BTreeMap<ProductId, u64> = BTreeMap::new();
            for ((product, _), stock) in &state.stock {
                *units.entry(*product).or_default() += stock.available();
            }
            state
                .products
                .values()
                .map(|p| (p.clone(), units.get(&p.id).copied().unwrap_or(0)))
                .collect()
        })
        .await
    }

    async fn put_warehouse(&self, warehouse: WarehouseSite) -> Result<(), StoreError> {
        self.write(|state| {
            state.warehouses.insert(warehouse.id, warehouse);
            state.touch(Record::Warehouse(warehouse.id));
            Ok(())
        })
        .await
    }

    async fn warehouses(&self) -> Result<Vec<WarehouseSite>, StoreError> {
        // Warehouses are never deleted: each one there names all there is to wait for.
        self.read_seen(|state| {
            for id in state.warehouses.keys() {
                state.saw(&Record::Warehouse(*id));
            }
            state.warehouses.values().copied().collect()
        })
        .await
    }

    async fn stock(&self, product: ProductId) -> Result<Vec<(WarehouseId, Stock)>, StoreError> {
        // Stock rows are never deleted: one not found has nothing on its way to disk.
        self.read_seen(|state| {
            let rows = state.stock_of(product);
            for (warehouse, _) in &rows {
                state.saw(&Record::Stock(product, *warehouse));
            }
            rows
        })
        .await
    }

    async fn change_stock(&self, deltas: &[StockDelta]) -> Result<(), StoreError> {
        self.write(|state| {
            let staged = state.staged_stock(deltas)?;
            state.put_stock(staged);
            self.feed.stock(deltas);
            Ok(())
        })
        .await
    }

    async fn put_picture(&self, picture: &Picture) -> Result<(), StoreError> {
        self.write(|state| {
            if !state.pictures.contains_key(&picture.id) {
                state.pictures.insert(picture.id.clone(), picture.clone());
                state.touch(Record::Picture(picture.id.clone()));
            }
            Ok(())
        })
        .await
    }

    async fn picture(
        &self,
        id: &PictureId,
        size: PictureSize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_seen(|state| {
            state.saw(&Record::Picture(id.clone()));
            state.pictures.get(id).map(|p| p.bytes(size).to_vec())
        })
        .await
    }
}

/// The page of products `query` asks for.
fn search(state: &State, query: &ProductQuery) -> Page<Product> {
    let terms = query.text.as_deref().map(search_terms).unwrap_or_default();
    let mut hits: Vec<&Product> = state
        .products
        .values()
        .filter(|p| query.category.as_ref().is_none_or(|c| p.category == *c))
        .filter(|p| query.seller.is_none_or(|s| p.seller == s))
        .filter(|p| query.min_price.is_none_or(|min| p.price.minor() >= min))
        .filter(|p| query.max_price.is_none_or(|max| p.price.minor() <= max))
        .filter(|p| matches_text(p, &terms))
        .collect();
    match query.sort {
        ProductSort::Relevance if !terms.is_empty() => hits.sort_by(|a, b| {
            name_score(b, &terms)
                .cmp(&name_score(a, &terms))
                .then(b.id.cmp(&a.id))
        }),
        ProductSort::Relevance | ProductSort::Newest => hits.sort_by_key(|p| Reverse(p.id)),
        ProductSort::PriceAsc => {
            hits.sort_by(|a, b| a.price.minor().cmp(&b.price.minor()).then(a.id.cmp(&b.id)))
        }
        ProductSort::PriceDesc => {
            hits.sort_by(|a, b| b.price.minor().cmp(&a.price.minor()).then(a.id.cmp(&b.id)))
        }
        ProductSort::Name => hits.sort_by_cached_key(|p| (p.name.as_str().to_lowercase(), p.id)),
    }
    let total = hits.len() as u64;
    let items = hits
        .into_iter()
        .skip(query.offset)
        .take(query.limit)
        .cloned()
        .collect();
    Page { items, total }
}

/// True if every query term is a prefix of one of the product's words.
fn matches_text(product: &Product, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let mut words = search_terms(product.name.as_str());
    words.extend(search_terms(product.description.as_str()));
    words.extend(search_terms(product.category.as_str()));
    terms
        .iter()
        .all(|term| words.iter().any(|word| word.starts_with(term.as_str())))
}

/// How many query terms are a prefix of a word of the product's name.
fn name_score(product: &Product, terms: &[String]) -> usize {
    let words = search_terms(product.name.as_str());
    terms
        .iter()
        .filter(|term| words.iter().any(|word| word.starts_with(term.as_str())))
        .count()
}
