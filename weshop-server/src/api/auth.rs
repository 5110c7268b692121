//! Registration, login and logout, and how a request proves who sends it: a bearer token or
//! the session cookie set at login (both documented as security schemes, so Swagger offers
//! either).

use super::pattern::{DisplayNameRule, EmailRule, Matching, PasswordRule};
use std::sync::Arc;

use poem::{
    Request,
    web::{Data, RemoteAddr, cookie::Cookie},
};
use poem_openapi::{
    ApiResponse, Object, OpenApi, SecurityScheme,
    auth::{ApiKey, Bearer},
    payload::Json,
};
use weshop_core::{
    domain::{Email, Password, PersonName, Roles, SessionToken, Timestamp, User},
    shop::{ProfilePatch, Registration},
};

use super::enums::RoleDto;
use super::omittable::Omittable;
use super::text::Text;
use super::{
    ApiState, ApiTags,
    problem::{ApiError, ApiResult},
    throttle::AddressThrottle,
    types::UserDto,
};

/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "weshop_session";

/// Who is calling: the authenticated user and the token that proved it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// The session token (logout ends it).
    pub token: SessionToken,
}

/// `Authorization: Bearer <token>`, the token from login.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_bearer")]
pub struct BearerAuth(Caller);

/// The `weshop_session` cookie set at login (for browsers).
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_name = "weshop_session",
    key_in = "cookie",
    checker = "check_cookie"
)]
pub struct CookieAuth(Caller);

/// Either way of proving a session; the bearer token is tried first.
#[derive(SecurityScheme)]
pub enum Auth {
    /// By bearer token.
    Bearer(BearerAuth),
    /// By session cookie.
    Cookie(CookieAuth),
}

impl Auth {
    /// The caller, however they proved it.
    pub fn caller(&self) -> &Caller {
        match self {
            Auth::Bearer(BearerAuth(caller)) | Auth::Cookie(CookieAuth(caller)) => caller,
        }
    }

    /// The caller's user id.
    pub fn user_id(&self) -> weshop_core::domain::UserId {
        self.caller().user.id
    }
}

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    authenticate(req, &bearer.token).await
}

/// The header a cookie-authenticated request that changes state must carry. Browsers send
/// cookies with cross-site form posts, but a page of another site cannot add a custom header
/// without a CORS preflight, which this server does not grant: so the header proves the
/// request came from a page or client of the shop's own. Bearer requests need no header.
pub const CSRF_HEADER: &str = "x-weshop-csrf";

async fn check_cookie(req: &Request, key: ApiKey) -> poem::Result<Caller> {
    let safe = matches!(
        *req.method(),
        poem::http::Method::GET | poem::http::Method::HEAD | poem::http::Method::OPTIONS
    );
    if !safe && !req.headers().contains_key(CSRF_HEADER) {
        return Err(
            ApiError::from(weshop_core::shop::ShopError::Forbidden(format!(
                "a request authenticated by the session cookie that changes state needs the \
             {CSRF_HEADER} header (or use the bearer token)"
            )))
            .into(),
        );
    }
    authenticate(req, &key.key).await
}

async fn authenticate(req: &Request, presented: &str) -> poem::Result<Caller> {
    let unauthenticated = || {
        ApiError::from(weshop_core::shop::ShopError::Unauthenticated(
            "not logged in or session expired".into(),
        ))
    };
    let state = req
        .data::<Arc<ApiState>>()
        .expect("routes() adds the state to every request");
    let token = SessionToken::presented(presented).ok_or_else(unauthenticated)?;
    let user = state
        .shop
        .authenticate(&token)
        .await
        .map_err(ApiError::from)?;
    Ok(Caller { user, token })
}

/// A new account.
#[derive(Debug, Object)]
pub struct RegisterRequest {
    /// Login email (compared case-insensitively): an ASCII address like `ada@example.com`,
    /// with a domain of at least two labels.
    pub email: Matching<EmailRule>,
    /// 8 to 128 characters, not all blank, not a common password.
    pub password: Matching<PasswordRule>,
    /// Display name: 1 to 100 characters, not all blank.
    pub name: Matching<DisplayNameRule>,
    /// What the account may do (at least one).
    #[oai(validator(min_items = 1))]
    pub roles: Vec<RoleDto>,
    /// Opt in to sellers' promotions (off unless true).
    pub promotions: Omittable<bool>,
}

/// Credentials.
#[derive(Debug, Object)]
pub struct LoginRequest {
    /// Login email.
    pub email: Text,
    /// Password.
    pub password: Text,
}

