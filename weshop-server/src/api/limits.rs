//! Request body limits: nothing a client sends is read past [`MAX_BODY_BYTES`], or past
//! [`MAX_UPLOAD_BYTES`] on the routes that take a product picture ([`is_upload`]).
//!
//! A body that announces a larger `Content-Length` is refused with 413 before a byte of it is
//! read; a body without a length (chunked) is cut off at the limit, so its parse fails instead
//! of filling memory. Every JSON body the API takes is far smaller than the limit.

use std::sync::Arc;

use futures::StreamExt;
use poem::{
    Body, Endpoint, IntoResponse, Request, Response,
    http::{StatusCode, header},
};

/// The largest request body the API reads (64 KiB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024;

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

/// Refuses bodies that announce more than their route's limit and caps the rest.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    let limit = if is_upload(request.uri().path()) {
        MAX_UPLOAD_BYTES
    } else {
        MAX_BODY_BYTES
    };
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
