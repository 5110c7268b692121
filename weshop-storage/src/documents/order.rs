//! An order's stored document, with its lines and whole history.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{
        DeliveryOption, Location, Order, OrderEvent, OrderEventKind, OrderId, OrderLine,
        OrderParts, ProductId, ProductName, Quantity, ShipId, Timestamp, TruckId, UpsAccount,
        UserId, WarehouseId,
    },
    store::StoreError,
};

use super::{MoneyDoc, status};
use crate::corrupt;

#[derive(Serialize, Deserialize)]
struct LineDoc {
    product: i64,
    name: String,
    quantity: u32,
    unit_price: MoneyDoc,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum EventKindDoc {
    Placed,
    StatusChanged { from: String, to: String },
    Ended { status: String, reason: String },
    Assigned { warehouse: i32, ship_id: i64 },
    TruckArrived { truck: i32 },
    FinalDestination { x: i32, y: i32 },
    Setback { reason: String },
}

/// One entry of an order's history: inside its order's document, or (the memory store's
/// journal) under a key of its own.
#[derive(Serialize, Deserialize)]
pub struct EventDoc {
    at: u64,
    #[serde(flatten)]
    kind: EventKindDoc,
}

/// An order's stored document.
#[derive(Serialize, Deserialize)]
pub struct OrderDoc {
    id: i64,
    customer: i64,
    lines: Vec<LineDoc>,
    delivery: String,
    destination: (i32, i32),
    ups_account: Option<String>,
    payment: String,
    shipping: MoneyDoc,
    status: String,
    warehouse: Option<i32>,
    ship_id: Option<i64>,
    truck: Option<i32>,
    final_destination: Option<(i32, i32)>,
    history: Vec<EventDoc>,
}

/// What an order is bought on, fixed when it is placed: the memory store's journal writes it
/// once, apart from the [`OrderStateDoc`] that changes with every step.
#[derive(Serialize, Deserialize)]
pub struct OrderTermsDoc {
    id: i64,
    customer: i64,
    lines: Vec<LineDoc>,
    delivery: String,
    destination: (i32, i32),
    ups_account: Option<String>,
    payment: String,
    shipping: MoneyDoc,
}

/// Where an order stands, and how many events its history has (each kept apart).
#[derive(Serialize, Deserialize)]
pub struct OrderStateDoc {
    id: i64,
    status: String,
    warehouse: Option<i32>,
    ship_id: Option<i64>,
    truck: Option<i32>,
    final_destination: Option<(i32, i32)>,
    events: u64,
}

impl From<&Order> for OrderDoc {
    fn from(order: &Order) -> Self {
        let terms = OrderTermsDoc::from(order);
        let state = OrderStateDoc::from(order);
        OrderDoc::assemble(terms, state, order.history().iter().map(EventDoc::from))
    }
}

impl From<&Order> for OrderTermsDoc {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id().get(),
            customer: order.customer().get(),
            lines: order
                .lines()
                .iter()
                .map(|l| LineDoc {
                    product: l.product.get(),
                    name: l.name.as_str().to_string(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.into(),
                })
                .collect(),
            delivery: order.delivery().as_str().to_string(),
            destination: (order.destination().x, order.destination().y),
            ups_account: order.ups_account().map(|a| a.as_str().to_string()),
            payment: order.payment().to_string(),
            shipping: order.shipping().into(),
        }
    }
}

impl From<&Order> for OrderStateDoc {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id().get(),
            status: order.status().as_str().to_string(),
            warehouse: order.warehouse().map(WarehouseId::get),
            ship_id: order.ship_id().map(ShipId::get),
            truck: order.truck().map(TruckId::get),
            final_destination: order.reported_destination().map(|l| (l.x, l.y)),
            events: order.history().len() as u64,
        }
    }
}

impl OrderTermsDoc {
    /// The order's id, as stored.
    pub fn id(&self) -> i64 {
        self.id
    }
}

impl OrderStateDoc {
    /// The order's id, as stored.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// How many events the order's history has.
    pub fn events(&self) -> u64 {
        self.events
    }
}

impl OrderDoc {
    /// The whole document from its parts (the ids are the caller's to have matched).
    pub fn assemble(
        terms: OrderTermsDoc,
        state: OrderStateDoc,
        history: impl IntoIterator<Item = EventDoc>,
    ) -> Self {
        Self {
            id: terms.id,
            customer: terms.customer,
            lines: terms.lines,
            delivery: terms.delivery,
            destination: terms.destination,
            ups_account: terms.ups_account,
            payment: terms.payment,
            shipping: terms.shipping,
            status: state.status,
            warehouse: state.warehouse,
            ship_id: state.ship_id,
            truck: state.truck,
            final_destination: state.final_destination,
            history: history.into_iter().collect(),
        }
    }

