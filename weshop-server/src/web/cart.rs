//! The cart: its lines at today's prices, quantity edits and removal.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{Data, Form, Path},
};
use serde::Deserialize;
use weshop_core::{
    domain::{Cart, Money, ProductId, Quantity},
    shop::ShopError,
};

use super::{
    PageResult,
    csrf::CsrfOnly,
    layout::{Layout, State, Viewer, form_viewer, price, require_viewer},
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
pub(super) async fn priced(state: &State, cart: &Cart) -> poem::Result<(Vec<Line>, String)> {
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
    super::product_in_path(text.trim())
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
