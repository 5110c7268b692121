//! An order's shipping label as a PDF, for its customer and the sellers of its products.
//!
//! The label's QR code points at the order's page on this shop. The server has no setting
//! for its public address, so the page's address is built from the request's `Host` (the
//! address the client reached the shop at), `https` when cookies are marked `Secure` (the
//! shop is then behind HTTPS).

use std::sync::Arc;

use poem::Request;
use poem_openapi::{ApiResponse, OpenApi, param::Path, payload::Binary};
use weshop_core::shop::ShopError;

use super::{ApiState, ApiTags, auth::Auth, orders::order_id, problem::ApiResult};
use crate::labels::{LabelData, render_label};

/// The label.
#[derive(ApiResponse)]
pub enum LabelPdf {
    /// A one-page PDF, 4 × 6 inches: from (warehouse and its location), to (destination and
    /// UPS account), weight, delivery option, order and ship ids, a Code 128 barcode of the
    /// ship id and a QR code of the order's page.
    #[oai(status = 200, content_type = "application/pdf")]
    Pdf(
        Binary<Vec<u8>>,
        /// `inline; filename="weshop-label-{id}.pdf"`.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Shipping labels.
pub struct LabelsApi(pub Arc<ApiState>);

#[OpenApi(prefix_path = "/orders", tag = "ApiTags::Orders")]
impl LabelsApi {
    /// The shipping label of an order's package, as a PDF.
    ///
    /// For the order's customer and the sellers of its products; anyone else gets 404, as
    /// for an order that does not exist. 409 while the order has no package to label (no
    /// warehouse has taken it yet, or it was cancelled).
    #[oai(
        path = "/:id/label.pdf",
        method = "get",
        operation_id = "getOrderLabel"
    )]
    async fn label(
        &self,
        auth: Auth,
        request: &Request,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<LabelPdf> {
        let id = order_id(id.0)?;
        let label = self.0.shop.shipping_label(auth.user_id(), id).await?;
        let url = tracking_url(request, self.0.secure_cookies, id.get());
        // About a millisecond of CPU in release (more in debug): off the request threads.
        let data = LabelData::of(&label, url);
        let pdf = tokio::task::spawn_blocking(move || render_label(&data))
            .await
            .map_err(|e| ShopError::Unavailable(format!("the label could not be drawn: {e}")))?;
        let disposition = format!("inline; filename=\"weshop-label-{id}.pdf\"");
        Ok(LabelPdf::Pdf(Binary(pdf), disposition))
    }
}

/// The absolute address of the order's page, at the host the request was sent to.
pub fn tracking_url(request: &Request, https: bool, order: i64) -> String {
    let scheme = if https { "https" } else { "http" };
    let host = request
        .headers()
        .get(poem::http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()))
        .filter(|host| plausible_host(host))
        .unwrap_or("localhost");
    format!("{scheme}://{host}/orders/{order}")
}

/// A `host[:port]` (name, IPv4 or bracketed IPv6) and nothing else: the header is the
/// client's to write, and what it says ends up in a URL on paper.
fn plausible_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tracking_url_is_at_the_requested_host() {
        let request = Request::builder()
            .header("host", "shop.example:8000")
            .finish();
        assert_eq!(
            tracking_url(&request, false, 7),
            "http://shop.example:8000/orders/7"
        );
        let odd = Request::builder()
            .header("host", "evil.example/phish?")
            .finish();
        assert_eq!(tracking_url(&odd, true, 7), "https://localhost/orders/7");
        assert!(plausible_host("[::1]:8000"));
        assert!(!plausible_host(""));
    }
}