    /// The order's id, as stored.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Back to the domain.
    pub fn parse(self) -> Result<Order, StoreError> {
        let history = self
            .history
            .into_iter()
            .map(EventDoc::parse)
            .collect::<Result<Vec<_>, StoreError>>()?;
        let parts = OrderParts {
            id: OrderId::new(self.id).map_err(corrupt)?,
            customer: UserId::new(self.customer).map_err(corrupt)?,
            lines: self
                .lines
                .into_iter()
                .map(|l| {
                    Ok(OrderLine {
                        product: ProductId::new(l.product).map_err(corrupt)?,
                        name: ProductName::parse(&l.name).map_err(corrupt)?,
                        quantity: Quantity::new(i64::from(l.quantity)).map_err(corrupt)?,
                        unit_price: l.unit_price.parse()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
            delivery: DeliveryOption::from_name(&self.delivery)
                .ok_or_else(|| corrupt(format!("delivery option {:?}", self.delivery)))?,
            destination: Location::new(self.destination.0, self.destination.1),
            ups_account: self
                .ups_account
                .map(|a| UpsAccount::parse(&a).map_err(corrupt))
                .transpose()?,
            payment: self.payment,
            shipping: self.shipping.parse()?,
            status: status(&self.status)?,
            warehouse: self
                .warehouse
                .map(|w| WarehouseId::new(w).map_err(corrupt))
                .transpose()?,
            ship_id: self
                .ship_id
                .map(|s| ShipId::new(s).map_err(corrupt))
                .transpose()?,
            truck: self
                .truck
                .map(|t| TruckId::new(t).map_err(corrupt))
                .transpose()?,
            final_destination: self.final_destination.map(|(x, y)| Location::new(x, y)),
            history,
        };
        Order::from_parts(parts).map_err(corrupt)
    }
}

impl From<&OrderEvent> for EventDoc {
    fn from(e: &OrderEvent) -> Self {
        EventDoc {
            at: e.at.millis(),
            kind: match &e.kind {
                OrderEventKind::Placed => EventKindDoc::Placed,
                OrderEventKind::StatusChanged { from, to } => EventKindDoc::StatusChanged {
                    from: from.as_str().into(),
                    to: to.as_str().into(),
                },
                OrderEventKind::Ended { status, reason } => EventKindDoc::Ended {
                    status: status.as_str().into(),
                    reason: reason.clone(),
                },
                OrderEventKind::Assigned { warehouse, ship_id } => EventKindDoc::Assigned {
                    warehouse: warehouse.get(),
                    ship_id: ship_id.get(),
                },
                OrderEventKind::TruckArrived { truck } => {
                    EventKindDoc::TruckArrived { truck: truck.get() }
                }
                OrderEventKind::FinalDestination { location } => EventKindDoc::FinalDestination {
                    x: location.x,
                    y: location.y,
                },
                OrderEventKind::Setback { reason } => EventKindDoc::Setback {
                    reason: reason.clone(),
                },
            },
        }
    }
}

impl EventDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<OrderEvent, StoreError> {
        Ok(OrderEvent {
            at: Timestamp(self.at),
            kind: match self.kind {
                EventKindDoc::Placed => OrderEventKind::Placed,
                EventKindDoc::StatusChanged { from, to } => OrderEventKind::StatusChanged {
                    from: status(&from)?,
                    to: status(&to)?,
                },
                EventKindDoc::Ended { status: s, reason } => OrderEventKind::Ended {
                    status: status(&s)?,
                    reason,
                },
                EventKindDoc::Assigned { warehouse, ship_id } => OrderEventKind::Assigned {
                    warehouse: WarehouseId::new(warehouse).map_err(corrupt)?,
                    ship_id: ShipId::new(ship_id).map_err(corrupt)?,
                },
                EventKindDoc::TruckArrived { truck } => OrderEventKind::TruckArrived {
                    truck: TruckId::new(truck).map_err(corrupt)?,
                },
                EventKindDoc::FinalDestination { x, y } => OrderEventKind::FinalDestination {
                    location: Location::new(x, y),
                },
                EventKindDoc::Setback { reason } => OrderEventKind::Setback { reason },
            },
        })
    }
}
