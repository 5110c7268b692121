//! The web shop: server-rendered HTML pages over the same [`Shop`] port as the API.
//!
//! Every page works without JavaScript (htmx only adds live order updates). Handlers parse
//! form and query input into domain values, call the shop, and render an askama template
//! (checked at compile time, output escaped). Sessions are the API's `weshop_session` cookie;
//! every state-changing form carries a CSRF token ([`csrf`]); every response gets strict
//! security headers ([`security_headers`]).

pub mod account;
pub mod assets;
pub mod cart;
pub mod catalog;
pub mod checkout;
pub mod csrf;
pub mod images;
pub mod layout;
pub mod notifications;
pub mod order_map;
pub mod orders;
pub mod products;
pub mod seller;
pub mod unsubscribe;

use std::sync::Arc;

use poem::{
    Endpoint, EndpointExt, IntoResponse, Response, Route, get,
    http::{StatusCode, header},
    post,
};
use weshop_core::shop::{Shop, ShopError};

pub use layout::{Layout, Viewer};

/// What the pages need.
pub struct WebState {
    /// The shop.
    pub shop: Arc<dyn Shop>,
    /// Whether cookies get the `Secure` attribute.
    pub secure_cookies: bool,
    /// Signs CSRF tokens.
    pub csrf: csrf::CsrfKey,
}

impl WebState {
    /// The pages' state, with a fresh CSRF key.
    pub fn new(shop: Arc<dyn Shop>, secure_cookies: bool) -> Self {
        Self {
            shop,
            secure_cookies,
            csrf: csrf::CsrfKey::random(),
        }
    }
}

/// The `Content-Security-Policy` of every page: only the shop's own scripts, styles and
/// connections, no inline script, no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' https: data:; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// A page that failed: its status and what to tell the visitor.
pub type PageResult = poem::Result<Response>;

/// A failure shown as an error page with `status` and `message`.
pub fn fail(status: StatusCode, message: impl Into<String>) -> poem::Error {
    poem::Error::from_string(message.into(), status)
}

/// The product a path segment names, or a 404 page (an id that is no number looks missing).
pub fn product_in_path(text: &str) -> poem::Result<weshop_core::domain::ProductId> {
    text.parse::<i64>()
        .ok()
        .and_then(|id| weshop_core::domain::ProductId::new(id).ok())
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such product"))
}

/// A redirect after a form (303, so the browser follows with a GET).
pub fn see_other(location: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, location)
        .finish()
}

/// The shop's refusal as an error page; a missing session sends the visitor to log in.
pub fn shop_error(error: ShopError) -> poem::Error {
    let status = match &error {
        ShopError::Invalid(_) | ShopError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ShopError::Unauthenticated(_) => {
            return poem::Error::from_response(see_other("/login"));
        }
        ShopError::Payment(_) => StatusCode::PAYMENT_REQUIRED,
        ShopError::Forbidden(_) => StatusCode::FORBIDDEN,
        ShopError::NotFound(_) => StatusCode::NOT_FOUND,
        ShopError::Conflict(_) | ShopError::OutOfStock { .. } => StatusCode::CONFLICT,
        ShopError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ShopError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
        ShopError::Unavailable(_) => {
            tracing::error!("shop unavailable: {error}");
            return fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "The shop is temporarily unavailable; please try again.",
            );
        }
    };
    fail(status, sentence(&error.to_string()))
}

/// A message as a sentence: capitalised, ending with a full stop.
pub fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// The pages' routes (mounted at `/`, next to the API): HTML error pages for whatever fails
/// in them, and the security headers on every response.
pub fn routes(state: WebState) -> impl Endpoint<Output = Response> + 'static {
    let state = Arc::new(state);
    Route::new()
        .at("/", get(catalog::home))
        .at("/search", get(catalog::search))
        .at("/products/:id", get(catalog::show_product))
        .at(
            "/register",
            get(account::register_form).post(account::register),
        )
        .at("/login", get(account::login_form).post(account::login))
        .at("/logout", post(account::logout))
        .at("/account", get(account::account))
        .at(
            "/unsubscribe/:token",
            get(unsubscribe::unsubscribe_page).post(unsubscribe::unsubscribe_one_click),
        )
        .at("/account/notifications", get(notifications::inbox))
        .at(
            "/account/notifications/read",
            post(notifications::mark_all_read),
        )
        .at("/account/password", post(account::change_password))
        .at("/account/promotions", post(account::set_promotions))
        .at("/account/addresses", post(account::add_address))
        .at("/account/addresses/remove", post(account::remove_address))
        .at("/account/cards", post(account::add_card))
        .at("/account/cards/remove", post(account::remove_card))
        .at("/cart", get(cart::show_cart))
        .at("/cart/items", post(cart::add))
        .at("/cart/items/:id", post(cart::set))
        .at("/cart/items/:id/remove", post(cart::remove))
        .at(
            "/checkout",
            get(checkout::checkout_form).post(checkout::checkout),
        )
        .at("/orders", get(orders::list_orders))
        .at("/orders/:id", get(orders::show_order))
        .at("/orders/:id/cancel", post(orders::cancel_order))
        .at("/seller", get(seller::dashboard))
        .at("/seller/products", post(products::create))
        .at("/seller/products/new", get(products::new_form))
        .at("/seller/products/:id", post(products::update))
        .at("/seller/products/:id/edit", get(products::edit_form))
        .at("/seller/products/:id/withdraw", post(products::withdraw))
        .at("/seller/products/:id/restock", post(seller::restock))
        .at("/images/products/:id/:file", get(images::product_picture))
        .at("/seller/promotions", post(seller::promote))
        .at("/orders/:id/live", get(orders::live))
        .nest("/static", assets::routes())
        .data(state)
        .catch_all_error(layout::error_page)
        .around(|endpoint, request| async move {
            let response = endpoint.call(request).await?.into_response();
            Ok(security_headers(response))
        })
}

/// Adds the security headers every HTML response carries.
pub fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut poem::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, poem::http::HeaderValue::from_static(value));
    };
    set(headers, "content-security-policy", CONTENT_SECURITY_POLICY);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    response
}
