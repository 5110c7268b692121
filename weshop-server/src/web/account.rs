//! Registration, login and logout with the session cookie the API sets.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form, RemoteAddr},
};
use serde::Deserialize;
use weshop_core::{
    domain::{Address, CardNumber, Email, Location, Password, PersonName, Roles, User},
    shop::{ProfilePatch, Registration, ShopError},
};

use super::{
    PageResult,
    csrf::CsrfOnly,
    layout::{Layout, State, Viewer, form_viewer, require_viewer, viewer, words},
    see_other, sentence, shop_error,
};
use std::sync::Arc;

use crate::api::{
    auth::{login_cookie, session_cookie},
    throttle::AddressThrottle,
};

/// `/register`.
#[derive(Template, WebTemplate)]
#[template(path = "register.html")]
pub struct RegisterPage {
    layout: Layout,
    error: Option<String>,
    email: String,
    name: String,
    seller: bool,
}

/// `/login`.
#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    layout: Layout,
    error: Option<String>,
    email: String,
}

/// The registration form.
#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    csrf: String,
    email: String,
    name: String,
    password: String,
    seller: Option<String>,
    /// Ticked: opt in to sellers' promotions.
    promotions: Option<String>,
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
}

/// `GET /register`.
#[handler]
pub async fn register_form(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = viewer(&state, req).await;
    Ok(RegisterPage {
        layout: Layout::new(&state, req, viewer.as_ref()),
        error: None,
        email: String::new(),
        name: String::new(),
        seller: false,
    }
    .into_response())
}

fn registration(form: &RegisterForm) -> Result<Registration, ShopError> {
    Ok(Registration {
        email: Email::parse(form.email.trim())?,
        password: Password::new(&form.password)?,
        name: PersonName::parse(&form.name)?,
        roles: Roles::new(true, form.seller.is_some())?,
    })
}

/// `POST /register`: creates the account and logs in; or the form again with the error.
#[handler]
pub async fn register(state: Data<&State>, req: &Request, form: Form<RegisterForm>) -> PageResult {
    state.csrf.verify(req, &form.csrf)?;
    let again = |error: String, status: StatusCode| {
        RegisterPage {
            layout: Layout::new(&state, req, None),
            error: Some(error),
            email: form.email.clone(),
            name: form.name.clone(),
            seller: form.seller.is_some(),
        }
        .with_status(status)
        .into_response()
    };
    let registration = match registration(&form) {
        Ok(registration) => registration,
        Err(error) => return Ok(again(sentence(&error.to_string()), StatusCode::BAD_REQUEST)),
    };
    let email = registration.email.clone();
    match state.shop.register(registration).await {
        Ok(user) if form.promotions.is_some() => {
            let patch = ProfilePatch {
                promotions: Some(true),
                ..ProfilePatch::default()
            };
            state
                .shop
                .update_profile(user.id, patch)
                .await
                .map_err(shop_error)?;
        }
        Ok(_) => {}
        Err(ShopError::Conflict(_)) => {
            return Ok(again(
                "An account with this email already exists. Log in instead.".into(),
                StatusCode::CONFLICT,
            ));
        }
        Err(error @ ShopError::Invalid(_)) => {
            return Ok(again(sentence(&error.to_string()), StatusCode::BAD_REQUEST));
        }
        Err(error) => return Err(shop_error(error)),
    }
    logged_in(&state, &email, &form.password, "/").await
}

/// Logs in and redirects to `to` with the session cookie set.
async fn logged_in(state: &State, email: &Email, password: &str, to: &str) -> PageResult {
    let session = state
        .shop
        .login(email, password)
        .await
        .map_err(shop_error)?;
    let cookie = login_cookie(
        session.token.expose(),
        state.secure_cookies,
        session.expires,
    );
    Ok(see_other_setting(to, &cookie))
}

/// `GET /login`.
#[handler]
pub async fn login_form(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = viewer(&state, req).await;
    Ok(LoginPage {
        layout: Layout::new(&state, req, viewer.as_ref()),
        error: None,
        email: String::new(),
    }
    .into_response())
}

