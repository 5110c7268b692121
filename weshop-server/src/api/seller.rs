//! What sellers do: list, change and withdraw their products, buy stock, see stock per
//! warehouse, and send promotions. The shop answers 403 to non-sellers and 404 for another
//! seller's product.

use std::sync::Arc;

use poem_openapi::{ApiResponse, Object, OpenApi, payload::Json};
use weshop_core::{
    domain::{
        Category, Description, ImageRef, ProductId, ProductName, Quantity, WarehouseId, Weight,
    },
    shop::{ProductDraft, ProductPatch, SellerProduct},
};

use super::{
    ApiState, ApiTags, auth::Auth, catalog::ProductDto, problem::ApiResult, types::parse_amount,
};

/// A product to list.
#[derive(Debug, Object)]
pub struct NewProductRequest {
    /// Name.
    pub name: String,
    /// Description (may be empty).
    #[oai(default)]
    pub description: String,
    /// Category (lower-case letters, digits and dashes).
    pub category: String,
    /// Unit price, a decimal string in the shop's currency.
    pub price: String,
    /// Unit weight in grams.
    pub weight_grams: i64,
    /// Image URLs or paths (at most 10).
    #[oai(default)]
    pub images: Vec<String>,
}

/// Product changes; absent fields stay as they are.
#[derive(Debug, Object)]
pub struct ProductPatchRequest {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New category.
    pub category: Option<String>,
    /// New unit price, a decimal string in the shop's currency.
    pub price: Option<String>,
    /// New unit weight in grams.
    pub weight_grams: Option<i64>,
    /// New images (replacing the old ones).
    pub images: Option<Vec<String>>,
}

/// Units to buy from the world into a warehouse.
#[derive(Debug, Object)]
pub struct RestockRequest {
    /// The warehouse.
    pub warehouse_id: i32,
    /// Units to buy.
    pub quantity: i64,
}

/// A product's stock in one warehouse.
#[derive(Debug, Object)]
pub struct WarehouseStockDto {
    /// The warehouse.
    pub warehouse_id: i32,
    /// Units in the warehouse.
    pub on_hand: u64,
    /// Units bought that have not arrived.
    pub incoming: u64,
    /// Units promised to orders.
    pub reserved: u64,
    /// Units that can still be sold there.
    pub available: u64,
}

/// A seller's product with its stock.
#[derive(Debug, Object)]
pub struct SellerProductDto {
    /// The product.
    pub product: ProductDto,
    /// Stock per warehouse.
    pub stock: Vec<WarehouseStockDto>,
    /// Units that can still be sold, over all warehouses.
    pub available: u64,
    /// True when `available` is under the shop's low-stock threshold.
    pub low_stock: bool,
}

impl From<SellerProduct> for SellerProductDto {
    fn from(view: SellerProduct) -> Self {
        Self {
            product: view.product.into(),
            stock: view
                .stock
                .into_iter()
                .map(|(warehouse, s)| WarehouseStockDto {
                    warehouse_id: warehouse.get(),
                    on_hand: s.on_hand(),
                    incoming: s.incoming(),
                    reserved: s.reserved(),
                    available: s.available(),
                })
                .collect(),
            available: view.available,
            low_stock: view.low_stock,
        }
    }
}

/// A promotion to send to every customer.
#[derive(Debug, Object)]
pub struct PromotionRequest {
    /// The message (1 to 1000 characters).
    pub text: String,
}

/// How many customers a promotion reached.
#[derive(Debug, Object)]
pub struct PromotionResult {
    /// Customers notified.
    pub recipients: u64,
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

fn images(texts: &[String]) -> ApiResult<Vec<ImageRef>> {
    Ok(texts
        .iter()
        .map(|t| ImageRef::parse(t))
        .collect::<Result<_, _>>()?)
}

/// A seller lists a product (see `CatalogApi`, which routes every `/products` path: the
/// OpenAPI spec keeps one entry per path, so one API must own them all).
pub async fn create(
    state: &ApiState,
    auth: Auth,
    body: Json<NewProductRequest>,
) -> ApiResult<ProductCreated> {
    let draft = ProductDraft {
        name: ProductName::parse(&body.name)?,
        description: Description::parse(&body.description)?,
        category: Category::parse(&body.category)?,
        price: parse_amount(&body.price, state.shop.currency())?,
        weight: Weight::grams(body.weight_grams)?,
        images: images(&body.images)?,
    };
    let product = state.shop.create_product(auth.user_id(), draft).await?;
    let location = format!("/api/v1/products/{}", product.id);
    Ok(ProductCreated::Created(Json(product.into()), location))
}

/// A seller changes one of their products.
pub async fn update(
    state: &ApiState,
    auth: Auth,
    id: i64,
    body: Json<ProductPatchRequest>,
) -> ApiResult<Json<ProductDto>> {
    let currency = state.shop.currency();
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
    let product = state
        .shop
        .update_product(auth.user_id(), ProductId::new(id)?, patch)
        .await?;
    Ok(Json(product.into()))
}

/// A seller withdraws one of their products.
pub async fn delete(state: &ApiState, auth: Auth, id: i64) -> ApiResult<ProductDeleted> {
    state
        .shop
        .delete_product(auth.user_id(), ProductId::new(id)?)
        .await?;
    Ok(ProductDeleted::NoContent)
}

/// A seller buys units of one of their products from the world into a warehouse.
pub async fn restock(
    state: &ApiState,
    auth: Auth,
    id: i64,
    body: Json<RestockRequest>,
) -> ApiResult<RestockAccepted> {
    let view = state
        .shop
        .restock(
            auth.user_id(),
            ProductId::new(id)?,
            WarehouseId::new(body.warehouse_id)?,
            Quantity::new(body.quantity)?,
        )
        .await?;
    Ok(RestockAccepted::Accepted(Json(view.into())))
}

/// Sellers' endpoints outside `/products`.
pub struct SellerApi(pub Arc<ApiState>);

#[OpenApi(tag = "ApiTags::Seller")]
impl SellerApi {
    /// The caller's products with their stock per warehouse.
    #[oai(path = "/seller/products", method = "get")]
    async fn products(&self, auth: Auth) -> ApiResult<Json<Vec<SellerProductDto>>> {
        let products = self.0.shop.seller_products(auth.user_id()).await?;
        Ok(Json(products.into_iter().map(Into::into).collect()))
    }

    /// Sends a promotion to every customer.
    #[oai(path = "/seller/promotions", method = "post")]
    async fn promote(
        &self,
        auth: Auth,
        body: Json<PromotionRequest>,
    ) -> ApiResult<Json<PromotionResult>> {
        let recipients = self.0.shop.promote(auth.user_id(), &body.text).await?;
        Ok(Json(PromotionResult { recipients }))
    }
}
