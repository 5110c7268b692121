//! The visitor's orders, one order with its history, and its live status (SSE of HTML).

use std::time::Duration;

use askama::Template;
use askama_web::WebTemplate;
use futures::StreamExt;
use poem::{
    IntoResponse, Request, handler,
    http::StatusCode,
    web::{
        Data, Form, Path,
        sse::{Event, SSE},
    },
};
use tokio::sync::broadcast::error::RecvError;
use weshop_core::domain::{Money, Order, OrderEventKind, OrderId, OrderStatus, WarehouseSite};
use weshop_core::shop::{ShopError, label_ship_id};

use super::{
    PageResult,
    csrf::CsrfOnly,
    fail,
    layout::{Layout, State, Viewer, form_viewer, price, require_viewer, when, words},
    order_map::OrderMap,
    see_other, sentence, shop_error,
};

/// An order in the list.
pub struct Summary {
    /// Its page.
    pub href: String,
    /// Its id.
    pub id: i64,
    /// When it was placed.
    pub placed: String,
    /// Its status in words.
    pub status: String,
    /// What was charged.
    pub total: String,
}

/// `/orders`.
#[derive(Template, WebTemplate)]
#[template(path = "orders.html")]
pub struct OrdersPage {
    layout: Layout,
    orders: Vec<Summary>,
}

/// `GET /orders`: newest first.
#[handler]
pub async fn list_orders(state: Data<&State>, req: &Request) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    let orders = state
        .shop
        .orders(viewer.user.id)
        .await
        .map_err(shop_error)?;
    Ok(OrdersPage {
        layout: Layout::new(&state, req, Some(&viewer)),
        orders: orders
            .iter()
            .map(|o| Summary {
                href: format!("/orders/{}", o.id()),
                id: o.id().get(),
                placed: when(o.placed_at()),
                status: status_words(o.status()),
                total: price(o.total()),
            })
            .collect(),
    }
    .into_response())
}

/// A status as the customer reads it.
pub fn status_words(status: OrderStatus) -> String {
    words(status.as_str())
}

/// One line of an order.
pub struct OrderLineView {
    /// Product name when ordered.
    pub name: String,
    /// Its page.
    pub href: String,
    /// Units.
    pub quantity: u32,
    /// Unit price paid.
    pub unit_price: String,
    /// Line total.
    pub total: String,
}

/// `/orders/{id}`.
#[derive(Template, WebTemplate)]
#[template(path = "order.html")]
pub struct OrderPage {
    layout: Layout,
    id: i64,
    status: String,
    live: bool,
    lines: Vec<OrderLineView>,
    subtotal: String,
    shipping: String,
    total: String,
    destination: String,
    delivery: String,
    placed: String,
    end_reason: Option<String>,
    history: Vec<(String, String)>,
    /// The order can still be cancelled (packing has not started).
    cancellable: bool,
    /// Why the last cancel was refused, in words.
    error: Option<String>,
    /// The truck carrying it, once one came for it.
    truck: Option<i32>,
    /// The map (an escaped HTML fragment).
    map: String,
    /// Its shipping label, once its package has one.
    label: Option<String>,
    /// What is left of its delivery window, in words (empty once it has ended).
    estimate: String,
}

/// Where an order's shipping label is: the API's, which takes the page's session cookie on a
/// plain GET, so the link works without JavaScript.
pub fn label_href(order: OrderId) -> String {
    format!("{}/orders/{order}/label.pdf", crate::api::API_PREFIX)
}

fn order_id(text: &str) -> poem::Result<OrderId> {
    text.parse::<i64>()
        .ok()
        .and_then(|id| OrderId::new(id).ok())
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such order"))
}

