//! HTTP conventions every response follows: compressed when the client accepts it (gzip or
//! brotli, `Vary: Accept-Encoding`), and catalog reads validated by `ETag` (a repeat request
//! with `If-None-Match` gets 304 and no body).

use std::sync::Arc;

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, Method, StatusCode, header},
    web::{Compress, CompressionAlgo},
};
use sha2::{Digest, Sha256};

/// Bodies smaller than this are sent as they are (compression would not pay).
const MIN_COMPRESSED: usize = 860;

/// Media types worth compressing (never `text/event-stream`: a compressor holds events back).
fn compressible(content_type: &str) -> bool {
    let kind = content_type.split(';').next().unwrap_or("").trim();
    matches!(
        kind,
        "application/json"
            | "application/problem+json"
            | "text/html"
            | "text/css"
            | "text/plain"
            | "text/javascript"
            | "application/javascript"
            | "image/svg+xml"
    )
}

/// The best coding the request accepts: brotli, then gzip (a `q=0` refuses one).
fn accepted(request: &Request) -> Option<CompressionAlgo> {
    let mut brotli = false;
    let mut gzip = false;
    for value in request.headers().get_all(header::ACCEPT_ENCODING) {
        for item in value.to_str().unwrap_or("").split(',') {
            let mut parts = item.split(';').map(str::trim);
            let coding = parts.next().unwrap_or("").to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            match coding.as_str() {
                "br" => brotli = !refused,
                "gzip" => gzip = !refused,
                _ => {}
            }
        }
    }
    if brotli {
        Some(CompressionAlgo::BR)
    } else if gzip {
        Some(CompressionAlgo::GZIP)
    } else {
        None
    }
}

/// Compresses what is worth it, for clients that accept it.
pub async fn compress<E: Endpoint>(endpoint: Arc<E>, request: Request) -> poem::Result<Response> {
    let algo = accepted(&request);
    // Boxed: the whole app's future sits under this layer; boxing keeps this layer's own
    // future (and the stack it is polled on) small.
    let mut response = Box::pin(endpoint.call(request)).await?.into_response();
    let headers = response.headers();
    let worth = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(compressible)
        && !headers.contains_key(header::CONTENT_ENCODING)
        && response.status() != StatusCode::NOT_MODIFIED;
    if !worth {
        return Ok(response);
    }
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    let Some(algo) = algo else {
        return Ok(response);
    };
    // Small bodies go as they are.
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await?;
    let response = Response::from_parts(parts, bytes.clone().into());
    if bytes.len() < MIN_COMPRESSED {
        return Ok(response);
    }
    Ok(Compress::new(response, algo).into_response())
}

/// The GETs answered with an `ETag`: the catalog's reads.
fn validated(request: &Request) -> bool {
    let path = request.uri().path();
    (request.method() == Method::GET || request.method() == Method::HEAD)
        && (path.starts_with("/api/v1/products") || path == "/api/v1/categories")
}

/// Tags catalog reads with a weak `ETag` of their body and answers a matching `If-None-Match`
/// with 304.
pub async fn etag<E: Endpoint>(endpoint: Arc<E>, request: Request) -> poem::Result<Response> {
    if !validated(&request) {
        return endpoint
            .call(request)
            .await
            .map(IntoResponse::into_response);
    }
    let presented = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let response = Box::pin(endpoint.call(request)).await?.into_response();
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = body.into_bytes().await?;
    let digest = Sha256::digest(&bytes);
    let tag = format!("W/\"{}\"", hex::encode(&digest[..12]));
    let value = HeaderValue::from_str(&tag).expect("hex in quotes is a header value");
    parts.headers.insert(header::ETAG, value.clone());
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matches = presented.is_some_and(|p| {
        p.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || t == tag.trim_start_matches("W/"))
    });
    if matches {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(header::CONTENT_TYPE);
        parts.headers.remove(header::CONTENT_LENGTH);
        return Ok(Response::from_parts(parts, poem::Body::empty()));
    }
    Ok(Response::from_parts(parts, bytes.into()))
}

/// For each API path of the spec (its segments, `None` for a `{parameter}`), the methods it
/// answers: what a 405 lists in `Allow`.
#[derive(Debug, Default, Clone)]
pub struct AllowTable(Vec<(Vec<Option<String>>, Vec<String>)>);

impl AllowTable {
    /// The table of an OpenAPI document (as JSON) served under `prefix`.
    pub fn from_spec(spec: &str, prefix: &str) -> Self {
        let Ok(spec) = serde_json::from_str::<serde_json::Value>(spec) else {
            return Self::default();
        };
        let Some(paths) = spec["paths"].as_object() else {
            return Self::default();
        };
        let mut table = Vec::new();
        for (path, item) in paths {
            let full = format!("{prefix}{path}");
            let segments = full
                .split('/')
                .map(|s| (!s.starts_with('{')).then(|| s.to_string()))
                .collect();
            let mut methods: Vec<String> = item
                .as_object()
                .map(|o| o.keys().map(|m| m.to_ascii_uppercase()).collect())
                .unwrap_or_default();
            if methods.iter().any(|m| m == "GET") {
                methods.push("HEAD".into());
            }
            table.push((segments, methods));
        }
        Self(table)
    }

    /// The methods `path` answers, if it is one of the table's.
    fn methods(&self, path: &str) -> Option<String> {
        let parts: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .find(|(segments, _)| {
                segments.len() == parts.len()
                    && segments
                        .iter()
                        .zip(&parts)
                        .all(|(s, p)| s.as_deref().is_none_or(|s| s == *p))
            })
            .map(|(_, methods)| methods.join(", "))
    }
}

/// Adds `Allow` to a 405 (RFC 9110): the methods the path does answer.
pub async fn allow<E: Endpoint>(
    endpoint: Arc<E>,
    request: Request,
    table: Arc<AllowTable>,
) -> poem::Result<Response> {
    let path = request.uri().path().to_string();
    let mut response = match Box::pin(endpoint.call(request)).await {
        Ok(response) => response.into_response(),
        Err(error) if error.status() == StatusCode::METHOD_NOT_ALLOWED => {
            let mut response = super::problem::catch_all(error).await;
            if let Some(methods) = table.methods(&path)
                && let Ok(value) = HeaderValue::from_str(&methods)
            {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        }
        Err(error) => return Err(error),
    };
    if response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::ALLOW)
        && let Some(methods) = table.methods(&path)
        && let Ok(value) = HeaderValue::from_str(&methods)
    {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Ok(response)
}
