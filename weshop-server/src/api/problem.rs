//! Errors as RFC 7807 problem documents (`application/problem+json`), whatever raised them:
//! the shop, a domain rule, poem-openapi's request parsing, or the router.

use poem::{Response, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{ToJSON, Type},
};
use weshop_core::{domain::DomainError, payments::PaymentError, shop::ShopError};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 7807 problem document.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[oai(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// For `out-of-stock`: the product that is short.
    #[oai(skip_serializing_if_is_none)]
    pub product: Option<i64>,
    /// For `out-of-stock`: units that can still be bought of it.
    #[oai(skip_serializing_if_is_none)]
    pub available: Option<u64>,
    /// For `too-many-requests`: seconds to wait (also sent as `Retry-After`).
    #[oai(skip_serializing_if_is_none)]
    pub retry_after: Option<u32>,
}

/// What every problem `type` begins with; the slug follows (`urn:weshop:problem:out-of-stock`).
pub const PROBLEM_TYPE_PREFIX: &str = "urn:weshop:problem:";

/// Every kind of problem the API answers with, and what it means: listed in the spec's
/// description so a client can branch on `type` instead of parsing `detail`. A problem that
/// says no more than its status has the type `about:blank` (RFC 7807).
pub const PROBLEM_KINDS: &[(&str, &str)] = &[
    (
        "invalid-request",
        "the request does not match the operation's schema: malformed JSON, a missing or \
         mistyped field, a broken declared constraint (400)",
    ),
    (
        "invalid-input",
        "a value broke one of the shop's rules for it, such as a category or an amount (400)",
    ),
    (
        "bad-request",
        "the request cannot be carried out as asked (400)",
    ),
    (
        "unauthenticated",
        "not logged in, or the session expired (401)",
    ),
    (
        "payment-refused",
        "the payment gateway refused the card or the amount (402)",
    ),
    ("forbidden", "the caller may not do this (403)"),
    ("not-found", "no such thing, or not the caller's (404)"),
    (
        "method-not-allowed",
        "the path exists, the method does not; see `Allow` (405)",
    ),
    (
        "conflict",
        "the current state forbids it, such as an empty cart or a changed price (409)",
    ),
    (
        "out-of-stock",
        "not enough units; `product` and `available` say which and how many (409)",
    ),
    (
        "card-number-invalid",
        "a well-formed card number its network refuses: brand, length or check digit (422)",
    ),
    (
        "password-too-common",
        "a new password that is one of those attackers try first (422)",
    ),
    (
        "invalid-picture",
        "the upload is not a picture the shop can read (415, 422)",
    ),
    (
        "idempotency-key-reused",
        "an `Idempotency-Key` sent again with a different request (422)",
    ),
    (
        "too-many-requests",
        "too many attempts; `retry_after` and `Retry-After` say when (429)",
    ),
    (
        "unavailable",
        "a part of the shop is down for a moment; try again (503)",
    ),
];

impl Problem {
    /// A problem of the kind `slug`, one of [`PROBLEM_KINDS`].
    pub fn new(status: StatusCode, slug: &str, detail: impl Into<String>) -> Self {
        debug_assert!(
            PROBLEM_KINDS.iter().any(|(kind, _)| *kind == slug),
            "an unlisted problem kind: {slug}"
        );
        Self::of_type(status, format!("{PROBLEM_TYPE_PREFIX}{slug}"), detail)
    }

    /// A problem that only says its status (`about:blank`, as RFC 7807 has it).
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::of_type(status, "about:blank".to_string(), detail)
    }

    fn of_type(status: StatusCode, kind: String, detail: impl Into<String>) -> Self {
        Self {
            kind,
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            product: None,
            available: None,
            retry_after: None,
        }
    }

    /// A 400 for input that broke a rule the API checks itself.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError(Self::new(StatusCode::BAD_REQUEST, "invalid-input", detail))
    }

    /// The HTTP response.
    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = Response::builder()
            .status(status)
            .content_type(PROBLEM_JSON);
        if let Some(seconds) = self.retry_after {
            response = response.header(poem::http::header::RETRY_AFTER, seconds.to_string());
        }
        response.body(self.to_json_string())
    }
}