/// `POST /login`: one answer for an unknown email and a wrong password.
#[handler]
pub async fn login(
    state: Data<&State>,
    req: &Request,
    remote: &RemoteAddr,
    throttle: Data<&Arc<AddressThrottle>>,
    form: Form<LoginForm>,
) -> PageResult {
    state.csrf.verify(req, &form.csrf)?;
    let refused = || -> Response {
        LoginPage {
            layout: Layout::new(&state, req, None),
            error: Some("Wrong email or password.".into()),
            email: form.email.clone(),
        }
        .with_status(StatusCode::UNAUTHORIZED)
        .into_response()
    };
    if let Err(error) = throttle.check(remote) {
        return Ok(too_many(&state, req, &form.email, &error));
    }
    let outcome = match Email::parse(form.email.trim()) {
        Ok(email) => state.shop.login(&email, &form.password).await,
        Err(_) => Err(ShopError::Unauthenticated("wrong email or password".into())),
    };
    throttle.record(remote, &outcome);
    match outcome {
        Ok(session) => {
            let cookie = login_cookie(
                session.token.expose(),
                state.secure_cookies,
                session.expires,
            );
            Ok(see_other_setting("/", &cookie))
        }
        Err(ShopError::Unauthenticated(_)) => Ok(refused()),
        Err(error @ ShopError::TooMany { .. }) => Ok(too_many(&state, req, &form.email, &error)),
        Err(error) => Err(shop_error(error)),
    }
}

/// The login form again, saying how long to wait (429, with `Retry-After`).
fn too_many(state: &State, req: &Request, email: &str, error: &ShopError) -> Response {
    let wait = match error {
        ShopError::TooMany { retry_after, .. } => retry_after.as_secs().max(1),
        _ => 1,
    };
    let mut response = LoginPage {
        layout: Layout::new(state, req, None),
        error: Some(sentence(&error.to_string())),
        email: email.to_string(),
    }
    .with_status(StatusCode::TOO_MANY_REQUESTS)
    .into_response();
    response.headers_mut().insert(
        poem::http::header::RETRY_AFTER,
        poem::http::HeaderValue::from(wait),
    );
    response
}

/// `POST /logout`: ends the session and clears the cookie.
#[handler]
pub async fn logout(state: Data<&State>, req: &Request, form: Form<CsrfOnly>) -> PageResult {
    state.csrf.verify(req, &form.csrf)?;
    if let Some(viewer) = viewer(&state, req).await {
        state.shop.logout(&viewer.token).await.map_err(shop_error)?;
    }
    let mut cookie = session_cookie("", state.secure_cookies);
    cookie.make_removal();
    Ok(see_other_setting("/", &cookie))
}

/// `/account`.
#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    layout: Layout,
    name: String,
    email: String,
    addresses: Vec<(String, i32, i32)>,
    cards: Vec<(String, String, String)>,
    /// Opted in to promotions.
    promotions: bool,
    error: Option<String>,
}

async fn account_page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    error: Option<String>,
) -> poem::Result<AccountPage> {
    let user = state
        .shop
        .profile(viewer.user.id)
        .await
        .map_err(shop_error)?;
    Ok(AccountPage {
        layout: Layout::new(state, req, Some(viewer)),
        name: user.name.as_str().to_string(),
        email: user.email.as_str().to_string(),
        addresses: user
            .addresses
            .iter()
            .map(|a| (a.label.clone(), a.location.x, a.location.y))
            .collect(),
        cards: user
            .payment_methods
            .iter()
            .map(|m| (m.token.clone(), words(m.brand.as_str()), m.last4.clone()))
            .collect(),
        promotions: user.promotions,
        error,
    })
}

/// `GET /account`: name, addresses and saved cards.
#[handler]
pub async fn account(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    Ok(account_page(&state, req, &viewer, None)
        .await?
        .into_response())
}

/// A new address.
#[derive(Debug, Deserialize)]
pub struct AddressForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    x: String,
    #[serde(default)]
    y: String,
}

