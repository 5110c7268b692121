//! Request body limits: nothing a client sends is read past its route's limit
//! ([`body_limit`]): [`MAX_UPLOAD_BYTES`] on the routes that take a product picture
//! ([`is_upload`]), [`MAX_PRODUCT_BODY_BYTES`] on the API's product bodies, [`MAX_BODY_BYTES`]
//! everywhere else.
//!
//! A body that announces a larger `Content-Length` is refused with 413 before a byte of it is
//! read; a body without a length (chunked) is cut off at the limit, so its parse fails instead
//! of filling memory. Each limit is above the largest body its operations' schemas admit, so a
//! valid request is never refused for its size.

use std::sync::Arc;

use futures::StreamExt;
use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{StatusCode, header},
};

/// The largest request body the API reads (64 KiB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

/// The largest product body (create, change): a valid one can reach ~150 KB, as its 10,000
/// character description may be written in JSON escapes of 12 bytes a character.
pub const MAX_PRODUCT_BODY_BYTES: u64 = 256 * 1024;

pub use crate::pictures::MAX_UPLOAD_BYTES;

/// The routes that take a picture upload: the seller's product forms (`POST /seller/products`,
/// `POST /seller/products/{id}`) and the API's `POST /api/v1/seller/pictures`.
pub fn is_upload(path: &str) -> bool {
    path == "/seller/products"
        || path == "/api/v1/seller/pictures"
        || path
            .strip_prefix("/seller/products/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
}

/// The most bytes of body read on `path`.
pub fn body_limit(path: &str) -> u64 {
    let product_body = path == "/api/v1/products"
        || path
            .strip_prefix("/api/v1/products/")
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
    if is_upload(path) {
        MAX_UPLOAD_BYTES
    } else if product_body {
        MAX_PRODUCT_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// Refuses bodies that announce more than their route's limit and caps the rest.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    let limit = body_limit(request.uri().path());
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(length) if length > limit => {
            return Err(poem::Error::from_string(
                format!("the request body has {length} bytes; at most {limit} are read"),
                StatusCode::PAYLOAD_TOO_LARGE,
            ));
        }
        Some(_) => {}
        None => {
            let body = request.take_body();
            let body = if body.is_empty() {
                body
            } else {
                capped(body, limit)
            };
            request.set_body(body);
        }
    }
    endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response)
}

/// `body`, ending in an error once more than `limit` bytes have come.
fn capped(body: Body, limit: u64) -> Body {
    let mut seen = 0u64;
    let chunks = body.into_bytes_stream().map(move |chunk| {
        let chunk = chunk?;
        seen += chunk.len() as u64;
        if seen > limit {
            return Err(std::io::Error::other(format!(
                "the request body is larger than {limit} bytes"
            )));
        }
        Ok(chunk)
    });
    // Stop at the first error: nothing after the limit is read.
    let chunks = chunks.scan(false, |failed, item| {
        if *failed {
            return futures::future::ready(None);
        }
        *failed = item.is_err();
        futures::future::ready(Some(item))
    });
    Body::from_bytes_stream(chunks)
}
