//! `/unsubscribe/{token}`: the link in every promotion's mail. One click takes the person off
//! promotions, logged in or not: a `GET` (a person clicking) shows a page, a `POST` (a mail
//! client's one-click button, RFC 8058) answers plainly. The signed token is the authority, so
//! neither needs a session or a CSRF token, and doing it twice is harmless.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{Data, Path},
};

use super::{
    PageResult,
    layout::{Layout, State, viewer},
    shop_error,
};

/// The page after unsubscribing.
#[derive(Template, WebTemplate)]
#[template(path = "unsubscribed.html")]
pub struct UnsubscribedPage {
    layout: Layout,
}

/// `GET /unsubscribe/{token}`.
#[handler]
pub async fn unsubscribe_page(
    state: Data<&State>,
    req: &Request,
    token: Path<String>,
) -> PageResult {
    state.shop.unsubscribe(&token).await.map_err(shop_error)?;
    let viewer = viewer(&state, req).await;
    Ok(UnsubscribedPage {
        layout: Layout::new(&state, req, viewer.as_ref()),
    }
    .into_response())
}

/// `POST /unsubscribe/{token}` (`List-Unsubscribe=One-Click`).
#[handler]
pub async fn unsubscribe_one_click(state: Data<&State>, token: Path<String>) -> PageResult {
    state.shop.unsubscribe(&token).await.map_err(shop_error)?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .content_type("text/plain; charset=utf-8")
        .body("unsubscribed from promotions\n"))
}
