//! The cart and checkout.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;
use weshop_core::{
    domain::{
        CardNumber, Cart, DeliveryOption, Location, Money, ProductId, Quantity, SessionToken,
        UpsAccount, User,
    },
    payments::IdempotencyKey,
    shop::{Checkout, ShopError},
};

use super::{
    PageResult,
    csrf::CsrfOnly,
    fail,
    layout::{Layout, State, Viewer, form_viewer, price, require_viewer, words},
    see_other, sentence, shop_error,
};

/// One line of the cart page.
pub struct Line {
    /// The product.
    pub id: i64,
    /// Its name (None if withdrawn since).
    pub name: Option<String>,
    /// Units.
    pub quantity: u32,
    /// Unit price.
    pub unit_price: String,
    /// Line total.
    pub total: String,
}

/// `/cart`.
#[derive(Template, WebTemplate)]
#[template(path = "cart.html")]
pub struct CartPage {
    layout: Layout,
    lines: Vec<Line>,
    subtotal: String,
    error: Option<String>,
}

/// The cart's lines at today's prices, and their sum.
async fn priced(state: &State, cart: &Cart) -> poem::Result<(Vec<Line>, String)> {
    let currency = state.shop.currency();
    let (mut lines, mut totals) = (Vec::new(), Vec::new());
    for (id, quantity) in cart.lines() {
        let line = match state.shop.product(id).await {
            Ok(product) => {
                let total = product
                    .price
                    .times(quantity)
                    .map_err(|e| shop_error(e.into()))?;
                totals.push(total);
                Line {
                    id: id.get(),
                    name: Some(product.name.to_string()),
                    quantity: quantity.get(),
                    unit_price: price(product.price),
                    total: price(total),
                }
            }
            Err(ShopError::NotFound(_)) => Line {
                id: id.get(),
                name: None,
                quantity: quantity.get(),
                unit_price: String::new(),
                total: String::new(),
            },
            Err(other) => return Err(shop_error(other)),
        };
        lines.push(line);
    }
    let subtotal = Money::sum(currency, totals).map_err(|e| shop_error(e.into()))?;
    Ok((lines, price(subtotal)))
}

async fn cart_page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    error: Option<String>,
) -> poem::Result<CartPage> {
    let cart = state.shop.cart(viewer.user.id).await.map_err(shop_error)?;
    let (lines, subtotal) = priced(state, &cart).await?;
    Ok(CartPage {
        layout: Layout::new(state, req, Some(viewer)),
        lines,
        subtotal,
        error,
    })
}

/// `GET /cart`.
#[handler]
pub async fn show_cart(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    Ok(cart_page(&state, req, &viewer, None).await?.into_response())
}

/// "Add to cart".
#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    product_id: String,
    quantity: String,
}

/// A quantity change.
#[derive(Debug, Deserialize)]
pub struct SetForm {
    #[serde(default)]
    csrf: String,
    quantity: String,
}

fn product_id(text: &str) -> poem::Result<ProductId> {
    text.trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| ProductId::new(id).ok())
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such product"))
}

/// A cart change refused by the shop: the cart page again with the reason.
async fn refused(state: &State, req: &Request, viewer: &Viewer, error: ShopError) -> PageResult {
    let status = match error {
        ShopError::Invalid(_) | ShopError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ShopError::OutOfStock { .. } | ShopError::Conflict(_) => StatusCode::CONFLICT,
        ShopError::NotFound(_) => StatusCode::NOT_FOUND,
        other => return Err(shop_error(other)),
    };
    let page = cart_page(state, req, viewer, Some(sentence(&error.to_string()))).await?;
    Ok(page.with_status(status).into_response())
}

fn quantity(text: &str) -> Result<Quantity, ShopError> {
    let units = text
        .trim()
        .parse::<i64>()
        .map_err(|_| ShopError::BadRequest("the quantity must be a whole number".into()))?;
    Ok(Quantity::new(units)?)
}

/// `POST /cart/items`: adds units of a product, then shows the cart.
#[handler]
pub async fn add(state: Data<&State>, req: &Request, form: Form<AddForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let product = product_id(&form.product_id)?;
    let result = match quantity(&form.quantity) {
        Ok(units) => state.shop.add_to_cart(viewer.user.id, product, units).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(see_other("/cart")),
        Err(error) => refused(&state, req, &viewer, error).await,
    }
}

/// `POST /cart/items/{id}`: sets the units of a line.
#[handler]
pub async fn set(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Form<SetForm>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let product = product_id(&id)?;
    let result = match quantity(&form.quantity) {
        Ok(units) => {
            state
                .shop
                .set_cart_item(viewer.user.id, product, units)
                .await
        }
        Err(error) => Err(error),
    };
    match result {
        Ok(_) => Ok(see_other("/cart")),
        Err(error) => refused(&state, req, &viewer, error).await,
    }
}

/// `POST /cart/items/{id}/remove`: removes a line.
#[handler]
pub async fn remove(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Form<CsrfOnly>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let product = product_id(&id)?;
    match state.shop.remove_cart_item(viewer.user.id, product).await {
        Ok(_) => Ok(see_other("/cart")),
        Err(error) => refused(&state, req, &viewer, error).await,
    }
}

/// A saved address or card as a choice.
pub struct Choice {
    /// The form value.
    pub value: String,
    /// What the visitor reads.
    pub label: String,
}

/// `/checkout`.
#[derive(Template, WebTemplate)]
#[template(path = "checkout.html")]
pub struct CheckoutPage {
    layout: Layout,
    lines: Vec<Line>,
    subtotal: String,
    addresses: Vec<Choice>,
    cards: Vec<Choice>,
    idempotency_key: String,
    error: Option<String>,
    form: CheckoutForm,
}

