//! The catalog: sellers managing their own products (create, edit, delete, restock, list)
//! and anyone browsing (a product, search, categories).
//!
//! A seller may touch only their own products; someone else's looks missing (`NotFound`), so
//! product ids cannot be probed for their owners. Restocking buys units from the world through
//! the fulfilment driver, so they count as incoming (and can be sold) in the same commit that
//! queues the purchase.

use std::{borrow::Cow, sync::Arc};

use crate::catalog_index::IndexError;
use crate::domain::{
    Category, Product, ProductId, ProductName, Quantity, User, UserId, WarehouseId, sellable,
};
use crate::driver::item;
use crate::shop::{
    CatalogPage, CatalogQuery, MAX_QUERY_CHARS, MAX_QUERY_TERMS, MAX_SUGGESTIONS, ProductDraft,
    ProductPatch, SellerProduct, ShopError,
};
use crate::store::{NewProduct, Page, ProductQuery, ProductSort, Store, StoreError, search_terms};

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::create_product`].
    pub(super) async fn create_product_impl(
        &self,
        seller: UserId,
        draft: ProductDraft,
    ) -> Result<Product, ShopError> {
        self.seller(seller).await?;
        self.check_price(draft.price)?;
        if draft.images.len() > Product::MAX_IMAGES {
            return Err(ShopError::BadRequest(format!(
                "at most {} images",
                Product::MAX_IMAGES
            )));
        }
        let product = self
            .store
            .create_product(NewProduct {
                seller,
                name: draft.name,
                description: draft.description,
                category: draft.category,
                price: draft.price,
                weight: draft.weight,
                images: draft.images,
            })
            .await?;
        self.index_product(product.id).await;
        Ok(product)
    }

    /// See [`crate::shop::Shop::update_product`]: only the fields the patch names change.
    pub(super) async fn update_product_impl(
        &self,
        seller: UserId,
        id: ProductId,
        patch: ProductPatch,
    ) -> Result<Product, ShopError> {
        let mut product = self.own_product(seller, id).await?;
        if let Some(name) = patch.name {
            product.name = name;
        }
        if let Some(description) = patch.description {
            product.description = description;
        }
        if let Some(category) = patch.category {
            product.category = category;
        }
        if let Some(price) = patch.price {
            self.check_price(price)?;
            product.price = price;
        }
        if let Some(weight) = patch.weight {
            product.weight = weight;
        }
        if let Some(images) = patch.images {
            if images.len() > Product::MAX_IMAGES {
                return Err(ShopError::BadRequest(format!(
                    "at most {} images",
                    Product::MAX_IMAGES
                )));
            }
            product.images = images;
        }
        self.store.update_product(&product).await?;
        self.index_product(id).await;
        Ok(product)
    }

    /// See [`crate::shop::Shop::delete_product`].
    pub(super) async fn delete_product_impl(
        &self,
        seller: UserId,
        id: ProductId,
    ) -> Result<(), ShopError> {
        self.own_product(seller, id).await?;
        self.store.delete_product(id).await?;
        self.index_product(id).await;
        Ok(())
    }

    /// See [`crate::shop::Shop::restock`]: only into a warehouse the fulfilment engine knows,
    /// since only those are served.
    pub(super) async fn restock_impl(
        &self,
        seller: UserId,
        id: ProductId,
        warehouse: WarehouseId,
        quantity: Quantity,
    ) -> Result<SellerProduct, ShopError> {
        let product = self.own_product(seller, id).await?;
        if !self
            .fulfilment
            .engine()
            .warehouses()
            .any(|w| w.id == warehouse)
        {
            return Err(ShopError::NotFound(format!("warehouse {warehouse}")));
        }
        self.fulfilment
            .purchase(warehouse, item(id, product.name.as_str(), quantity))
            .await?;
        self.seller_view(product).await
    }

    /// See [`crate::shop::Shop::seller_products`]: the port answers with all of them, and the
    /// store hands them out a page at a time.
    pub(super) async fn seller_products_impl(
        &self,
        seller: UserId,
    ) -> Result<Vec<SellerProduct>, ShopError> {
        self.seller(seller).await?;
        let mut out = Vec::new();
        for product in self.products_of(seller).await? {
            out.push(self.seller_view(product).await?);
        }
        Ok(out)
    }

    /// Every product of `seller`, newest first, read from the store a page at a time.
    pub(super) async fn products_of(&self, seller: UserId) -> Result<Vec<Product>, ShopError> {
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self
                .store
                .search(&ProductQuery {
                    seller: Some(seller),
                    sort: ProductSort::Newest,
                    offset,
                    limit: 500,
                    ..ProductQuery::default()
                })
                .await?;
            let got = page.items.len();
            out.extend(page.items);
            offset += got;
            if got == 0 || offset as u64 >= page.total {
                return Ok(out);
            }
        }
    }

    /// See [`crate::shop::Shop::product`].
    pub(super) async fn product_impl(&self, id: ProductId) -> Result<Product, ShopError> {
        self.store
            .product(id)
            .await?
            .ok_or_else(|| ShopError::NotFound(format!("product {id}")))
    }

    /// A product for pricing (a cart's lines, a checkout): from the product cache, else the
    /// store. Within one process the cache is never behind the store (see `read_cache`); a
    /// checkout read the product before its order commits anyway, so a price changed in
    /// between was never caught by reading the store either.
    pub(super) async fn priced_product(
        &self,
        id: ProductId,
    ) -> Result<Option<Arc<Product>>, ShopError> {
        Ok(self.cached_products(&[id]).await?.pop().flatten())
    }

    /// `ids`' products in that order (`None` for one the store does not have), from the
    /// product cache or else the store, which then fills the cache.
    async fn cached_products(
        &self,
        ids: &[ProductId],
    ) -> Result<Vec<Option<Arc<Product>>>, ShopError> {
        let store = &self.store;
        Ok(self
            .products
            .read_through(ids, |id| async move {
                Ok::<_, StoreError>(store.product(id).await?.map(Arc::new))
            })
            .await?)
    }

    /// See [`crate::shop::Shop::availability`]: a withdrawn product is missing, not empty.
    pub(super) async fn availability_impl(&self, id: ProductId) -> Result<u64, ShopError> {
        self.product_impl(id).await?;
        let units = self.availabilities_impl(&[id]).await?;
        Ok(units.first().copied().unwrap_or(0))
    }

    /// See [`crate::shop::Shop::availabilities`]: from the units cache where the search index
    /// keeps one (see `IndexKeeper::units`), else from the store.
    pub(super) async fn availabilities_impl(
        &self,
        ids: &[ProductId],
    ) -> Result<Vec<u64>, ShopError> {
        let Some(index) = &self.index else {
            let mut out = Vec::with_capacity(ids.len());
            for &id in ids {
                out.push(sellable(&self.store.stock(id).await?));
            }
            return Ok(out);
        };
        let store = &self.store;
        let units = index
            .units
            .read_through(ids, |id| async move {
                Ok::<_, StoreError>(Some(sellable(&store.stock(id).await?)))
            })
            .await?;
        Ok(units.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// See [`crate::shop::Shop::search`]: a page size out of range is clamped rather than
    /// refused, so one request cannot ask the store for everything.
    pub(super) async fn search_impl(
        &self,
        mut query: ProductQuery,
    ) -> Result<Page<Product>, ShopError> {
        bound_text(&mut query.text)?;
        if query.limit == 0 || query.limit > self.config.max_page_size {
            query.limit = query.limit.clamp(1, self.config.max_page_size);
        }
        if self.index.is_some() {
            let found = self
                .browse_impl(CatalogQuery {
                    query,
                    in_stock_only: false,
                })
                .await?;
            return Ok(found.page);
        }
        Ok(self.store.search(&query).await?)
    }

    /// See [`crate::shop::Shop::browse`]: the index answers with ids, and the page's products
    /// come from the store (the source of truth for prices and pictures) through the product
    /// cache, in the index's order. A product withdrawn between the two reads is left out of
    /// the page.
    pub(super) async fn browse_impl(
        &self,
        mut query: CatalogQuery,
    ) -> Result<CatalogPage, ShopError> {
        bound_text(&mut query.query.text)?;
        let limit = &mut query.query.limit;
        *limit = (*limit).clamp(1, self.config.max_page_size);
        let Some(index) = &self.index else {
            if query.in_stock_only {
                return Err(ShopError::BadRequest(
                    "the in-stock filter needs the search index".into(),
                ));
            }
            let page = self.store.search(&query.query).await?;
            return Ok(CatalogPage {
                page,
                category_facets: Vec::new(),
            });
        };
        let hits = index.index().search(&query).map_err(index_error)?;
        let items = self.products_in_order(&hits.ids).await?;
        Ok(CatalogPage {
            page: Page {
                items,
                total: hits.total,
            },
            category_facets: hits.category_facets,
        })
    }

    /// See [`crate::shop::Shop::suggest`]: without an index, the store's prefix search
    /// stands in (newest first rather than best first).
    pub(super) async fn suggest_impl(
        &self,
        typed: &str,
    ) -> Result<Vec<(ProductId, ProductName)>, ShopError> {
        let typed = &bounded_text(typed)?;
        if let Some(index) = &self.index {
            return index
                .index()
                .suggest(typed, MAX_SUGGESTIONS)
                .map_err(index_error);
        }
        let page = self
            .store
            .search(&ProductQuery {
                text: Some(typed.to_string()),
                limit: MAX_SUGGESTIONS * 4,
                ..ProductQuery::default()
            })
            .await?;
        let mut out: Vec<(ProductId, ProductName)> = Vec::new();
        for product in page.items {
            if out.len() < MAX_SUGGESTIONS && !out.iter().any(|(_, n)| *n == product.name) {
                out.push((product.id, product.name));
            }
        }
        Ok(out)
    }

    /// See [`crate::shop::Shop::categories`].
    pub(super) async fn categories_impl(&self) -> Result<Vec<(Category, u64)>, ShopError> {
        if let Some(index) = &self.index {
            return index.index().categories().map_err(index_error);
        }
        Ok(self.store.categories().await?)
    }

    /// `ids`' products in that order, from the cache or else the store; missing ones are
    /// left out.
    async fn products_in_order(&self, ids: &[ProductId]) -> Result<Vec<Product>, ShopError> {
        let products = self.cached_products(ids).await?;
        // A product withdrawn since the index answered is left out.
        Ok(products
            .into_iter()
            .flatten()
            .map(Arc::unwrap_or_clone)
            .collect())
    }

    /// After the store created, changed or removed a product: forgets any cached copy and
    /// brings the index up to date.
    async fn index_product(&self, id: ProductId) {
        self.products.forget(id);
        if let Some(index) = &self.index {
            index.product_changed(&*self.store, id).await;
        }
    }

    /// The user, if they are a seller (everything a seller does starts here).
    pub(super) async fn seller(&self, id: UserId) -> Result<User, ShopError> {
        let user = self.user(id).await?;
        if !user.roles.seller {
            return Err(ShopError::Forbidden("only sellers may do this".into()));
        }
        Ok(user)
    }

    /// The product, if `seller` sells it; another seller's product looks missing.
    async fn own_product(&self, seller: UserId, id: ProductId) -> Result<Product, ShopError> {
        self.seller(seller).await?;
        match self.store.product(id).await? {
            Some(product) if product.seller == seller => Ok(product),
            _ => Err(ShopError::NotFound(format!("product {id}"))),
        }
    }

    /// A product as its seller sees it: with its stock per warehouse, and flagged when what
    /// can still be sold is below the configured threshold.
    async fn seller_view(&self, product: Product) -> Result<SellerProduct, ShopError> {
        let stock = self.store.stock(product.id).await?;
        let available = sellable(&stock);
        Ok(SellerProduct {
            product,
            stock,
            available,
            low_stock: available < self.config.low_stock_threshold,
        })
    }
}

/// A search text as searched: refused if longer than [`MAX_QUERY_CHARS`]; past
/// [`MAX_QUERY_TERMS`] words, only the first ones count (as web search engines do), with or
/// without an index. Each word is a term lookup (and fuzzy expansions), so the bound keeps one
/// request's work small; cutting rather than refusing keeps a well-formed request answered
/// (combining marks, for one, split text into many words).
/// The text itself, unless it was cut (no copy on the common path).
fn bounded_text(text: &str) -> Result<Cow<'_, str>, ShopError> {
    if text.chars().count() > MAX_QUERY_CHARS {
        return Err(ShopError::BadRequest(format!(
            "a search text is at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let words = search_terms(text);
    if words.len() > MAX_QUERY_TERMS {
        return Ok(Cow::Owned(words[..MAX_QUERY_TERMS].join(" ")));
    }
    Ok(Cow::Borrowed(text))
}

/// [`bounded_text`] of an optional text, in place.
fn bound_text(text: &mut Option<String>) -> Result<(), ShopError> {
    let cut = match text.as_deref().map(bounded_text).transpose()? {
        Some(Cow::Owned(cut)) => cut,
        _ => return Ok(()),
    };
    *text = Some(cut);
    Ok(())
}

/// Too many words is the caller's mistake (400); anything else is the index failing (503).
fn index_error(error: IndexError) -> ShopError {
    match error {
        IndexError::TooManyTerms { .. } => ShopError::BadRequest(error.to_string()),
        IndexError::Failed(_) => ShopError::Unavailable(error.to_string()),
    }
}
