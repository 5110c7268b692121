//! What every page shares: who is looking (from the session cookie), the header's data, the
//! error page, and formatting helpers for templates.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use poem::{IntoResponse, Request, Response, http::StatusCode};
use weshop_core::domain::{Money, SessionToken, Timestamp, User};

use super::WebState;
use crate::api::{auth::SESSION_COOKIE, types::amount};

/// The logged-in visitor, if any.
#[derive(Clone)]
pub struct Viewer {
    /// Who.
    pub user: User,
    /// Their session token (logout ends it).
    pub token: SessionToken,
    /// Unread notifications (the header shows them).
    pub unread: u64,
}

/// The visitor behind this request's session cookie, if the session is valid.
pub async fn viewer(state: &WebState, req: &Request) -> Option<Viewer> {
    let cookie = req.cookie().get(SESSION_COOKIE)?;
    let token = SessionToken::presented(cookie.value_str())?;
    let user = state.shop.authenticate(&token).await.ok()?;
    // The count is a courtesy: a page still renders if the inbox cannot be read.
    let unread = state.shop.unread_notifications(user.id).await.unwrap_or(0);
    Some(Viewer {
        user,
        token,
        unread,
    })
}

/// The visitor, or a redirect to the login page.
pub async fn require_viewer(state: &WebState, req: &Request) -> poem::Result<Viewer> {
    viewer(state, req)
        .await
        .ok_or_else(|| poem::Error::from_response(super::see_other("/login")))
}

/// The logged-in visitor behind a state-changing form, once the form's CSRF token checks
/// out (else a 403 page; no session: off to log in).
pub async fn form_viewer(state: &WebState, req: &Request, csrf: &str) -> poem::Result<Viewer> {
    state.csrf.verify(req, csrf)?;
    require_viewer(state, req).await
}

/// The header's data: the visitor's name, the CSRF token for the logout form, the search
/// words to keep in the search box.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The logged-in visitor's name.
    pub user: Option<String>,
    /// The CSRF token of this page's forms.
    pub csrf: String,
    /// The search box's words.
    pub q: String,
    /// The visitor sells (the header links to their shop).
    pub seller: bool,
    /// The visitor's unread notifications.
    pub unread: u64,
}

impl Layout {
    /// The layout for this request (sets the CSRF cookie if the browser has none).
    pub fn new(state: &WebState, req: &Request, viewer: Option<&Viewer>) -> Self {
        Self {
            user: viewer.map(|v| v.user.name.as_str().to_string()),
            csrf: state.csrf.token(req, state.secure_cookies),
            q: String::new(),
            seller: viewer.is_some_and(|v| v.user.roles.seller),
            unread: viewer.map_or(0, |v| v.unread),
        }
    }
}

/// The error page.
#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// The header.
    pub layout: Layout,
    /// The status code.
    pub status: u16,
    /// Its short name.
    pub title: String,
    /// What went wrong, in words.
    pub message: String,
}

/// Turns whatever failed in a page into an HTML error page; redirects pass unchanged.
pub async fn error_page(error: poem::Error) -> Response {
    let status = error.status();
    if status.is_redirection() && error.is_from_response() {
        return error.into_response();
    }
    let message = if status == StatusCode::NOT_FOUND {
        "We could not find that page. It may have moved, or it was never here.".to_string()
    } else if status.is_server_error() {
        tracing::error!(%status, "page failed: {error}");
        "Something went wrong on our side. Please try again in a moment.".to_string()
    } else {
        super::sentence(&error.to_string())
    };
    let page = ErrorPage {
        layout: Layout::default(),
        status: status.as_u16(),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        message,
    };
    page.with_status(status).into_response()
}

/// A price with its currency, e.g. "12.34 USD".
pub fn price(money: Money) -> String {
    format!("{} {}", amount(money), money.currency())
}

/// A moment as "2026-11-30 13:47 UTC".
pub fn when(at: Timestamp) -> String {
    let rest = (at.millis() / 1000) as i64 % 86_400;
    format!(
        "{} {:02}:{:02} UTC",
        date(at),
        rest / 3600,
        rest % 3600 / 60
    )
}

/// The day of a moment (UTC), as "2026-11-30".
pub fn date(at: Timestamp) -> String {
    let days = ((at.millis() / 1000) as i64).div_euclid(86_400);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A snake_case name in words: "waiting_for_stock" → "Waiting for stock".
pub fn words(name: &str) -> String {
    super::sentence(&name.replace('_', " "))
        .trim_end_matches('.')
        .to_string()
}

/// Percent-encodes a query value.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The state of the pages (as routes() stores it).
pub type State = Arc<WebState>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_words() {
        assert_eq!(when(Timestamp::from_millis(0)), "1970-01-01 00:00 UTC");
        assert_eq!(
            when(Timestamp::from_millis(1_764_510_420_000)),
            "2025-11-30 13:47 UTC"
        );
        assert_eq!(words("waiting_for_stock"), "Waiting for stock");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
