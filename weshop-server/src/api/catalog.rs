//! The public catalog: search with filters, sorting and pages; one product; categories. It
//! also routes sellers' changes to `/products` (list, change, withdraw, restock): the OpenAPI
//! spec keeps one entry per path, so one API must own every `/products` path.
//!
//! Prices are decimal strings in the shop's currency (e.g. "12.34"), in queries and bodies
//! alike, so no amount ever passes through a float.

use super::pattern::{
    AmountOrEmptyRule, CategoryOrEmptyRule, CategoryRule, ImagePathRule, Matching, PriceRule,
    ProductNameRule,
};
use std::sync::Arc;

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use weshop_core::{
    domain::{
        Category, Description, ImageRef, ProductId, ProductName, Quantity, WarehouseId, Weight,
    },
    shop::{CatalogQuery, ProductDraft, ProductPatch},
    store::{ProductQuery, ProductSort},
};

use super::enums::SortDto;
use super::omittable::Omittable;
use super::text::Text;
use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::ApiResult,
    types::{ProductDto, SellerProductDto, non_empty, parse_amount, refuse},
};

/// Results per page when the client does not say.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// Most results per page.
pub const MAX_PER_PAGE: u32 = 100;

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
    /// How the matches spread over the catalog's facets.
    pub facets: Facets,
}

/// Facet counts of a search.
#[derive(Debug, Object)]
pub struct Facets {
    /// For each category, how many products match everything asked **except** the category
    /// filter (so a shopper who picked one category still sees what the others hold), by
    /// name; categories without a match are left out.
    pub category: Vec<CategoryDto>,
}

/// One autocomplete suggestion.
#[derive(Debug, Object)]
pub struct SuggestionDto {
    /// The product.
    pub id: i64,
    /// Its name, as written.
    pub name: String,
}

/// A category and how many products it holds.
#[derive(Debug, Object)]
pub struct CategoryDto {
    /// Category slug.
    pub name: String,
    /// Number of products.
    pub count: u64,
}

/// A product to list.
#[derive(Debug, Object)]
pub struct NewProductRequest {
    /// Name: 1 to 200 characters, no control characters.
    pub name: Matching<ProductNameRule>,
    /// Description (may be empty; at most 10000 characters).
    #[oai(validator(max_length = 10000))]
    pub description: Omittable<Text>,
    /// Category: letters, digits, spaces and dashes, 1 to 40 (stored lower-case, spaces as
    /// dashes).
    pub category: Matching<CategoryRule>,
    /// Unit price, a decimal string in the shop's currency.
    pub price: Matching<PriceRule>,
    /// Unit weight in grams (1 g to 1000 kg).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub weight_grams: i64,
    /// The shop's own image paths (`POST /seller/pictures` gives them), at most 10.
    #[oai(validator(max_items = 10))]
    pub images: Omittable<Vec<Matching<ImagePathRule>>>,
}

/// Product changes; absent fields stay as they are.
#[derive(Debug, Object)]
pub struct ProductPatchRequest {
    /// New name.
    pub name: Omittable<Matching<ProductNameRule>>,
    /// New description.
    #[oai(validator(max_length = 10000))]
    pub description: Omittable<Text>,
    /// New category.
    pub category: Omittable<Matching<CategoryRule>>,
    /// New unit price, a decimal string in the shop's currency.
    pub price: Omittable<Matching<PriceRule>>,
    /// New unit weight in grams.
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub weight_grams: Omittable<i64>,
    /// New images (replacing the old ones).
    #[oai(validator(max_items = 10))]
    pub images: Omittable<Vec<Matching<ImagePathRule>>>,
}

/// Units to buy from the world into a warehouse.
#[derive(Debug, Object)]
pub struct RestockRequest {
    /// The warehouse.
    #[oai(validator(minimum(value = "1")))]
    pub warehouse_id: i32,
    /// Units to buy (1 to 1000000).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub quantity: i64,
}

