//! Orders, their state machine, and their history.
//!
//! An order moves along one path — placed → (waiting for stock →) packing → packed → truck
//! requested → loading → loaded → delivering → delivered — and may end early as cancelled
//! (only before packing starts) or failed (with a reason, from any live state). Anything else
//! is an [`IllegalTransition`]. Every change is appended to the order's history, which is what
//! tracking shows; nothing is ever removed from it.

use std::fmt;

use super::{
    DomainError, Location, Money, OrderId, ProductId, ProductName, Quantity, ShipId, Timestamp,
    TruckId, UserId, WarehouseId,
};

/// Where an order is in its life (ordered along the happy path, then the two early ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// Accepted and paid (authorized); not yet assigned to a warehouse.
    Placed,
    /// No warehouse has enough stock; more was bought from the world.
    WaitingForStock,
    /// The world is packing it.
    Packing,
    /// Packed at its warehouse.
    Packed,
    /// A UPS truck was asked for.
    TruckRequested,
    /// Being put on the truck.
    Loading,
    /// On the truck.
    Loaded,
    /// Handed to UPS, on its way.
    Delivering,
    /// At its destination.
    Delivered,
    /// Withdrawn before packing started.
    Cancelled,
    /// Could not be fulfilled.
    Failed,
}

impl OrderStatus {
    /// Every status, in the order of the happy path, then the two early ends.
    pub const ALL: [OrderStatus; 11] = [
        OrderStatus::Placed,
        OrderStatus::WaitingForStock,
        OrderStatus::Packing,
        OrderStatus::Packed,
        OrderStatus::TruckRequested,
        OrderStatus::Loading,
        OrderStatus::Loaded,
        OrderStatus::Delivering,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ];

    /// A stable snake_case name (for APIs and storage).
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::WaitingForStock => "waiting_for_stock",
            OrderStatus::Packing => "packing",
            OrderStatus::Packed => "packed",
            OrderStatus::TruckRequested => "truck_requested",
            OrderStatus::Loading => "loading",
            OrderStatus::Loaded => "loaded",
            OrderStatus::Delivering => "delivering",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    /// The status named `name` (see [`OrderStatus::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// True once nothing more can happen to the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Delivered | OrderStatus::Cancelled | OrderStatus::Failed
        )
    }

    /// True for the moments a customer waits for: confirmed (placed, packing, or waiting for
    /// stock), on its way, delivered, failed or cancelled. Only these are filed in their
    /// inbox (and mailed); the steps between them (packed, a truck asked for, loading,
    /// loaded) are the shop's business and show on the order's page, live.
    pub fn is_milestone(self) -> bool {
        matches!(
            self,
            OrderStatus::Placed
                | OrderStatus::WaitingForStock
                | OrderStatus::Packing
                | OrderStatus::Delivering
                | OrderStatus::Delivered
                | OrderStatus::Failed
                | OrderStatus::Cancelled
        )
    }

    /// True if an order in this status may move to `next`.
    pub fn can_become(self, next: OrderStatus) -> bool {
        use OrderStatus::*;
        match (self, next) {
            (from, Failed) => !from.is_terminal(),
            (Placed | WaitingForStock, Cancelled) => true,
            (Placed, WaitingForStock | Packing) => true,
            (WaitingForStock, Packing) => true,
            (Packing, Packed) => true,
            // The world refused to pack it (it has less than the shop believed): bought again.
            (Packing, WaitingForStock) => true,
            (Packed, TruckRequested) => true,
            (TruckRequested, Loading) => true,
            // The world refused the load (the truck left, or was never there): another truck.
            (Loading, TruckRequested) => true,
            (Loading, Loaded) => true,
            (Loaded, Delivering) => true,
            (Delivering, Delivered) => true,
            _ => false,
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status change the state machine does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {from} cannot become {to}")]
pub struct IllegalTransition {
    /// The current status.
    pub from: OrderStatus,
    /// The status asked for.
    pub to: OrderStatus,
}

/// How fast the buyer wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOption {
    /// The usual.
    Standard,
    /// Faster, for more.
    Express,
}

impl DeliveryOption {
    /// The option named `name` (see [`DeliveryOption::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "standard" => Some(Self::Standard),
            "express" => Some(Self::Express),
            _ => None,
        }
    }

    /// A stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOption::Standard => "standard",
            DeliveryOption::Express => "express",
        }
    }
}

/// The buyer's account at the UPS (`UPSuserId`), so they can follow and redirect the package.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UpsAccount(String);

impl UpsAccount {
    /// Parses an account name: 1 to 64 characters, no whitespace or control characters.
    pub fn parse(text: &str) -> Result<Self, DomainError> {
        let ok = !text.is_empty()
            && text.chars().count() <= 64
            && !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(DomainError::UpsAccount(text.to_string()))
        }
    }

    /// The account name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One product of an order, priced when it was placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// The product.
    pub product: ProductId,
    /// Its name when ordered.
    pub name: ProductName,
    /// How many.
    pub quantity: Quantity,
    /// Price of one, when ordered.
    pub unit_price: Money,
}