/// The checkout form, as typed (kept when the page is shown again).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    /// A saved address's label, or "" for a new one.
    #[serde(default)]
    address: String,
    #[serde(default)]
    x: String,
    #[serde(default)]
    y: String,
    /// standard or express.
    #[serde(default)]
    delivery: String,
    /// A saved card's token, or "" for a new one.
    #[serde(default)]
    payment: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    ups_account: String,
    #[serde(default)]
    idempotency_key: String,
}

async fn checkout_page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    form: CheckoutForm,
    error: Option<String>,
) -> poem::Result<CheckoutPage> {
    let user = state
        .shop
        .profile(viewer.user.id)
        .await
        .map_err(shop_error)?;
    let cart = state.shop.cart(viewer.user.id).await.map_err(shop_error)?;
    let (lines, subtotal) = priced(state, &cart).await?;
    Ok(CheckoutPage {
        layout: Layout::new(state, req, Some(viewer)),
        lines,
        subtotal,
        addresses: addresses(&user),
        cards: user
            .payment_methods
            .iter()
            .map(|card| Choice {
                value: card.token.clone(),
                label: format!("{} ending in {}", words(card.brand.as_str()), card.last4),
            })
            .collect(),
        // A new key for each rendering: a double submit of this form places one order.
        idempotency_key: SessionToken::generate().expose().to_string(),
        error,
        form,
    })
}

fn addresses(user: &User) -> Vec<Choice> {
    user.addresses
        .iter()
        .map(|a| Choice {
            value: a.label.clone(),
            label: format!("{} ({}, {})", a.label, a.location.x, a.location.y),
        })
        .collect()
}

/// `GET /checkout`.
#[handler]
pub async fn checkout_form(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    // The first saved address and card are chosen unless the visitor picks others.
    let form = CheckoutForm {
        delivery: "standard".into(),
        address: viewer
            .user
            .addresses
            .first()
            .map(|a| a.label.clone())
            .unwrap_or_default(),
        payment: viewer
            .user
            .payment_methods
            .first()
            .map(|m| m.token.clone())
            .unwrap_or_default(),
        ..CheckoutForm::default()
    };
    Ok(checkout_page(&state, req, &viewer, form, None)
        .await?
        .into_response())
}

fn coordinate(text: &str, name: &str) -> Result<i32, ShopError> {
    text.trim()
        .parse()
        .map_err(|_| ShopError::BadRequest(format!("{name} must be a whole number")))
}

/// The form as a checkout, except the payment method when a new card is given.
fn parse_checkout(
    user: &User,
    form: &CheckoutForm,
) -> Result<(Checkout, Option<CardNumber>), ShopError> {
    let destination = if form.address.is_empty() {
        Location::new(coordinate(&form.x, "x")?, coordinate(&form.y, "y")?)
    } else {
        user.addresses
            .iter()
            .find(|a| a.label == form.address)
            .map(|a| a.location)
            .ok_or_else(|| ShopError::BadRequest("choose one of your addresses".into()))?
    };
    let delivery = DeliveryOption::from_name(&form.delivery)
        .ok_or_else(|| ShopError::BadRequest("choose standard or express delivery".into()))?;
    let new_card = if form.payment.is_empty() {
        Some(CardNumber::parse(&form.card_number)?)
    } else {
        None
    };
    let ups_account = match form.ups_account.trim() {
        "" => None,
        account => Some(UpsAccount::parse(account)?),
    };
    let idempotency_key = IdempotencyKey::parse(&form.idempotency_key).map_err(|_| {
        ShopError::BadRequest("the form has expired; please submit it again".into())
    })?;
    Ok((
        Checkout {
            destination,
            delivery,
            payment_method: form.payment.clone(),
            ups_account,
            idempotency_key,
            expected_total: None,
        },
        new_card,
    ))
}

/// `POST /checkout`: places the order and shows it; or the form again with the reason, the
/// cart intact.
#[handler]
pub async fn checkout(state: Data<&State>, req: &Request, form: Form<CheckoutForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let form = form.0;
    let result = async {
        let (mut checkout, new_card) = parse_checkout(&viewer.user, &form)?;
        if let Some(card) = new_card {
            let last4 = card.last4().to_string();
            let user = state.shop.add_payment_method(viewer.user.id, card).await?;
            let saved = user
                .payment_methods
                .iter()
                .rev()
                .find(|m| m.last4 == last4)
                .ok_or_else(|| ShopError::BadRequest("the card could not be saved".into()))?;
            checkout.payment_method = saved.token.clone();
        }
        state.shop.checkout(viewer.user.id, checkout).await
    }
    .await;
    match result {
        Ok(order) => Ok(see_other(&format!("/orders/{}", order.id()))),
        Err(error) => {
            let status = match &error {
                ShopError::Invalid(_) | ShopError::BadRequest(_) => StatusCode::BAD_REQUEST,
                ShopError::Payment(_) => StatusCode::PAYMENT_REQUIRED,
                ShopError::OutOfStock { .. } | ShopError::Conflict(_) => StatusCode::CONFLICT,
                ShopError::NotFound(_) => StatusCode::NOT_FOUND,
                _ => return Err(shop_error(error)),
            };
            let message = sentence(&error.to_string());
            let page = checkout_page(&state, req, &viewer, form, Some(message)).await?;
            Ok(page.with_status(status).into_response())
        }
    }
}
