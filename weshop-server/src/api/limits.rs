//! Request body limits: nothing a client sends is read past [`MAX_BODY_BYTES`].
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

/// Refuses bodies that announce more than [`MAX_BODY_BYTES`] and caps the rest.
pub async fn limit_body<E: Endpoint>(
    endpoint: Arc<E>,
    mut request: Request,
) -> poem::Result<Response> {
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match announced {
        Some(length) if length > MAX_BODY_BYTES => {
            return Err(poem::Error::from_string(
                format!("the request body has {length} bytes; at most {MAX_BODY_BYTES} are read"),
                StatusCode::PAYLOAD_TOO_LARGE,
            ));
        }
        Some(_) => {}
        None => {
            let body = request.take_body();
            let body = if body.is_empty() {
                body
            } else {
                capped(body, MAX_BODY_BYTES)
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
