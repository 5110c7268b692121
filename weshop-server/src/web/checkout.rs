//! Checkout: where to, how fast (with each option's cost, total and delivery estimate), how
//! to pay; then "Place order".
//!
//! An order is placed only at a total the customer was shown: the form carries the quoted
//! destination and each option's total, and checkout sends the chosen one as the order's
//! `expected_total`. A destination typed but not yet quoted, or a price changed since the
//! quote, brings the page back with the (new) costs instead of placing anything. The form
//! also carries an idempotency key, so a double submit places one order.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Form},
};
use serde::Deserialize;
use weshop_core::{
    domain::{CardNumber, DeliveryOption, Location, Money, SessionToken, UpsAccount, User},
    payments::IdempotencyKey,
    shop::{Checkout, DeliveryQuote, QuoteFor, ShopError},
};

use super::{
    PageResult,
    cart::{Line, priced},
    layout::{Layout, State, Viewer, form_viewer, price, require_viewer, words},
    see_other, sentence, shop_error,
};
use crate::api::types::amount;

/// A saved address or card as a choice.
pub struct Choice {
    /// The form value.
    pub value: String,
    /// What the visitor reads.
    pub label: String,
}

/// One delivery option with what it costs and when it arrives.
pub struct OptionView {
    /// The form value: standard or express.
    pub value: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Shipping, with currency.
    pub shipping: String,
    /// Goods plus shipping, with currency.
    pub total: String,
    /// When it arrives, in words.
    pub estimate: String,
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
    /// Why the page came back without placing (a destination not yet quoted), in words.
    notice: Option<String>,
    /// The delivery options priced for `quoted_for`, when a destination is known.
    options: Vec<OptionView>,
    /// The destination the options were priced for ("x,y").
    quoted_for: String,
    /// The standard and express totals shown, as amounts.
    total_standard: String,
    total_express: String,
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
    /// "quote" to see the costs for the destination without placing the order.
    #[serde(default)]
    action: String,
    /// The destination the page's totals were quoted for ("x,y").
    #[serde(default)]
    quoted_for: String,
    /// The totals the page showed, per option.
    #[serde(default)]
    total_standard: String,
    #[serde(default)]
    total_express: String,
}

impl CheckoutForm {
    /// The total shown for the chosen option, if the page quoted this destination.
    fn expected_total(
        &self,
        destination: Location,
        delivery: DeliveryOption,
        currency: weshop_core::domain::Currency,
    ) -> Option<Money> {
        if self.quoted_for != destination_key(destination) {
            return None;
        }
        let shown = match delivery {
            DeliveryOption::Standard => &self.total_standard,
            DeliveryOption::Express => &self.total_express,
        };
        Money::parse(shown.trim(), currency).ok()
    }
}

/// A destination as the form carries it.
fn destination_key(location: Location) -> String {
    format!("{},{}", location.x, location.y)
}

/// The destination the form names, if it names one.
fn destination(user: &User, form: &CheckoutForm) -> Result<Location, ShopError> {
    if form.address.is_empty() {
        Ok(Location::new(
            coordinate(&form.x, "x")?,
            coordinate(&form.y, "y")?,
        ))
    } else {
        user.addresses
            .iter()
            .find(|a| a.label == form.address)
            .map(|a| a.location)
            .ok_or_else(|| ShopError::BadRequest("choose one of your addresses".into()))
    }
}

