//! Registration, login and logout with the session cookie the API sets.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, Response, handler,
    http::{StatusCode, header},
    web::{Data, Form},
};
use serde::Deserialize;
use weshop_core::{
    domain::{Email, Password, PersonName, Roles, Timestamp},
    shop::{Registration, ShopError},
};

use super::{
    PageResult,
    layout::{Layout, State, viewer},
    see_other, sentence, shop_error,
};
use crate::api::auth::session_cookie;

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
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    email: String,
    password: String,
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
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
    let mut cookie = session_cookie(session.token.expose(), state.secure_cookies);
    let ttl = session
        .expires
        .millis()
        .saturating_sub(Timestamp::now().millis());
    cookie.set_max_age(std::time::Duration::from_millis(ttl));
    let mut response = see_other(to);
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie
            .to_string()
            .parse()
            .expect("a cookie is a header value"),
    );
    Ok(response)
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
pub async fn login(state: Data<&State>, req: &Request, form: Form<LoginForm>) -> PageResult {
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
    let Ok(email) = Email::parse(form.email.trim()) else {
        return Ok(refused());
    };
    match logged_in(&state, &email, &form.password, "/").await {
        Err(error) if error.status().is_redirection() => Ok(refused()),
        other => other,
    }
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
    let mut response = see_other("/");
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie
            .to_string()
            .parse()
            .expect("a cookie is a header value"),
    );
    Ok(response)
}
