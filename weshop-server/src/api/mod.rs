//! The shop's HTTP API: JSON over `/api/v1`, documented by an OpenAPI spec with Swagger UI,
//! plus `/health`, `/metrics` and the web shop's pages ([`crate::web`]).
//!
//! Handlers are thin: they parse the request into domain values, call the [`Shop`], and map
//! its answer to a DTO or its error to an RFC 7807 problem ([`problem`]). Every error that
//! escapes a handler (bad JSON, failed authentication, unknown routes) is made a problem too.

pub mod auth;
pub mod cart;
pub mod catalog;
pub mod conventions;
pub mod documented_errors;
pub mod enums;
pub mod events;
pub mod health;
pub mod labels;
pub mod limits;
pub mod notifications;
pub mod omittable;
pub mod orders;
pub mod pattern;
pub mod problem;
pub mod profile;
pub mod seller;
pub mod text;
pub mod throttle;
pub mod types;

use std::{sync::Arc, time::Instant};

use poem::{
    Endpoint, EndpointExt, IntoResponse, PathPattern, Request, Response, Route,
    endpoint::{BoxEndpoint, make_sync},
    get,
    middleware::CookieJarManager,
    web::Html,
};
use poem_openapi::{OpenApiService, Tags};
use weshop_core::shop::Shop;

use crate::metrics::Metrics;

/// What the API needs to run.
#[derive(Clone)]
pub struct ApiState {
    /// The shop (its order updates feed the live order tracking).
    pub shop: Arc<dyn Shop>,
    /// The server's metrics (the API records every request).
    pub metrics: Arc<Metrics>,
    /// Whether the session cookie gets the `Secure` attribute (false for plain-http local use).
    pub secure_cookies: bool,
}

/// Groups of endpoints in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Accounts and sessions.
    Auth,
    /// The caller's profile, addresses and cards.
    Profile,
    /// The public catalog.
    Catalog,
    /// Sellers' products, stock and promotions.
    Seller,
    /// The caller's cart.
    Cart,
    /// Checkout, orders and live tracking.
    Orders,
    /// The caller's inbox.
    Notifications,
}

/// Where the API is mounted.
pub const API_PREFIX: &str = "/api/v1";

const DESCRIPTION: &str = "\
The WeShop API. Bodies are JSON with snake_case fields.

**Authentication**: log in with `POST /auth/login`; send the returned token as \
`Authorization: Bearer <token>`, or let the browser send the `weshop_session` cookie set at \
login (HttpOnly, SameSite=Lax). A cookie-authenticated request that changes state (POST, \
PUT, PATCH, DELETE) must also carry the header `X-WeShop-CSRF: 1`, which other sites' pages \
cannot send; bearer requests need no such header.

**Money**: every amount is a decimal string in the shop's currency (e.g. `\"12.34\"`), in \
requests and responses alike; responses name the currency.

**Times** are milliseconds since the Unix epoch.

**Errors** are RFC 7807 problems (`application/problem+json` with type, title, status, \
detail). Their `type`s:";

/// The spec's description: [`DESCRIPTION`] and every problem type with its meaning.
fn description() -> String {
    let mut text = DESCRIPTION.to_string();
    text.push_str("\n\n");
    for (slug, meaning) in problem::PROBLEM_KINDS {
        text.push_str(&format!(
            "- `{}{slug}`: {meaning}\n",
            problem::PROBLEM_TYPE_PREFIX
        ));
    }
    text.push_str("- `about:blank`: nothing more to say than the status\n");
    text
}

/// Every route: `/api/v1/...`, `/api/openapi.json`, `/api/docs` (Swagger UI), `/health`,
/// `/metrics`, and the web shop's pages at `/` ([`crate::web`]).
pub fn routes(state: ApiState) -> BoxEndpoint<'static> {
    let state = Arc::new(state);
    let api = OpenApiService::new(
        (
            auth::AuthApi(state.clone()),
            profile::ProfileApi(state.clone()),
            catalog::CatalogApi(state.clone()),
            seller::SellerApi(state.clone()),
            cart::CartApi(state.clone()),
            orders::OrdersApi(state.clone()),
            labels::LabelsApi(state.clone()),
            events::EventsApi(state.clone()),
            notifications::NotificationsApi(state.clone()),
        ),
        "WeShop",
        env!("CARGO_PKG_VERSION"),
    )
    .description(description())
    .server(API_PREFIX);
    let allowed = Arc::new(conventions::AllowTable::from_spec(&api.spec(), API_PREFIX));
    let generated = api.spec();
    let documented = documented_errors::document(&generated);
    // Swagger UI embeds the spec it shows: the same one as `/api/openapi.json`.
    let docs_html = api.swagger_ui_html().replace(&generated, &documented);
    let spec = make_sync(move |_| {
        poem::Response::builder()
            .content_type("application/json")
            .body(documented.clone())
    });
    let docs = Route::new().at("/", make_sync(move |_| Html(docs_html.clone())));
    let metrics = state.metrics.clone();
    Route::new()
        .nest(API_PREFIX, api)
        .at("/api/openapi.json", spec)
        .nest("/api/docs", docs)
        .at("/health", get(health::health))
        .at("/metrics", get(health::metrics))
        .nest(
            "/",
            crate::web::routes(crate::web::WebState::new(
                state.shop.clone(),
                state.secure_cookies,
            )),
        )
        .data(state)
        .data(Arc::new(throttle::AddressThrottle::default()))
        .with(CookieJarManager::new())
        .around(conventions::etag)
        .around(limits::limit_body)
        .around(move |endpoint, request| observe(metrics.clone(), endpoint, request))
        .around(move |endpoint, request| conventions::allow(endpoint, request, allowed.clone()))
        .catch_all_error(problem::catch_all)
        .around(conventions::compress)
        .boxed()
}

/// The method as a metrics label: one of the standard methods, else `OTHER`, so a client
/// cannot add label values (and series) by inventing methods.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// Records each request's method, route template (not the raw path, which would make one
/// series per id), status and duration.
async fn observe<E: Endpoint>(
    metrics: Arc<Metrics>,
    endpoint: Arc<E>,
    request: Request,
) -> poem::Result<Response> {
    let method = method_label(request.method());
    let started = Instant::now();
    let result = endpoint
        .call(request)
        .await
        .map(IntoResponse::into_response);
    let (status, route) = match &result {
        Ok(response) => (response.status(), response.data::<PathPattern>()),
        Err(error) => (error.status(), error.data::<PathPattern>()),
    };
    let route = route.map_or("unmatched", |p| &p.0);
    metrics.observe_http(
        method,
        route,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    result
}
