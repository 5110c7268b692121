//! What sellers do outside `/products`: see their products' stock per warehouse and send
//! promotions. (Listing, changing, withdrawing and restocking products are `/products` paths,
//! which the catalog API routes.) The shop answers 403 to non-sellers.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::{
    Object, OpenApi,
    payload::{Binary, Json},
};

use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::{ApiError, ApiResult, Problem},
    types::SellerProductDto,
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
    /// The message (1 to 1000 characters).
    pub text: String,
}

/// How many customers a promotion reached.
#[derive(Debug, Object)]
pub struct PromotionResult {
    /// Customers notified.
    pub recipients: u64,
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

    /// Stores a product picture (sellers only). The body is the file itself: PNG, JPEG, GIF
    /// or WebP, recognised by its content, at most 8 MiB and 8000 pixels a side. It is
    /// re-encoded as JPEG in two sizes (1200 and 320 pixels on the longest side); the answer
    /// is the path to put in a product's `images`. The same file twice gives the same path.
    #[oai(path = "/seller/pictures", method = "post")]
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
                    _ => StatusCode::BAD_REQUEST,
                };
                ApiError(Problem::new(status, "invalid-picture", e.to_string()))
            })?;
        let image = self.0.shop.add_picture(auth.user_id(), picture).await?;
        Ok(Json(PictureStored {
            image: image.as_str().to_string(),
        }))
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