fn history(order: &Order) -> Vec<(String, String)> {
    order
        .history()
        .iter()
        .map(|event| {
            let what = match &event.kind {
                OrderEventKind::Placed => "Order placed".to_string(),
                OrderEventKind::StatusChanged { to, .. } => status_words(*to),
                OrderEventKind::Ended { status, reason } => {
                    format!("{}: {reason}", status_words(*status))
                }
                OrderEventKind::Assigned { warehouse, .. } => {
                    format!("Assigned to warehouse {warehouse}")
                }
                OrderEventKind::TruckArrived { truck } => format!("Truck {truck} arrived"),
                OrderEventKind::FinalDestination { location } => {
                    format!("UPS will deliver to ({}, {})", location.x, location.y)
                }
                OrderEventKind::Setback { reason } => reason.clone(),
            };
            (when(event.at), what)
        })
        .collect()
}

/// `GET /orders/{id}`: lines, totals, destination, status and history; someone else's order
/// is a 404 page.
#[handler]
pub async fn show_order(state: Data<&State>, req: &Request, id: Path<String>) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    let id = order_id(&id)?;
    let order = state
        .shop
        .order(viewer.user.id, id)
        .await
        .map_err(shop_error)?;
    Ok(order_page(&state, req, &viewer, &order, None)
        .await?
        .into_response())
}

/// `POST /orders/{id}/cancel`: cancels the order while packing has not started; afterwards
/// the page says why it could not be.
#[handler]
pub async fn cancel_order(
    state: Data<&State>,
    req: &Request,
    id: Path<String>,
    form: Form<CsrfOnly>,
) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    let id = order_id(&id)?;
    match state.shop.cancel_order(viewer.user.id, id).await {
        Ok(_) => Ok(see_other(&format!("/orders/{id}"))),
        Err(ShopError::Conflict(reason)) => {
            let order = state
                .shop
                .order(viewer.user.id, id)
                .await
                .map_err(shop_error)?;
            let page = order_page(&state, req, &viewer, &order, Some(sentence(&reason))).await?;
            Ok(page.with_status(StatusCode::CONFLICT).into_response())
        }
        Err(error) => Err(shop_error(error)),
    }
}

async fn order_page(
    state: &State,
    req: &Request,
    viewer: &Viewer,
    order: &Order,
    error: Option<String>,
) -> poem::Result<OrderPage> {
    let warehouses = state.shop.warehouses().await.map_err(shop_error)?;
    let currency = order.total().currency();
    let subtotal = order
        .total()
        .checked_sub(order.shipping())
        .unwrap_or(Money::zero(currency));
    let destination = order.reported_destination().unwrap_or(order.destination());
    Ok(OrderPage {
        layout: Layout::new(state, req, Some(viewer)),
        id: order.id().get(),
        status: status_words(order.status()),
        live: !order.status().is_terminal(),
        lines: order
            .lines()
            .iter()
            .map(|line| OrderLineView {
                name: line.name.to_string(),
                href: format!("/products/{}", line.product),
                quantity: line.quantity.get(),
                unit_price: price(line.unit_price),
                total: line.subtotal().map(price).unwrap_or_default(),
            })
            .collect(),
        subtotal: price(subtotal),
        shipping: price(order.shipping()),
        total: price(order.total()),
        destination: format!("({}, {})", destination.x, destination.y),
        delivery: words(order.delivery().as_str()),
        placed: when(order.placed_at()),
        end_reason: order.end_reason().map(str::to_string),
        history: history(order),
        cancellable: order.status().can_become(OrderStatus::Cancelled),
        error,
        truck: order.truck().map(|t| t.get()),
        map: map_of(order, &warehouses),
        label: label_ship_id(order).map(|_| label_href(order.id())),
        estimate: estimate_words(state.shop.as_ref(), order),
    })
}

/// The order's map, as HTML.
fn map_of(order: &Order, warehouses: &[WarehouseSite]) -> String {
    let warehouse = order
        .warehouse()
        .and_then(|id| warehouses.iter().find(|w| w.id == id));
    OrderMap::new(order, warehouse).html()
}