impl OrderLine {
    /// Quantity times unit price.
    pub fn subtotal(&self) -> Result<Money, DomainError> {
        self.unit_price.times(self.quantity)
    }
}

/// Something that happened to an order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderEventKind {
    /// The order was placed.
    Placed,
    /// The status changed.
    StatusChanged {
        /// Before.
        from: OrderStatus,
        /// After.
        to: OrderStatus,
    },
    /// The order failed or was cancelled; why.
    Ended {
        /// Failed or cancelled.
        status: OrderStatus,
        /// Why, for the customer.
        reason: String,
    },
    /// A warehouse and package id were chosen.
    Assigned {
        /// The warehouse that ships it.
        warehouse: WarehouseId,
        /// Its package id in the world.
        ship_id: ShipId,
    },
    /// A UPS truck came for it.
    TruckArrived {
        /// The truck.
        truck: TruckId,
    },
    /// UPS reported the final destination (the buyer may have redirected it).
    FinalDestination {
        /// Where it goes.
        location: Location,
    },
    /// Something went wrong that the shop works around (a refused load or pack); why.
    Setback {
        /// What happened and what the shop does about it, for the customer.
        reason: String,
    },
}

/// An entry of an order's history.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderEvent {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: OrderEventKind,
}

/// An order. Its fields change only through methods that keep the state machine and the
/// history consistent.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    id: OrderId,
    customer: UserId,
    lines: Vec<OrderLine>,
    delivery: DeliveryOption,
    destination: Location,
    ups_account: Option<UpsAccount>,
    payment: String,
    shipping: Money,
    total: Money,
    status: OrderStatus,
    warehouse: Option<WarehouseId>,
    ship_id: Option<ShipId>,
    truck: Option<TruckId>,
    final_destination: Option<Location>,
    history: Vec<OrderEvent>,
}

/// Every field of an order, for storage backends: [`Order::to_parts`] and
/// [`Order::from_parts`] convert without loss.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderParts {
    /// Its id.
    pub id: OrderId,
    /// The buyer.
    pub customer: UserId,
    /// The lines.
    pub lines: Vec<OrderLine>,
    /// How fast.
    pub delivery: DeliveryOption,
    /// Where to.
    pub destination: Location,
    /// The buyer's UPS account.
    pub ups_account: Option<UpsAccount>,
    /// The payment reference.
    pub payment: String,
    /// The shipping cost.
    pub shipping: Money,
    /// The current status.
    pub status: OrderStatus,
    /// The warehouse shipping it.
    pub warehouse: Option<WarehouseId>,
    /// Its package id.
    pub ship_id: Option<ShipId>,
    /// The truck that took it.
    pub truck: Option<TruckId>,
    /// The final destination UPS reported.
    pub final_destination: Option<Location>,
    /// Its history, oldest first.
    pub history: Vec<OrderEvent>,
}

/// What an order is placed with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    /// Its id.
    pub id: OrderId,
    /// Who buys.
    pub customer: UserId,
    /// What (at least one line, all in the shipping cost's currency).
    pub lines: Vec<OrderLine>,
    /// How fast.
    pub delivery: DeliveryOption,
    /// Where to.
    pub destination: Location,
    /// The buyer's UPS account, if given.
    pub ups_account: Option<UpsAccount>,
    /// The payment gateway's reference for the authorization.
    pub payment: String,
    /// The shipping cost.
    pub shipping: Money,
}

impl Order {
    /// Places an order: checks it has lines in one currency and computes its total.
    pub fn place(new: NewOrder, at: Timestamp) -> Result<Self, DomainError> {
        if new.lines.is_empty() {
            return Err(DomainError::EmptyOrder);
        }
        let subtotals = new
            .lines
            .iter()
            .map(OrderLine::subtotal)
            .collect::<Result<Vec<_>, _>>()?;
        let total = Money::sum(new.shipping.currency(), subtotals)?.checked_add(new.shipping)?;
        Ok(Self {
            id: new.id,
            customer: new.customer,
            lines: new.lines,
            delivery: new.delivery,
            destination: new.destination,
            ups_account: new.ups_account,
            payment: new.payment,
            shipping: new.shipping,
            total,
            status: OrderStatus::Placed,
            warehouse: None,
            ship_id: None,
            truck: None,
            final_destination: None,
            history: vec![OrderEvent {
                at,
                kind: OrderEventKind::Placed,
            }],
        })
    }

    /// Rebuilds a stored order, recomputing its total and checking it is consistent.
    pub fn from_parts(parts: OrderParts) -> Result<Self, DomainError> {
        let mut order = Self::place(
            NewOrder {
                id: parts.id,
                customer: parts.customer,
                lines: parts.lines,
                delivery: parts.delivery,
                destination: parts.destination,
                ups_account: parts.ups_account,
                payment: parts.payment,
                shipping: parts.shipping,
            },
            Timestamp(0),
        )?;
        if parts.history.is_empty() {
            return Err(DomainError::OrderHistory);
        }
        order.status = parts.status;
        order.warehouse = parts.warehouse;
        order.ship_id = parts.ship_id;
        order.truck = parts.truck;
        order.final_destination = parts.final_destination;
        order.history = parts.history;
        Ok(order)
    }