/// What a handler returns when it fails: a problem, documented in the OpenAPI spec for each
/// status the shop can answer with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError(pub Problem);

/// Handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<ShopError> for ApiError {
    fn from(error: ShopError) -> Self {
        let problem = match &error {
            // Well formed, but the card network's rules (brand, length, check digit) refuse
            // it: no schema can say which numbers those are.
            ShopError::Invalid(DomainError::Card(_)) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "card-number-invalid",
                error.to_string(),
            ),
            ShopError::Invalid(DomainError::CommonPassword) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "password-too-common",
                error.to_string(),
            ),
            ShopError::Invalid(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "invalid-input", error.to_string())
            }
            ShopError::BadRequest(_) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-request", error.to_string())
            }
            ShopError::Unauthenticated(_) => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                error.to_string(),
            ),
            ShopError::Payment(PaymentError::Unavailable(_)) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the payment gateway is temporarily unavailable; try again",
            ),
            ShopError::Payment(_) => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment-refused",
                error.to_string(),
            ),
            ShopError::Forbidden(_) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", error.to_string())
            }
            ShopError::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not-found", error.to_string())
            }
            ShopError::Conflict(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            ShopError::TooMany { retry_after, .. } => Problem {
                retry_after: Some(u32::try_from(retry_after.as_secs().max(1)).unwrap_or(u32::MAX)),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-requests",
                    error.to_string(),
                )
            },
            ShopError::KeyReused(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                error.to_string(),
            ),
            ShopError::OutOfStock { product, available } => Problem {
                product: Some(product.get()),
                available: Some(*available),
                ..Problem::new(StatusCode::CONFLICT, "out-of-stock", error.to_string())
            },
            ShopError::Unavailable(_) => {
                // The cause may name storage internals: log it, tell the client less.
                tracing::error!("shop unavailable: {error}");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the shop is temporarily unavailable; try again",
                )
            }
        };
        ApiError(problem)
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        ShopError::Invalid(error).into()
    }
}

impl From<PaymentError> for ApiError {
    /// Only input checks (an idempotency key) reach the API as payment errors.
    fn from(error: PaymentError) -> Self {
        Problem::bad_request(error.to_string())
    }
}

impl poem::IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl From<ApiError> for poem::Error {
    fn from(error: ApiError) -> Self {
        poem::Error::from_response(error.0.into_response())
    }
}

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let response = |status: u16, description: &'static str| MetaResponse {
            description,
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: PROBLEM_JSON,
                schema: Problem::schema_ref(),
            }],
            headers: vec![],
        };
        MetaResponses {
            responses: vec![
                response(
                    400,
                    "Invalid input (malformed JSON, a missing field, a broken rule)",
                ),
                response(401, "Not logged in, or the session expired"),
                response(402, "The payment was refused"),
                response(403, "The caller lacks the role"),
                response(404, "No such thing, or not the caller's"),
                response(409, "The state forbids it (e.g. out of stock)"),
                response(413, "The request body is too large"),
                response(415, "The body is not of the media type the operation takes"),
                response(
                    422,
                    "Well formed but refused by a rule no schema can state: an Idempotency-Key \
                     reused for a different request, a card number its network refuses, a \
                     password too common, a file that is not a picture",
                ),
                response(
                    429,
                    "Too many attempts (failed logins, promotions); see Retry-After",
                ),
                response(503, "Temporarily unavailable"),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

/// Turns any error that escaped the handlers (parse errors, failed authentication, unknown
/// routes, wrong methods) into a problem; a problem raised by a handler passes unchanged.
pub async fn catch_all(error: poem::Error) -> Response {
    let status = error.status();
    if error.is_from_response() {
        let response = error.into_response();
        let is_problem = response
            .content_type()
            .is_some_and(|c| c.starts_with(PROBLEM_JSON));
        if is_problem {
            return response;
        }
        let detail = response.into_body().into_string().await.unwrap_or_default();
        return Problem::from_status(status, detail).into_response();
    }
    let detail = error.to_string();
    if status.is_server_error() {
        tracing::error!(%status, "request failed: {detail}");
    }
    let slug = match status {
        StatusCode::BAD_REQUEST => "invalid-request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        _ => return Problem::from_status(status, detail).into_response(),
    };
    Problem::new(status, slug, detail).into_response()
}
