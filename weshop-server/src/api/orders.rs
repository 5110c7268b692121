//! Checkout and the caller's orders.

use super::pattern::{AmountRule, IdempotencyKeyRule, Matching, UpsAccountRule};
use std::sync::Arc;

use poem_openapi::{
    ApiResponse, Object, OpenApi,
    param::{Header, Path},
    payload::Json,
};
use weshop_core::{
    domain::{Money, Order, OrderEventKind, OrderId, UpsAccount},
    payments::IdempotencyKey,
    shop::{Checkout, Shop},
};

use super::enums::{DeliveryDto, EventKindDto, StatusDto};
use super::omittable::Omittable;
use super::text::Text;
use super::{
    ApiState, ApiTags,
    auth::Auth,
    problem::ApiResult,
    types::{LocationDto, amount, parse_amount},
};

/// One line of an order, at the price paid.
#[derive(Debug, Clone, Object)]
pub struct OrderLineDto {
    /// The product.
    pub product_id: i64,
    /// Its name when ordered.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Unit price paid.
    pub unit_price: String,
    /// Unit price times quantity.
    pub line_total: String,
}

/// Something that happened to an order.
#[derive(Debug, Clone, Object)]
pub struct OrderEventDto {
    /// When, in milliseconds since the Unix epoch.
    pub at: u64,
    /// What happened.
    pub kind: EventKindDto,
    /// For status_changed: the old status.
    #[oai(skip_serializing_if_is_none)]
    pub from: Option<StatusDto>,
    /// For status_changed: the new status; for ended: the final one.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<StatusDto>,
    /// For ended: why; for setback: what went wrong and what the shop does about it.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// For assigned: the warehouse.
    #[oai(skip_serializing_if_is_none)]
    pub warehouse_id: Option<i32>,
    /// For truck_arrived: the truck.
    #[oai(skip_serializing_if_is_none)]
    pub truck_id: Option<i32>,
    /// For final_destination: where UPS will deliver.
    #[oai(skip_serializing_if_is_none)]
    pub location: Option<LocationDto>,
}

/// An order with its history.
#[derive(Debug, Clone, Object)]
pub struct OrderDto {
    /// Id.
    pub id: i64,
    /// Where it is.
    pub status: StatusDto,
    /// The lines.
    pub lines: Vec<OrderLineDto>,
    /// Sum of the lines.
    pub subtotal: String,
    /// Shipping.
    pub shipping_cost: String,
    /// Subtotal plus shipping (what is charged).
    pub total: String,
    /// ISO 4217 code of the amounts.
    pub currency: String,
    /// Where it goes.
    pub destination: LocationDto,
    /// How fast.
    pub delivery: DeliveryDto,
    /// The buyer's UPS account, if given.
    #[oai(skip_serializing_if_is_none)]
    pub ups_account: Option<String>,
    /// The warehouse shipping it.
    #[oai(skip_serializing_if_is_none)]
    pub warehouse_id: Option<i32>,
    /// The truck that took it.
    #[oai(skip_serializing_if_is_none)]
    pub truck_id: Option<i32>,
    /// Where UPS reported it will deliver.
    #[oai(skip_serializing_if_is_none)]
    pub reported_destination: Option<LocationDto>,
    /// Why it failed or was cancelled.
    #[oai(skip_serializing_if_is_none)]
    pub end_reason: Option<String>,
    /// When it was placed, in milliseconds since the Unix epoch.
    pub placed_at: u64,
    /// Everything that happened to it, oldest first.
    pub history: Vec<OrderEventDto>,
    /// When it should arrive, from now at the world's pace; absent once it has ended.
    #[oai(skip_serializing_if_is_none)]
    pub estimate: Option<EstimateDto>,
}

/// A delivery window, from now.
#[derive(Debug, Clone, Object)]
pub struct EstimateDto {
    /// Soonest arrival, in milliseconds from now.
    pub earliest_ms: u64,
    /// Latest expected arrival, in milliseconds from now.
    pub latest_ms: u64,
    /// The window in words ("in 2–5 minutes").
    pub words: String,
}

impl OrderDto {
    /// The DTO of an order (amounts that cannot overflow for a placed order), with the
    /// shop's estimate of when it arrives.
    pub fn of(order: &Order, shop: &dyn Shop) -> Self {
        let currency = order.total().currency();
        let lines: Vec<OrderLineDto> = order
            .lines()
            .iter()
            .map(|line| OrderLineDto {
                product_id: line.product.get(),
                name: line.name.to_string(),
                quantity: line.quantity.get(),
                unit_price: amount(line.unit_price),
                line_total: line.subtotal().map(amount).unwrap_or_default(),
            })
            .collect();
        let subtotal = order
            .total()
            .checked_sub(order.shipping())
            .unwrap_or(Money::zero(currency));
        Self {
            id: order.id().get(),
            status: order.status().into(),
            lines,
            subtotal: amount(subtotal),
            shipping_cost: amount(order.shipping()),
            total: amount(order.total()),
            currency: currency.to_string(),
            destination: order.destination().into(),
            delivery: order.delivery().into(),
            ups_account: order.ups_account().map(|a| a.as_str().to_string()),
            warehouse_id: order.warehouse().map(|w| w.get()),
            truck_id: order.truck().map(|t| t.get()),
            reported_destination: order.reported_destination().map(Into::into),
            end_reason: order.end_reason().map(str::to_string),
            placed_at: order.placed_at().millis(),
            history: order.history().iter().map(event).collect(),
            estimate: shop.delivery_estimate(order).map(|e| EstimateDto {
                earliest_ms: super::types::millis(e.earliest),
                latest_ms: super::types::millis(e.latest),
                words: e.in_words(),
            }),
        }
    }
}