/// A new card, or the label or token of one to forget.
#[derive(Debug, Deserialize)]
pub struct ItemForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    value: String,
}

/// After an account change: back to the page, or the page with the reason.
async fn changed(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    result: Result<User, ShopError>,
) -> PageResult {
    match result {
        Ok(_) => Ok(see_other("/account")),
        Err(
            error @ (ShopError::Invalid(_)
            | ShopError::BadRequest(_)
            | ShopError::Conflict(_)
            | ShopError::Forbidden(_)),
        ) => {
            let status = match error {
                ShopError::Forbidden(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let page = account_page(state, req, viewer, Some(sentence(&error.to_string()))).await?;
            Ok(page.with_status(status).into_response())
        }
        Err(error) => Err(shop_error(error)),
    }
}

fn address(form: &AddressForm) -> Result<Address, ShopError> {
    let coordinate = |text: &str, name: &str| {
        text.trim()
            .parse::<i32>()
            .map_err(|_| ShopError::BadRequest(format!("{name} must be a whole number")))
    };
    Ok(Address::new(
        &form.label,
        Location::new(coordinate(&form.x, "x")?, coordinate(&form.y, "y")?),
    )?)
}

/// A password change.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// `POST /account/password`: needs the current password; logs out every other session.
#[handler]
pub async fn change_password(
    state: Data<&State>,
    req: &Request,
    form: Form<PasswordForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let result = match Password::new(&form.new_password) {
        Ok(new) => {
            state
                .shop
                .change_password(&viewer.token, &form.current_password, new)
                .await
        }
        Err(error) => Err(error.into()),
    };
    changed(&state, req, &viewer, result).await
}

/// `POST /account/addresses`.
#[handler]
pub async fn add_address(
    state: Data<&State>,
    req: &Request,
    form: Form<AddressForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let result = match address(&form) {
        Ok(address) => state.shop.add_address(viewer.user.id, address).await,
        Err(error) => Err(error),
    };
    changed(&state, req, &viewer, result).await
}

/// `POST /account/addresses/remove`.
#[handler]
pub async fn remove_address(
    state: Data<&State>,
    req: &Request,
    form: Form<ItemForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let result = state.shop.remove_address(viewer.user.id, &form.value).await;
    changed(&state, req, &viewer, result).await
}

/// `POST /account/cards`.
#[handler]
pub async fn add_card(state: Data<&State>, req: &Request, form: Form<ItemForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let result = match CardNumber::parse(&form.value) {
        Ok(card) => state.shop.add_payment_method(viewer.user.id, card).await,
        Err(error) => Err(error.into()),
    };
    changed(&state, req, &viewer, result).await
}

/// `POST /account/cards/remove`.
#[handler]
pub async fn remove_card(state: Data<&State>, req: &Request, form: Form<ItemForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let result = state
        .shop
        .remove_payment_method(viewer.user.id, &form.value)
        .await;
    changed(&state, req, &viewer, result).await
}

/// A redirect to `to` that also sets (or clears) `cookie`.
fn see_other_setting(to: &str, cookie: &poem::web::cookie::Cookie) -> Response {
    let mut response = see_other(to);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie
            .to_string()
            .parse()
            .expect("a cookie is a header value"),
    );
    response
}

/// The promotions choice.
#[derive(Debug, Deserialize)]
pub struct PromotionsForm {
    #[serde(default)]
    csrf: String,
    /// "yes" to receive them, anything else to stop them.
    #[serde(default)]
    promotions: String,
}

/// `POST /account/promotions`: opts in to or out of sellers' promotions.
#[handler]
pub async fn set_promotions(
    state: Data<&State>,
    req: &Request,
    form: Form<PromotionsForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let patch = ProfilePatch {
        promotions: Some(form.promotions == "yes"),
        ..ProfilePatch::default()
    };
    state
        .shop
        .update_profile(viewer.user.id, patch)
        .await
        .map_err(shop_error)?;
    Ok(see_other("/account"))
}
