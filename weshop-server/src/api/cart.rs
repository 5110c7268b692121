//! The caller's cart, priced at today's prices.

use std::sync::Arc;

use poem_openapi::{
    Object, OpenApi,
    param::{Path, Query},
    payload::Json,
};
use weshop_core::{
    domain::{Cart, Location, Money, ProductId, Quantity},
    shop::{DeliveryQuote, QuoteFor, ShopError},
};

use super::enums::DeliveryDto;
use super::{ApiState, ApiTags, auth::Auth, problem::ApiResult, types::amount};

/// One line of the cart.
#[derive(Debug, Object)]
pub struct CartLineDto {
    /// The product.
    pub product_id: i64,
    /// Its name (absent if it was withdrawn since).
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// Units.
    pub quantity: u32,
    /// Today's unit price (absent if the product was withdrawn).
    #[oai(skip_serializing_if_is_none)]
    pub unit_price: Option<String>,
    /// Unit price times quantity.
    #[oai(skip_serializing_if_is_none)]
    pub line_total: Option<String>,
}

/// The cart with its prices.
#[derive(Debug, Object)]
pub struct CartDto {
    /// The lines, by product id.
    pub lines: Vec<CartLineDto>,
    /// Sum of the line totals (shipping comes at checkout).
    pub total: String,
    /// ISO 4217 code of the amounts.
    pub currency: String,
}

/// A product to add.
#[derive(Debug, Object)]
pub struct AddCartItem {
    /// The product.
    #[oai(validator(minimum(value = "1")))]
    pub product_id: i64,
    /// Units to add (added to any already in the cart; 1 to 1000000 in all).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub quantity: i64,
}

/// A new quantity for a line.
#[derive(Debug, Object)]
pub struct SetCartItem {
    /// Units (1 to 1000000).
    #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
    pub quantity: i64,
}

/// What delivering the cart costs with one option, and when it arrives.
#[derive(Debug, Object)]
pub struct DeliveryQuoteDto {
    /// The option (checkout's `delivery`).
    pub delivery: DeliveryDto,
    /// Shipping.
    pub shipping: String,
    /// Goods plus shipping: checkout's `expected_total` for this option.
    pub total: String,
    /// ISO 4217 code of the amounts.
    pub currency: String,
    /// Soonest arrival, in milliseconds from now.
    pub earliest_ms: u64,
    /// Latest expected arrival, in milliseconds from now.
    pub latest_ms: u64,
}

impl From<DeliveryQuote> for DeliveryQuoteDto {
    fn from(quote: DeliveryQuote) -> Self {
        use super::types::millis;
        Self {
            delivery: quote.delivery.into(),
            shipping: amount(quote.shipping),
            total: amount(quote.total),
            currency: quote.total.currency().to_string(),
            earliest_ms: millis(quote.estimate.earliest),
            latest_ms: millis(quote.estimate.latest),
        }
    }
}

/// The cart endpoints.
pub struct CartApi(pub Arc<ApiState>);

impl CartApi {
    /// Prices each line at the product's current price. A line that cannot be priced (its
    /// product is gone, or a price change made its total too large) is shown without a
    /// price and left out of the total, so a cart always renders; checkout refuses it.
    async fn priced(&self, cart: Cart) -> ApiResult<Json<CartDto>> {
        let currency = self.0.shop.currency();
        let mut lines = Vec::new();
        let mut total = Money::zero(currency);
        for (id, quantity) in cart.lines() {
            let line = match self.0.shop.product(id).await {
                Ok(product) => {
                    // Priced only if the line, and the total with it, can be.
                    let line_total = product
                        .price
                        .times(quantity)
                        .ok()
                        .filter(|line| total.checked_add(*line).is_ok());
                    if let Some(line) = line_total {
                        total = total.checked_add(line)?;
                    }
                    CartLineDto {
                        product_id: id.get(),
                        name: Some(product.name.to_string()),
                        quantity: quantity.get(),
                        unit_price: Some(amount(product.price)),
                        line_total: line_total.map(amount),
                    }
                }
                Err(ShopError::NotFound(_)) => CartLineDto {
                    product_id: id.get(),
                    name: None,
                    quantity: quantity.get(),
                    unit_price: None,
                    line_total: None,
                },
                Err(other) => return Err(other.into()),
            };
            lines.push(line);
        }
        Ok(Json(CartDto {
            lines,
            total: amount(total),
            currency: currency.to_string(),
        }))
    }
}

#[OpenApi(prefix_path = "/cart", tag = "ApiTags::Cart")]
impl CartApi {
    /// The caller's cart.
    #[oai(path = "/", method = "get", operation_id = "getCart")]
    async fn cart(&self, auth: Auth) -> ApiResult<Json<CartDto>> {
        let cart = self.0.shop.cart(auth.user_id()).await?;
        self.priced(cart).await
    }

    /// What the cart would cost delivered to (x, y), and when it would arrive, for each
    /// delivery option: the totals are what checkout charges (send one as `expected_total`).
    /// 409 `out-of-stock` when no warehouse could ship it; 400 for an empty cart or a point
    /// off the grid.
    #[oai(path = "/quote", method = "get", operation_id = "quoteCart")]
    async fn quote(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "-10000"), maximum(value = "10000")))] x: Query<i32>,
        #[oai(validator(minimum(value = "-10000"), maximum(value = "10000")))] y: Query<i32>,
    ) -> ApiResult<Json<Vec<DeliveryQuoteDto>>> {
        let quotes = self
            .0
            .shop
            .quote(auth.user_id(), QuoteFor::Cart, Location::new(x.0, y.0))
            .await?;
        Ok(Json(quotes.into_iter().map(Into::into).collect()))
    }

    /// Adds units of a product.
    #[oai(path = "/items", method = "post", operation_id = "addCartItem")]
    async fn add(&self, auth: Auth, body: Json<AddCartItem>) -> ApiResult<Json<CartDto>> {
        let cart = self
            .0
            .shop
            .add_to_cart(
                auth.user_id(),
                ProductId::new(body.product_id)?,
                Quantity::new(body.quantity)?,
            )
            .await?;
        self.priced(cart).await
    }

    /// Sets the units of a product already in the cart.
    #[oai(
        path = "/items/:product_id",
        method = "patch",
        operation_id = "setCartItem"
    )]
    async fn set(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] product_id: Path<i64>,
        body: Json<SetCartItem>,
    ) -> ApiResult<Json<CartDto>> {
        let cart = self
            .0
            .shop
            .set_cart_item(
                auth.user_id(),
                ProductId::new(product_id.0)?,
                Quantity::new(body.quantity)?,
            )
            .await?;
        self.priced(cart).await
    }

    /// Removes a product from the cart.
    #[oai(
        path = "/items/:product_id",
        method = "delete",
        operation_id = "removeCartItem"
    )]
    async fn remove(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] product_id: Path<i64>,
    ) -> ApiResult<Json<CartDto>> {
        let cart = self
            .0
            .shop
            .remove_cart_item(auth.user_id(), ProductId::new(product_id.0)?)
            .await?;
        self.priced(cart).await
    }
}