/// The SSE event name the order page swaps into its status element.
pub const STATUS_EVENT: &str = "status";

/// `GET /orders/{id}/live`: Server-Sent Events, three for each change of the order: `status`,
/// its status in words, `timeline`, its history as `<li>` items, and `map`, its map (HTML,
/// escaped); the first three are the order as it is now, the stream ends
/// after a terminal status, and an order already ended answers 204 (so the browser does not
/// reconnect). Subscribes before reading the order, so no change is missed.
#[handler]
pub async fn live(state: Data<&State>, req: &Request, id: Path<String>) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    let id = order_id(&id)?;
    let updates = state.shop.order_updates();
    let order = state
        .shop
        .order(viewer.user.id, id)
        .await
        .map_err(shop_error)?;
    if order.status().is_terminal() {
        // Nothing more will change: 204 tells the browser's EventSource not to reconnect.
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let warehouses = state.shop.warehouses().await.map_err(shop_error)?;
    let shop = state.shop.clone();
    let user = viewer.user.id;
    let stream = futures::stream::unfold(
        (updates, Some(order), 0usize, false),
        move |(mut updates, first, mut version, done)| {
            let shop = shop.clone();
            let warehouses = warehouses.clone();
            async move {
                if done {
                    return None;
                }
                if let Some(order) = first {
                    let ended = order.status().is_terminal();
                    return Some((
                        events(&order, &warehouses, shop.as_ref()),
                        (updates, None, order.version(), ended),
                    ));
                }
                loop {
                    let order = match updates.recv().await {
                        Ok(update) if update.order.id() == id => update.order,
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => shop.order(user, id).await.ok()?,
                        Err(RecvError::Closed) => return None,
                    };
                    if order.version() > version {
                        version = order.version();
                        let ended = order.status().is_terminal();
                        return Some((
                            events(&order, &warehouses, shop.as_ref()),
                            (updates, None, version, ended),
                        ));
                    }
                }
            }
        },
    )
    .flat_map(futures::stream::iter)
    .boxed();
    Ok(SSE::new(stream)
        .keep_alive(Duration::from_secs(15))
        .into_response())
}

/// The SSE event name the order page swaps into its history list.
pub const TIMELINE_EVENT: &str = "timeline";

/// The SSE event name the order page swaps into its map.
pub const MAP_EVENT: &str = "map";

/// The SSE event name the order page swaps into its delivery estimate.
pub const ESTIMATE_EVENT: &str = "estimate";

/// What is left of the order's delivery window, in words ("expected in 2–5 minutes").
pub fn estimate_words(shop: &dyn weshop_core::shop::Shop, order: &Order) -> String {
    match shop.delivery_estimate(order) {
        Some(estimate) => format!("expected {}", estimate.in_words()),
        None => String::new(),
    }
}

/// What one change of the order sends: its status, its whole history as list items, its map
/// and what is left of its delivery window.
fn events(
    order: &Order,
    warehouses: &[WarehouseSite],
    shop: &dyn weshop_core::shop::Shop,
) -> Vec<Event> {
    let timeline: String = history(order)
        .into_iter()
        .map(|(at, what)| format!("<li><time>{}</time> — {}</li>", escaped(at), escaped(what)))
        .collect();
    vec![
        Event::message(escaped(status_words(order.status()))).event_type(STATUS_EVENT),
        Event::message(timeline).event_type(TIMELINE_EVENT),
        Event::message(map_of(order, warehouses)).event_type(MAP_EVENT),
        // An event with no data is never dispatched (the SSE spec), so an order that has
        // ended clears the estimate with a comment.
        Event::message(match estimate_words(shop, order) {
            words if words.is_empty() => "<!-- nothing expected -->".to_string(),
            words => escaped(words),
        })
        .event_type(ESTIMATE_EVENT),
    ]
}

/// Text made safe to swap into the page as HTML.
fn escaped(text: String) -> String {
    askama::filters::escape(text, askama::filters::Html)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
