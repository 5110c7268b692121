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

#[derive(Serialize, Deserialize)]
struct EventDoc {
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

impl From<&Order> for OrderDoc {
    fn from(order: &Order) -> Self {
        let p = order.to_parts();
        Self {
            id: p.id.get(),
            customer: p.customer.get(),
            lines: p
                .lines
                .iter()
                .map(|l| LineDoc {
                    product: l.product.get(),
                    name: l.name.as_str().to_string(),
                    quantity: l.quantity.get(),
                    unit_price: l.unit_price.into(),
                })
                .collect(),
            delivery: p.delivery.as_str().to_string(),
            destination: (p.destination.x, p.destination.y),
            ups_account: p.ups_account.map(|a| a.as_str().to_string()),
            payment: p.payment,
            shipping: p.shipping.into(),
            status: p.status.as_str().to_string(),
            warehouse: p.warehouse.map(WarehouseId::get),
            ship_id: p.ship_id.map(ShipId::get),
            truck: p.truck.map(TruckId::get),
            final_destination: p.final_destination.map(|l| (l.x, l.y)),
            history: p
                .history
                .iter()
                .map(|e| EventDoc {
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
                        OrderEventKind::FinalDestination { location } => {
                            EventKindDoc::FinalDestination {
                                x: location.x,
                                y: location.y,
                            }
                        }
                        OrderEventKind::Setback { reason } => EventKindDoc::Setback {
                            reason: reason.clone(),
                        },
                    },
                })
                .collect(),
        }
    }
}

impl OrderDoc {
    /// Back to the domain.
    pub fn parse(self) -> Result<Order, StoreError> {
        let history = self
            .history
            .into_iter()
            .map(|e| {
                Ok(OrderEvent {
                    at: Timestamp(e.at),
                    kind: match e.kind {
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
                        EventKindDoc::FinalDestination { x, y } => {
                            OrderEventKind::FinalDestination {
                                location: Location::new(x, y),
                            }
                        }
                        EventKindDoc::Setback { reason } => OrderEventKind::Setback { reason },
                    },
                })
            })
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