/// A new session.
#[derive(Debug, Object)]
pub struct LoginResponse {
    /// The bearer token (also set as the `weshop_session` cookie).
    pub token: String,
    /// When it stops working, in milliseconds since the Unix epoch.
    pub expires_at: u64,
    /// Who logged in.
    pub user: UserDto,
}

/// Register's answer.
#[derive(ApiResponse)]
pub enum Registered {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<UserDto>, #[oai(header = "Location")] String),
}

/// Login's answer.
#[derive(ApiResponse)]
pub enum LoggedIn {
    /// Logged in; the session cookie is set too.
    #[oai(status = 200)]
    Ok(Json<LoginResponse>, #[oai(header = "Set-Cookie")] String),
}

/// Logout's answer.
#[derive(ApiResponse)]
pub enum LoggedOut {
    /// The session is over and the cookie cleared.
    #[oai(status = 204)]
    NoContent(#[oai(header = "Set-Cookie")] String),
}

/// Accounts and sessions.
pub struct AuthApi(pub Arc<ApiState>);

/// The session cookie: HttpOnly so scripts cannot steal it, SameSite=Lax against CSRF, and
/// `Secure` when `secure` (the setting). The API and the web pages set the same cookie.
pub fn session_cookie(value: &str, secure: bool) -> Cookie {
    let mut cookie = Cookie::new_with_str(SESSION_COOKIE, value);
    cookie.set_http_only(true);
    cookie.set_same_site(poem::web::cookie::SameSite::Lax);
    cookie.set_path("/");
    cookie.set_secure(secure);
    cookie
}

/// The session cookie for a new login, kept by the browser until the session expires.
pub fn login_cookie(value: &str, secure: bool, expires: Timestamp) -> Cookie {
    let mut cookie = session_cookie(value, secure);
    let ttl = expires.millis().saturating_sub(Timestamp::now().millis());
    cookie.set_max_age(std::time::Duration::from_millis(ttl));
    cookie
}

impl AuthApi {
    /// The session cookie (see [`session_cookie`]).
    fn cookie(&self, value: &str) -> Cookie {
        session_cookie(value, self.0.secure_cookies)
    }
}

fn parse_roles(roles: &[RoleDto]) -> ApiResult<Roles> {
    let customer = roles.contains(&RoleDto::Customer);
    let seller = roles.contains(&RoleDto::Seller);
    Ok(Roles::new(customer, seller)?)
}

#[OpenApi(prefix_path = "/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Creates an account.
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(&self, body: Json<RegisterRequest>) -> ApiResult<Registered> {
        let registration = Registration {
            email: Email::parse(&body.email)?,
            password: Password::new(&body.password)?,
            name: PersonName::parse(&body.name)?,
            roles: parse_roles(&body.roles)?,
        };
        let mut user = self.0.shop.register(registration).await?;
        if *body.promotions == Some(true) {
            let patch = ProfilePatch {
                promotions: Some(true),
                ..ProfilePatch::default()
            };
            user = self.0.shop.update_profile(user.id, patch).await?;
        }
        // The new account is read at /me, once logged in.
        Ok(Registered::Created(
            Json(user.into()),
            format!("{}/me", super::API_PREFIX),
        ))
    }

    /// Opens a session: returns the token and sets it as an HttpOnly cookie.
    #[oai(path = "/login", method = "post", operation_id = "logIn")]
    async fn login(
        &self,
        body: Json<LoginRequest>,
        remote: &RemoteAddr,
        throttle: Data<&Arc<AddressThrottle>>,
    ) -> ApiResult<LoggedIn> {
        throttle.check(remote)?;
        // A malformed email cannot belong to an account: same answer as a wrong password.
        let parsed = Email::parse(&body.email).map_err(|_| {
            weshop_core::shop::ShopError::Unauthenticated("wrong email or password".into())
        });
        let outcome = match parsed {
            Ok(email) => self.0.shop.login(&email, &body.password).await,
            Err(refused) => Err(refused),
        };
        throttle.record(remote, &outcome);
        let logged_in = outcome?;
        let cookie = login_cookie(
            logged_in.token.expose(),
            self.0.secure_cookies,
            logged_in.expires,
        );
        Ok(LoggedIn::Ok(
            Json(LoginResponse {
                token: logged_in.token.expose().to_string(),
                expires_at: logged_in.expires.millis(),
                user: logged_in.user.into(),
            }),
            cookie.to_string(),
        ))
    }

    /// Ends the caller's session and clears the cookie.
    #[oai(path = "/logout", method = "post", operation_id = "logOut")]
    async fn logout(&self, auth: Auth) -> ApiResult<LoggedOut> {
        self.0.shop.logout(&auth.caller().token).await?;
        let mut cookie = self.cookie("");
        cookie.make_removal();
        Ok(LoggedOut::NoContent(cookie.to_string()))
    }
}