fn event(event: &weshop_core::domain::OrderEvent) -> OrderEventDto {
    let mut dto = OrderEventDto {
        at: event.at.millis(),
        kind: EventKindDto::Placed,
        from: None,
        status: None,
        reason: None,
        warehouse_id: None,
        truck_id: None,
        location: None,
    };
    let kind = match &event.kind {
        OrderEventKind::Placed => EventKindDto::Placed,
        OrderEventKind::StatusChanged { from, to } => {
            dto.from = Some((*from).into());
            dto.status = Some((*to).into());
            EventKindDto::StatusChanged
        }
        OrderEventKind::Ended { status, reason } => {
            dto.status = Some((*status).into());
            dto.reason = Some(reason.clone());
            EventKindDto::Ended
        }
        OrderEventKind::Assigned { warehouse, .. } => {
            dto.warehouse_id = Some(warehouse.get());
            EventKindDto::Assigned
        }
        OrderEventKind::TruckArrived { truck } => {
            dto.truck_id = Some(truck.get());
            EventKindDto::TruckArrived
        }
        OrderEventKind::FinalDestination { location } => {
            dto.location = Some((*location).into());
            EventKindDto::FinalDestination
        }
        OrderEventKind::Setback { reason } => {
            dto.reason = Some(reason.clone());
            EventKindDto::Setback
        }
    };
    dto.kind = kind;
    dto
}

/// Checkout's body.
#[derive(Debug, Object)]
pub struct CheckoutRequest {
    /// Where to deliver.
    pub destination: LocationDto,
    /// How fast.
    pub delivery: DeliveryDto,
    /// The token of one of the caller's saved payment methods.
    pub payment_method: Text,
    /// The buyer's UPS account, to follow the package at UPS: 1 to 64 characters, no spaces.
    pub ups_account: Omittable<Matching<UpsAccountRule>>,
    /// The total the customer was shown, shipping included (a decimal amount, as `total` is
    /// given in orders). If the order would now cost anything else, nothing is placed or
    /// charged: 409 with the new total.
    pub expected_total: Omittable<Matching<AmountRule>>,
}

/// Checkout's answer.
#[derive(ApiResponse)]
pub enum Placed {
    /// The order, placed and paid (held). A retry with the same `Idempotency-Key` answers 201
    /// with the same order again, charged once.
    #[oai(status = 201)]
    Created(Json<OrderDto>, #[oai(header = "Location")] String),
}

/// Checkout and orders.
pub struct OrdersApi(pub Arc<ApiState>);

/// An order id from the path.
pub fn order_id(id: i64) -> ApiResult<OrderId> {
    Ok(OrderId::new(id)?)
}

#[OpenApi(prefix_path = "/orders", tag = "ApiTags::Orders")]
impl OrdersApi {
    /// Places the cart as an order.
    ///
    /// The `Idempotency-Key` header (1 to 255 visible ASCII characters) makes it safe to
    /// retry: the same key returns the same order, charged once. 409 `out-of-stock` names the
    /// product and the units available; 409 also when `expected_total` is given and the order
    /// would cost something else; 402 when the payment is refused.
    #[oai(path = "/", method = "post", operation_id = "placeOrder")]
    async fn checkout(
        &self,
        auth: Auth,
        /// Makes the request safe to retry.
        #[oai(name = "Idempotency-Key")]
        idempotency_key: Header<Matching<IdempotencyKeyRule>>,
        body: Json<CheckoutRequest>,
    ) -> ApiResult<Placed> {
        let checkout = Checkout {
            destination: body.destination.into(),
            delivery: body.delivery.into(),
            payment_method: body.payment_method.to_string(),
            ups_account: body
                .ups_account
                .as_deref()
                .map(UpsAccount::parse)
                .transpose()?,
            idempotency_key: IdempotencyKey::parse(&idempotency_key)?,
            expected_total: body
                .expected_total
                .as_deref()
                .map(|total| parse_amount(total, self.0.shop.currency()))
                .transpose()?,
        };
        let order = self.0.shop.checkout(auth.user_id(), checkout).await?;
        let location = format!("/api/v1/orders/{}", order.id());
        Ok(Placed::Created(
            Json(OrderDto::of(&order, self.0.shop.as_ref())),
            location,
        ))
    }

    /// The caller's orders, newest first.
    #[oai(path = "/", method = "get", operation_id = "listOrders")]
    async fn orders(&self, auth: Auth) -> ApiResult<Json<Vec<OrderDto>>> {
        let orders = self.0.shop.orders(auth.user_id()).await?;
        Ok(Json(
            orders
                .iter()
                .map(|o| OrderDto::of(o, self.0.shop.as_ref()))
                .collect(),
        ))
    }

    /// One of the caller's orders, with its status and history.
    #[oai(path = "/:id", method = "get", operation_id = "getOrder")]
    async fn order(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<Json<OrderDto>> {
        let order = self.0.shop.order(auth.user_id(), order_id(id.0)?).await?;
        Ok(Json(OrderDto::of(&order, self.0.shop.as_ref())))
    }

    /// Cancels one of the caller's orders before it is packed (else 409).
    #[oai(path = "/:id/cancel", method = "post", operation_id = "cancelOrder")]
    async fn cancel(
        &self,
        auth: Auth,
        #[oai(validator(minimum(value = "1")))] id: Path<i64>,
    ) -> ApiResult<Json<OrderDto>> {
        let order = self
            .0
            .shop
            .cancel_order(auth.user_id(), order_id(id.0)?)
            .await?;
        Ok(Json(OrderDto::of(&order, self.0.shop.as_ref())))
    }
}
