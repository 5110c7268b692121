//! What sellers do outside `/products`: see their products' stock per warehouse and send
//! promotions. (Listing, changing, withdrawing and restocking products are `/products` paths,
//! which the catalog API routes.) The shop answers 403 to non-sellers.

use std::sync::Arc;

use poem_openapi::{Object, OpenApi, payload::Json};

use super::{ApiState, ApiTags, auth::Auth, problem::ApiResult, types::SellerProductDto};

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
