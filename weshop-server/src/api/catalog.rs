//! The public catalog: search with filters, sorting and pages; one product; categories.
//!
//! Prices are decimal strings in the shop's currency (e.g. "12.34"), in queries and bodies
//! alike, so no amount ever passes through a float.

use std::sync::Arc;

use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use weshop_core::{
    domain::{Category, Product, ProductId},
    store::{ProductQuery, ProductSort},
};

use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::ApiResult,
    seller,
    types::{amount, non_empty, parse_amount, refuse},
};

/// Results per page when the client does not say.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// Most results per page.
pub const MAX_PER_PAGE: u32 = 100;

/// A product for sale.
#[derive(Debug, Clone, Object)]
pub struct ProductDto {
    /// Id.
    pub id: i64,
    /// The seller's user id.
    pub seller_id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Category slug.
    pub category: String,
    /// Unit price, a decimal string in `currency`.
    pub price: String,
    /// ISO 4217 code of the price.
    pub currency: String,
    /// Unit weight in grams.
    pub weight_grams: u32,
    /// Image URLs or paths.
    pub images: Vec<String>,
}

impl From<Product> for ProductDto {
    fn from(product: Product) -> Self {
        Self {
            id: product.id.get(),
            seller_id: product.seller.get(),
            name: product.name.to_string(),
            description: product.description.as_str().to_string(),
            category: product.category.to_string(),
            price: amount(product.price),
            currency: product.price.currency().to_string(),
            weight_grams: product.weight.get(),
            images: product
                .images
                .iter()
                .map(|i| i.as_str().to_string())
                .collect(),
        }
    }
}

/// One page of search results.
#[derive(Debug, Object)]
pub struct ProductPage {
    /// This page's products.
    pub items: Vec<ProductDto>,
    /// Matches over all pages.
    pub total: u64,
    /// This page (from 1).
    pub page: u32,
    /// Results per page.
    pub per_page: u32,
}

/// A category and how many products it holds.
#[derive(Debug, Object)]
pub struct CategoryDto {
    /// Category slug.
    pub name: String,
    /// Number of products.
    pub count: u64,
}

/// Browsing and searching, and sellers' changes to `/products` (one API owns each path).
pub struct CatalogApi(pub Arc<ApiState>);

#[OpenApi(tag = "ApiTags::Catalog")]
impl CatalogApi {
    /// Searches the catalog. Every given filter must hold.
    ///
    /// `min_price`/`max_price` are decimal strings in the shop's currency ("9.99"); `sort` is
    /// one of relevance (default), price_asc, price_desc, name, newest; `page` starts at 1;
    /// `per_page` is 1 to 100 (default 20).
    #[oai(path = "/products", method = "get")]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        /// Words that must all appear (prefixes match).
        q: Query<Option<String>>,
        /// Only this category.
        category: Query<Option<String>>,
        /// Lowest unit price.
        min_price: Query<Option<String>>,
        /// Highest unit price.
        max_price: Query<Option<String>>,
        /// Order of results.
        sort: Query<Option<String>>,
        /// Page number, from 1.
        page: Query<Option<u32>>,
        /// Results per page, 1 to 100.
        per_page: Query<Option<u32>>,
    ) -> ApiResult<Json<ProductPage>> {
        let currency = self.0.shop.currency();
        let page = page.0.unwrap_or(1);
        let per_page = per_page.0.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return refuse("page starts at 1");
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return refuse(format!("per_page must be 1 to {MAX_PER_PAGE}"));
        }
        let sort = match non_empty(sort.0) {
            None => ProductSort::default(),
            Some(name) => match ProductSort::from_name(&name) {
                Some(sort) => sort,
                None => {
                    return refuse(format!(
                        "unknown sort {name:?}: relevance, price_asc, price_desc, name or newest"
                    ));
                }
            },
        };
        let price = |text: Option<String>| {
            non_empty(text)
                .map(|t| parse_amount(&t, currency).map(|m| m.minor()))
                .transpose()
        };
        let query = ProductQuery {
            text: non_empty(q.0),
            category: non_empty(category.0)
                .map(|c| Category::parse(&c))
                .transpose()?,
            seller: None,
            min_price: price(min_price.0)?,
            max_price: price(max_price.0)?,
            sort,
            offset: (page as usize - 1) * per_page as usize,
            limit: per_page as usize,
        };
        let found = self.0.shop.search(query).await?;
        Ok(Json(ProductPage {
            items: found.items.into_iter().map(ProductDto::from).collect(),
            total: found.total,
            page,
            per_page,
        }))
    }

    /// One product.
    #[oai(path = "/products/:id", method = "get")]
    async fn product(&self, id: Path<i64>) -> ApiResult<Json<ProductDto>> {
        let product = self.0.shop.product(ProductId::new(id.0)?).await?;
        Ok(Json(product.into()))
    }

    /// Lists a product (sellers only); `Location` is its URL.
    #[oai(path = "/products", method = "post", tag = "ApiTags::Seller")]
    async fn create(
        &self,
        auth: Auth,
        body: Json<seller::NewProductRequest>,
    ) -> ApiResult<seller::ProductCreated> {
        seller::create(&self.0, auth, body).await
    }

    /// Changes one of the caller's products (another seller's is 404).
    #[oai(path = "/products/:id", method = "patch", tag = "ApiTags::Seller")]
    async fn update(
        &self,
        auth: Auth,
        id: Path<i64>,
        body: Json<seller::ProductPatchRequest>,
    ) -> ApiResult<Json<ProductDto>> {
        seller::update(&self.0, auth, id.0, body).await
    }

    /// Withdraws one of the caller's products (another seller's is 404).
    #[oai(path = "/products/:id", method = "delete", tag = "ApiTags::Seller")]
    async fn delete(&self, auth: Auth, id: Path<i64>) -> ApiResult<seller::ProductDeleted> {
        seller::delete(&self.0, auth, id.0).await
    }

    /// Buys units of one of the caller's products from the world into a warehouse: they count
    /// as incoming (sellable) at once, and on hand when the world delivers them.
    #[oai(path = "/products/:id/stock", method = "post", tag = "ApiTags::Seller")]
    async fn restock(
        &self,
        auth: Auth,
        id: Path<i64>,
        body: Json<seller::RestockRequest>,
    ) -> ApiResult<seller::RestockAccepted> {
        seller::restock(&self.0, auth, id.0, body).await
    }

    /// Every category with its number of products.
    #[oai(path = "/categories", method = "get")]
    async fn categories(&self) -> ApiResult<Json<Vec<CategoryDto>>> {
        let categories = self.0.shop.categories().await?;
        Ok(Json(
            categories
                .into_iter()
                .map(|(c, count)| CategoryDto {
                    name: c.to_string(),
                    count,
                })
                .collect(),
        ))
    }
}