async fn checkout_page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    form: CheckoutForm,
    error: Option<String>,
    notice: Option<String>,
) -> poem::Result<CheckoutPage> {
    let user = state
        .shop
        .profile(viewer.user.id)
        .await
        .map_err(shop_error)?;
    let cart = state.shop.cart(viewer.user.id).await.map_err(shop_error)?;
    let (lines, subtotal) = priced(state, &cart).await?;
    let mut page = CheckoutPage {
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
        notice,
        options: Vec::new(),
        quoted_for: String::new(),
        total_standard: String::new(),
        total_express: String::new(),
        form,
    };
    // Price the options for the destination the form names (none typed yet: no prices).
    let Ok(to) = destination(&user, &page.form) else {
        return Ok(page);
    };
    if cart.is_empty() {
        return Ok(page);
    }
    match state.shop.quote(user.id, QuoteFor::Cart, to).await {
        Ok(quotes) => {
            for quote in &quotes {
                match quote.delivery {
                    DeliveryOption::Standard => page.total_standard = amount(quote.total),
                    DeliveryOption::Express => page.total_express = amount(quote.total),
                }
            }
            page.options = quotes.iter().map(option_view).collect();
            page.quoted_for = destination_key(to);
        }
        Err(
            error @ (ShopError::OutOfStock { .. }
            | ShopError::BadRequest(_)
            | ShopError::Invalid(_)
            | ShopError::NotFound(_)),
        ) => {
            page.error
                .get_or_insert_with(|| sentence(&error.to_string()));
        }
        Err(error) => return Err(shop_error(error)),
    }
    Ok(page)
}

fn option_view(quote: &DeliveryQuote) -> OptionView {
    let (value, name) = match quote.delivery {
        DeliveryOption::Standard => ("standard", "Standard"),
        DeliveryOption::Express => ("express", "Express"),
    };
    OptionView {
        value,
        name,
        shipping: price(quote.shipping),
        total: price(quote.total),
        estimate: quote.estimate.in_words(),
    }
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
    Ok(checkout_page(&state, req, &viewer, form, None, None)
        .await?
        .into_response())
}

fn coordinate(text: &str, name: &str) -> Result<i32, ShopError> {
    text.trim()
        .parse()
        .map_err(|_| ShopError::BadRequest(format!("{name} must be a whole number")))
}

/// The form as a checkout (without its expected total), except the payment method when a new
/// card is given.
fn parse_checkout(
    user: &User,
    form: &CheckoutForm,
) -> Result<(Checkout, Option<CardNumber>), ShopError> {
    let destination = destination(user, form)?;
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

/// `POST /checkout`: shows the costs for the destination (`action=quote`, or a destination
/// the page had not priced yet), or places the order at the total shown and goes to it; or
/// the form again with the reason, the cart intact.
#[handler]
pub async fn checkout(state: Data<&State>, req: &Request, form: Form<CheckoutForm>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let form = form.0;
    let currency = state.shop.currency();
    let unquoted = match destination(&viewer.user, &form) {
        Ok(to) => {
            let delivery =
                DeliveryOption::from_name(&form.delivery).unwrap_or(DeliveryOption::Standard);
            form.expected_total(to, delivery, currency).is_none()
        }
        Err(_) => false,
    };
    if form.action == "quote" || unquoted {
        let notice = (form.action != "quote")
            .then(|| "Check the delivery costs below, then place the order.".to_string());
        let page = checkout_page(&state, req, &viewer, form, None, notice).await?;
        return Ok(page.into_response());
    }
    let result = async {
        let (mut checkout, new_card) = parse_checkout(&viewer.user, &form)?;
        checkout.expected_total =
            form.expected_total(checkout.destination, checkout.delivery, currency);
        if let Some(card) = new_card {
            // A card already saved (this form submitted twice, say) is used, not saved again:
            // the same form then makes the same request, and its key finds its order.
            let same = |m: &&weshop_core::domain::PaymentMethod| {
                m.brand == card.brand() && m.last4 == card.last4()
            };
            // Read now rather than the session's copy: a twin submit may have saved it a
            // moment ago.
            let profile = state.shop.profile(viewer.user.id).await?;
            let token = match profile.payment_methods.iter().find(same) {
                Some(saved) => saved.token.clone(),
                None => {
                    let user = state
                        .shop
                        .add_payment_method(viewer.user.id, card.clone())
                        .await?;
                    user.payment_methods
                        .iter()
                        .rev()
                        .find(same)
                        .map(|m| m.token.clone())
                        .ok_or_else(|| {
                            ShopError::BadRequest("the card could not be saved".into())
                        })?
                }
            };
            checkout.payment_method = token;
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
                ShopError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
                _ => return Err(shop_error(error)),
            };
            let message = sentence(&error.to_string());
            let page = checkout_page(&state, req, &viewer, form, Some(message), None).await?;
            Ok(page.with_status(status).into_response())
        }
    }
}
