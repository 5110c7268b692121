//! What sellers do outside `/products`: see their products' stock per warehouse, send
//! promotions and list them. (Listing, changing, withdrawing and restocking products are `/products` paths,
//! which the catalog API routes.) The shop answers 403 to non-sellers.

use super::pattern::{Matching, PromotionTextRule};
use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::{
    Object, OpenApi,
    param::Query,
    payload::{Binary, Json},
};

use super::enums::StatusDto;
use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::{ApiError, ApiResult, Problem},
    types::{SellerProductDto, amount},
};
use crate::pictures::{self, PictureError};

/// A stored picture.
#[derive(Debug, Object)]
pub struct PictureStored {
    /// Its path, to put in a product's `images` (the large size; `thumb.jpg` beside it is
    /// the thumbnail).
    pub image: String,
}

/// A promotion to send to every customer.
#[derive(Debug, Object)]
pub struct PromotionRequest {
    /// The message: plain text of 1 to 1000 characters, line breaks allowed, no other control
    /// characters.
    pub text: Matching<PromotionTextRule>,
}

/// How many customers a promotion reached.
#[derive(Debug, Object)]
pub struct PromotionResult {
    /// Customers notified.
    pub recipients: u64,
}

/// A promotion the seller sent.
#[derive(Debug, Object)]
pub struct CampaignDto {
    /// Its id.
    pub id: i64,
    /// What it said.
    pub text: String,
    /// When it went out (ms since the epoch); the next may go a rate-limit interval later.
    pub sent_at: u64,
    /// Customers it went to.
    pub recipients: u64,
    /// False while it is still being delivered (or was cut off, and is finished at the
    /// server's next start).
    pub complete: bool,
}

/// One of the seller's recent orders (only their lines).
#[derive(Debug, Object)]
pub struct SellerOrderDto {
    /// The order.
    pub order_id: i64,
    /// When it was placed (ms since the epoch).
    pub placed_at: u64,
    /// Its status.
    pub status: StatusDto,
    /// The seller's lines: product id and units.
    pub lines: Vec<SoldLineDto>,
    /// Those lines' sum.
    pub amount: String,
}

/// A line of a sale.
#[derive(Debug, Object)]
pub struct SoldLineDto {
    /// The product.
    pub product_id: i64,
    /// Its name when ordered.
    pub name: String,
    /// Units.
    pub quantity: u32,
}

/// What the seller sold, over their newest 1,000 orders.
#[derive(Debug, Object)]
pub struct SalesDto {
    /// The newest orders, newest first (at most `recent`).
    pub recent: Vec<SellerOrderDto>,
    /// The seller's lines of delivered orders.
    pub revenue: String,
    /// The seller's lines of orders on their way.
    pub in_progress: String,
    /// Units delivered.
    pub units: u64,
    /// Orders counted.
    pub orders: u64,
    /// ISO 4217 code of the amounts.
    pub currency: String,
}

/// Sellers' endpoints outside `/products`.
pub struct SellerApi(pub Arc<ApiState>);

#[OpenApi(tag = "ApiTags::Seller")]
impl SellerApi {
    /// The caller's products with their stock per warehouse.
    #[oai(
        path = "/seller/products",
        method = "get",
        operation_id = "listSellerProducts"
    )]
    async fn products(&self, auth: Auth) -> ApiResult<Json<Vec<SellerProductDto>>> {
        let products = self.0.shop.seller_products(auth.user_id()).await?;
        Ok(Json(products.into_iter().map(Into::into).collect()))
    }

    /// Stores a product picture (sellers only). The body is the file itself: PNG, JPEG, GIF
    /// or WebP, recognised by its content, at most 8 MiB and 8000 pixels a side. It is
    /// re-encoded as JPEG in two sizes (1200 and 320 pixels on the longest side); the answer
    /// is the path to put in a product's `images`. The same file twice gives the same path.
    #[oai(
        path = "/seller/pictures",
        method = "post",
        operation_id = "uploadPicture"
    )]
    async fn picture(&self, auth: Auth, body: Binary<Vec<u8>>) -> ApiResult<Json<PictureStored>> {
        let upload = body.0;
        let picture = tokio::task::spawn_blocking(move || pictures::reencode(&upload))
            .await
            .map_err(|_| {
                ApiError(Problem::from_status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the picture could not be processed",
                ))
            })?
            .map_err(|e| {
                let status = match e {
                    PictureError::UnknownType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    PictureError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    // Bytes that claim a picture type but do not decode as one.
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError(Problem::new(status, "invalid-picture", e.to_string()))
            })?;
        let image = self.0.shop.add_picture(auth.user_id(), picture).await?;
        Ok(Json(PictureStored {
            image: image.as_str().to_string(),
        }))
    }

    /// The caller's sales: the newest orders with their products (`recent`, 1 to 100,
    /// default 10) and what their orders brought in.
    #[oai(
        path = "/seller/sales",
        method = "get",
        operation_id = "getSellerSales"
    )]
    async fn sales(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] recent: Query<Option<u32>>,
    ) -> ApiResult<Json<SalesDto>> {
        let recent = recent.0.unwrap_or(10);
        if !(1..=100).contains(&recent) {
            return Err(Problem::bad_request("recent is between 1 and 100"));
        }
        let sales = self
            .0
            .shop
            .seller_sales(auth.user_id(), recent as usize)
            .await?;
        Ok(Json(SalesDto {
            recent: sales
                .recent
                .into_iter()
                .map(|sale| SellerOrderDto {
                    order_id: sale.order.get(),
                    placed_at: sale.placed_at.millis(),
                    status: sale.status.into(),
                    lines: sale
                        .lines
                        .into_iter()
                        .map(|l| SoldLineDto {
                            product_id: l.product.get(),
                            name: l.name.to_string(),
                            quantity: l.quantity.get(),
                        })
                        .collect(),
                    amount: amount(sale.amount),
                })
                .collect(),
            revenue: amount(sales.revenue),
            in_progress: amount(sales.in_progress),
            units: sales.units,
            orders: sales.orders as u64,
            currency: sales.revenue.currency().to_string(),
        }))
    }

    /// Sends a promotion to every customer.
    #[oai(
        path = "/seller/promotions",
        method = "post",
        operation_id = "sendPromotion"
    )]
    async fn promote(
        &self,
        auth: Auth,
        body: Json<PromotionRequest>,
    ) -> ApiResult<Json<PromotionResult>> {
        let recipients = self.0.shop.promote(auth.user_id(), &body.text).await?;
        Ok(Json(PromotionResult { recipients }))
    }

    /// The caller's promotions, newest first (`limit`, 1 to 100, default 20), with how many
    /// customers each reached.
    #[oai(
        path = "/seller/promotions",
        method = "get",
        operation_id = "listPromotions"
    )]
    async fn campaigns(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1"), maximum(value = "100")))] limit: Query<Option<u32>>,
    ) -> ApiResult<Json<Vec<CampaignDto>>> {
        let limit = limit.0.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(Problem::bad_request("limit is between 1 and 100"));
        }
        let campaigns = self
            .0
            .shop
            .campaigns(auth.user_id(), limit as usize)
            .await?;
        Ok(Json(
            campaigns
                .into_iter()
                .map(|c| CampaignDto {
                    id: c.id.get(),
                    text: c.text.to_string(),
                    sent_at: c.at.millis(),
                    recipients: c.recipients,
                    complete: c.sent,
                })
                .collect(),
        ))
    }
}