/// Create's answer.
#[derive(ApiResponse)]
pub enum ProductCreated {
    /// Listed; `Location` is the product's URL.
    #[oai(status = 201)]
    Created(Json<ProductDto>, #[oai(header = "Location")] String),
}

/// Delete's answer.
#[derive(ApiResponse)]
pub enum ProductDeleted {
    /// Withdrawn.
    #[oai(status = 204)]
    NoContent,
}

/// Restock's answer.
#[derive(ApiResponse)]
pub enum RestockAccepted {
    /// The purchase is on its way: the units count as incoming until the world delivers.
    #[oai(status = 202)]
    Accepted(Json<SellerProductDto>),
}

fn images(texts: &[Matching<ImagePathRule>]) -> ApiResult<Vec<ImageRef>> {
    Ok(texts
        .iter()
        .map(|t| ImageRef::parse(t))
        .collect::<Result<_, _>>()?)
}

/// Browsing and searching, and sellers' changes to `/products` (one API owns each path).
pub struct CatalogApi(pub Arc<ApiState>);

#[OpenApi]
impl CatalogApi {
    /// Searches the catalog. Every given filter must hold.
    ///
    /// `q` is at most 256 characters, and only its first 32 words count;
    /// `min_price`/`max_price` are decimal strings in the shop's currency ("9.99"); `sort` is one of relevance (default), price_asc,
    /// price_desc, name, newest; `page` starts at 1; `per_page` is 1 to 100 (default 20);
    /// `in_stock=true` keeps only products that can be bought now. `facets.category` counts
    /// the matches per category, ignoring the `category` filter.
    #[oai(
        path = "/products",
        method = "get",
        operation_id = "listProducts",
        tag = "ApiTags::Catalog"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        /// Words that must all appear (the last one as a prefix; longer words forgive a typo).
        q: Query<Option<String>>,
        /// Only this category.
        category: Query<Option<Matching<CategoryOrEmptyRule>>>,
        /// Lowest unit price.
        min_price: Query<Option<Matching<AmountOrEmptyRule>>>,
        /// Highest unit price.
        max_price: Query<Option<Matching<AmountOrEmptyRule>>>,
        /// Order of results.
        sort: Query<Option<SortDto>>,
        /// Page number, 1 to 100000.
        #[oai(validator(minimum(value = "1"), maximum(value = "100000")))]
        page: Query<Option<u32>>,
        /// Results per page, 1 to 100.
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))]
        per_page: Query<Option<u32>>,
        /// Only products with units to sell now.
        in_stock: Query<Option<bool>>,
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
        let sort = sort.0.map(ProductSort::from).unwrap_or_default();
        let price = |text: Option<String>| {
            non_empty(text)
                .map(|t| parse_amount(&t, currency).map(|m| m.minor()))
                .transpose()
        };
        let query = ProductQuery {
            text: non_empty(q.0),
            category: non_empty(category.0.map(Matching::into_inner))
                .map(|c| Category::parse(&c))
                .transpose()?,
            seller: None,
            min_price: price(min_price.0.map(Matching::into_inner))?,
            max_price: price(max_price.0.map(Matching::into_inner))?,
            sort,
            offset: (page as usize - 1) * per_page as usize,
            limit: per_page as usize,
        };
        let found = self
            .0
            .shop
            .browse(CatalogQuery {
                query,
                in_stock_only: in_stock.0.unwrap_or(false),
            })
            .await?;
        Ok(Json(ProductPage {
            items: found.page.items.into_iter().map(ProductDto::from).collect(),
            total: found.page.total,
            page,
            per_page,
            facets: Facets {
                category: categories(found.category_facets),
            },
        }))
    }

    /// Autocomplete: up to 10 products whose names complete `q` (at most 256 characters),
    /// best first, one per name.
    #[oai(
        path = "/products/suggest",
        method = "get",
        operation_id = "suggestProducts",
        tag = "ApiTags::Catalog"
    )]
    async fn suggest(
        &self,
        /// What the shopper typed so far.
        q: Query<String>,
    ) -> ApiResult<Json<Vec<SuggestionDto>>> {
        let found = self.0.shop.suggest(&q.0).await?;
        Ok(Json(
            found
                .into_iter()
                .map(|(id, name)| SuggestionDto {
                    id: id.get(),
                    name: name.as_str().to_string(),
                })
                .collect(),
        ))
    }

    /// One product.
    #[oai(
        path = "/products/:id",
        method = "get",
        operation_id = "getProduct",
        tag = "ApiTags::Catalog"
    )]
    async fn product(
        &self,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<Json<ProductDto>> {
        let product = self.0.shop.product(ProductId::new(id.0)?).await?;
        Ok(Json(product.into()))
    }

    /// Lists a product (sellers only); `Location` is its URL.
    #[oai(
        path = "/products",
        method = "post",
        tag = "ApiTags::Seller",
        operation_id = "createProduct"
    )]
    async fn create(&self, auth: Auth, body: Json<NewProductRequest>) -> ApiResult<ProductCreated> {
        let draft = ProductDraft {
            name: ProductName::parse(&body.name)?,
            description: Description::parse(body.description.as_deref().unwrap_or_default())?,
            category: Category::parse(&body.category)?,
            price: parse_amount(&body.price, self.0.shop.currency())?,
            weight: Weight::grams(body.weight_grams)?,
            images: images(body.images.as_deref().unwrap_or_default())?,
        };
        let product = self.0.shop.create_product(auth.user_id(), draft).await?;
        let location = format!("/api/v1/products/{}", product.id);
        Ok(ProductCreated::Created(Json(product.into()), location))
    }

    /// Changes one of the caller's products (another seller's is 404).
    #[oai(
        path = "/products/:id",
        method = "patch",
        tag = "ApiTags::Seller",
        operation_id = "updateProduct"
    )]
    async fn update(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
        body: Json<ProductPatchRequest>,
    ) -> ApiResult<Json<ProductDto>> {
        let currency = self.0.shop.currency();
        let patch = ProductPatch {
            name: body.name.as_deref().map(ProductName::parse).transpose()?,
            description: body
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()?,
            category: body.category.as_deref().map(Category::parse).transpose()?,
            price: body
                .price
                .as_deref()
                .map(|p| parse_amount(p, currency))
                .transpose()?,
            weight: body.weight_grams.map(Weight::grams).transpose()?,
            images: body.images.as_deref().map(images).transpose()?,
        };
        let product = self
            .0
            .shop
            .update_product(auth.user_id(), ProductId::new(id.0)?, patch)
            .await?;
        Ok(Json(product.into()))
    }

    /// Withdraws one of the caller's products (another seller's is 404).
    #[oai(
        path = "/products/:id",
        method = "delete",
        tag = "ApiTags::Seller",
        operation_id = "deleteProduct"
    )]
    async fn delete(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<ProductDeleted> {
        self.0
            .shop
            .delete_product(auth.user_id(), ProductId::new(id.0)?)
            .await?;
        Ok(ProductDeleted::NoContent)
    }

    /// Buys units of one of the caller's products from the world into a warehouse: they count
    /// as incoming (sellable) at once, and on hand when the world delivers them.
    #[oai(
        path = "/products/:id/stock",
        method = "post",
        tag = "ApiTags::Seller",
        operation_id = "restockProduct"
    )]
    async fn restock(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
        body: Json<RestockRequest>,
    ) -> ApiResult<RestockAccepted> {
        let view = self
            .0
            .shop
            .restock(
                auth.user_id(),
                ProductId::new(id.0)?,
                WarehouseId::new(body.warehouse_id)?,
                Quantity::new(body.quantity)?,
            )
            .await?;
        Ok(RestockAccepted::Accepted(Json(view.into())))
    }

    /// Every category with its number of products.
    #[oai(
        path = "/categories",
        method = "get",
        operation_id = "listCategories",
        tag = "ApiTags::Catalog"
    )]
    async fn categories(&self) -> ApiResult<Json<Vec<CategoryDto>>> {
        Ok(Json(categories(self.0.shop.categories().await?)))
    }
}

fn categories(counts: Vec<(Category, u64)>) -> Vec<CategoryDto> {
    counts
        .into_iter()
        .map(|(c, count)| CategoryDto {
            name: c.to_string(),
            count,
        })
        .collect()
}
