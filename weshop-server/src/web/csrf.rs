//! CSRF protection for every state-changing form: a signed double-submit token.
//!
//! Each browser gets a random `weshop_csrf` cookie (HttpOnly, SameSite=Lax) the first time a
//! page renders a form; the forms carry `HMAC-SHA256(key, cookie)` in a hidden `csrf` field,
//! with a key drawn at random when the process starts. A POST is accepted only when its field
//! matches its own cookie: another site can make the browser send the cookie but can neither
//! read it nor compute the token. (Tokens stop working when the server restarts: the visitor
//! reloads the form.)

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use poem::{Request, http::StatusCode, web::cookie::Cookie};
use sha2::Sha256;
use weshop_core::domain::SessionToken;

/// The name of the cookie the tokens are bound to.
pub const CSRF_COOKIE: &str = "weshop_csrf";

/// The name of the hidden form field.
pub const CSRF_FIELD: &str = "csrf";

/// A form that carries nothing but its CSRF token (log out, remove, cancel).
#[derive(Debug, serde::Deserialize)]
pub struct CsrfOnly {
    /// The token.
    #[serde(default)]
    pub csrf: String,
}

/// The per-process signing key.
pub struct CsrfKey([u8; 32]);

impl CsrfKey {
    /// A fresh random key.
    pub fn random() -> Self {
        // A session token is 32 bytes from the OS RNG; reuse its source.
        let text = SessionToken::generate();
        let bytes = URL_SAFE_NO_PAD
            .decode(text.expose())
            .expect("a session token is base64url");
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[..32]);
        Self(key)
    }

    fn mac(&self, cookie: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key");
        mac.update(cookie.as_bytes());
        mac
    }

    /// The token for this request's forms, setting the cookie first if the browser has none.
    pub fn token(&self, req: &Request, secure: bool) -> String {
        let value = match req.cookie().get(CSRF_COOKIE) {
            Some(cookie) if valid_cookie(cookie.value_str()) => cookie.value_str().to_string(),
            _ => {
                let value = SessionToken::generate().expose().to_string();
                let mut cookie = Cookie::new_with_str(CSRF_COOKIE, &value);
                cookie.set_http_only(true);
                cookie.set_same_site(poem::web::cookie::SameSite::Lax);
                cookie.set_path("/");
                cookie.set_secure(secure);
                req.cookie().add(cookie);
                value
            }
        };
        URL_SAFE_NO_PAD.encode(self.mac(&value).finalize().into_bytes())
    }

    /// Accepts a form's token only if it was made for this browser's cookie; else a 403.
    pub fn verify(&self, req: &Request, token: &str) -> poem::Result<()> {
        let refused = || {
            super::fail(
                StatusCode::FORBIDDEN,
                "This form has expired or did not come from this site. Go back, reload the \
                 page and try again.",
            )
        };
        let cookie = req.cookie().get(CSRF_COOKIE).ok_or_else(refused)?;
        let presented = URL_SAFE_NO_PAD.decode(token).map_err(|_| refused())?;
        self.mac(cookie.value_str())
            .verify_slice(&presented)
            .map_err(|_| refused())
    }
}

fn valid_cookie(value: &str) -> bool {
    SessionToken::presented(value).is_some()
}