    /// Every field, for storage.
    pub fn to_parts(&self) -> OrderParts {
        OrderParts {
            id: self.id,
            customer: self.customer,
            lines: self.lines.clone(),
            delivery: self.delivery,
            destination: self.destination,
            ups_account: self.ups_account.clone(),
            payment: self.payment.clone(),
            shipping: self.shipping,
            status: self.status,
            warehouse: self.warehouse,
            ship_id: self.ship_id,
            truck: self.truck,
            final_destination: self.final_destination,
            history: self.history.clone(),
        }
    }

    /// When it was placed.
    pub fn placed_at(&self) -> Timestamp {
        self.history.first().map(|e| e.at).unwrap_or(Timestamp(0))
    }

    /// Grows with every change (the history's length): storage uses it for conditional
    /// updates, so two writers cannot both change the same order unnoticed.
    pub fn version(&self) -> usize {
        self.history.len()
    }

    /// Moves along the happy path (`Failed` and `Cancelled` go through [`Order::end`]).
    pub fn advance(&mut self, to: OrderStatus, at: Timestamp) -> Result<(), IllegalTransition> {
        let from = self.status;
        if matches!(to, OrderStatus::Failed | OrderStatus::Cancelled) || !from.can_become(to) {
            return Err(IllegalTransition { from, to });
        }
        self.status = to;
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::StatusChanged { from, to },
        });
        Ok(())
    }

    /// Ends the order as `Failed` or `Cancelled`, with a reason.
    pub fn end(
        &mut self,
        status: OrderStatus,
        reason: impl Into<String>,
        at: Timestamp,
    ) -> Result<(), IllegalTransition> {
        let from = self.status;
        if !matches!(status, OrderStatus::Failed | OrderStatus::Cancelled)
            || !from.can_become(status)
        {
            return Err(IllegalTransition { from, to: status });
        }
        self.status = status;
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::StatusChanged { from, to: status },
        });
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::Ended {
                status,
                reason: reason.into(),
            },
        });
        Ok(())
    }

    /// Records the warehouse and package id chosen for it.
    pub fn assign(&mut self, warehouse: WarehouseId, ship_id: ShipId, at: Timestamp) {
        self.warehouse = Some(warehouse);
        self.ship_id = Some(ship_id);
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::Assigned { warehouse, ship_id },
        });
    }

    /// Records the truck that came for it.
    pub fn truck_arrived(&mut self, truck: TruckId, at: Timestamp) {
        self.truck = Some(truck);
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::TruckArrived { truck },
        });
    }

    /// Records a setback the shop works around, so the customer sees each attempt.
    pub fn setback(&mut self, reason: impl Into<String>, at: Timestamp) {
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::Setback {
                reason: reason.into(),
            },
        });
    }

    /// Records the final destination UPS reported.
    pub fn final_destination(&mut self, location: Location, at: Timestamp) {
        self.final_destination = Some(location);
        self.history.push(OrderEvent {
            at,
            kind: OrderEventKind::FinalDestination { location },
        });
    }

    /// The id.
    pub fn id(&self) -> OrderId {
        self.id
    }
    /// The buyer.
    pub fn customer(&self) -> UserId {
        self.customer
    }
    /// The lines.
    pub fn lines(&self) -> &[OrderLine] {
        &self.lines
    }
    /// The delivery option.
    pub fn delivery(&self) -> DeliveryOption {
        self.delivery
    }
    /// Where it was sent.
    pub fn destination(&self) -> Location {
        self.destination
    }
    /// The buyer's UPS account.
    pub fn ups_account(&self) -> Option<&UpsAccount> {
        self.ups_account.as_ref()
    }
    /// The payment reference.
    pub fn payment(&self) -> &str {
        &self.payment
    }
    /// The shipping cost.
    pub fn shipping(&self) -> Money {
        self.shipping
    }
    /// Lines plus shipping.
    pub fn total(&self) -> Money {
        self.total
    }
    /// The current status.
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// Why it failed or was cancelled.
    pub fn end_reason(&self) -> Option<&str> {
        self.history.iter().rev().find_map(|e| match &e.kind {
            OrderEventKind::Ended { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
    }
    /// The warehouse shipping it, once chosen.
    pub fn warehouse(&self) -> Option<WarehouseId> {
        self.warehouse
    }
    /// Its package id, once assigned.
    pub fn ship_id(&self) -> Option<ShipId> {
        self.ship_id
    }
    /// The truck that took it.
    pub fn truck(&self) -> Option<TruckId> {
        self.truck
    }
    /// The final destination UPS reported.
    pub fn reported_destination(&self) -> Option<Location> {
        self.final_destination
    }
    /// Everything that happened to it, oldest first.
    pub fn history(&self) -> &[OrderEvent] {
        &self.history
    }
}

#[cfg(test)]
mod tests;
