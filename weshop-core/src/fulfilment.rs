//! Fulfilment: the sans-IO state machine that moves a placed order to its door.
//!
//! Checkout reserves an order's units in one warehouse (the nearest that can cover it) and
//! assigns its package id. From there [`Fulfilment`] decides, for each event, what changes and
//! what must be said to the world, the UPS, the payment gateway and the customer:
//!
//! | event | order | effects |
//! |---|---|---|
//! | placed, or bought stock `arrived` | → packing if its units are on hand, else → waiting for stock | `Pack` |
//! | `ready` (packed) | → packed → truck requested | `RequestTruck` |
//! | `TruckArrived` | → loading | `Load` |
//! | `loaded` | → loaded | |
//! | no package is still loading onto its truck ([`Fulfilment::release_truck`]) | every loaded one → delivering | `Deliver` for each, together |
//! | the world refuses a `Load` (no truck there) | → truck requested again, at most [`MAX_TRUCK_REQUESTS`] trucks | `RequestTruck` |
//! | the world refuses a `Pack` (not enough stock) | → waiting for stock, at most [`MAX_PACK_TRIES`] packs | `Purchase` of its units |
//! | `FinalDest` | records where it goes | |
//! | `U2ADelivered` | → delivered | capture the payment |
//! | a world or UPS error about a command | → failed, with the reason; units go back | void the payment |
//!
//! Orders waiting at a warehouse are served first come, first served per product: a later order
//! never takes units an earlier one is waiting for. The engine only computes a [`Step`]; the
//! caller commits it (orders, stock and the effects as outbox entries) in one transaction
//! *before* any effect is performed, so a crash at any point resumes from the outbox.
//! Each order's commands wait for the event that proves the previous one happened, so commands
//! about the same package never overtake each other.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::{
    Location, Money, Order, OrderEventKind, OrderId, OrderStatus, ProductId, Quantity, ShipId,
    Stock, StockDelta, Timestamp, TruckId, UpsAccount, UserId, WarehouseId, WarehouseSite,
};
use crate::notify::Notification;

/// Units of one product in a package or a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The product.
    pub product: ProductId,
    /// Its description for the world and the UPS (the product's name).
    pub description: String,
    /// How many.
    pub count: Quantity,
}

/// What the shop asks of a warehouse (the world).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WarehouseCommand {
    /// Buy units into a warehouse (`buy`; answered by `arrived`).
    Purchase {
        /// Where.
        warehouse: WarehouseId,
        /// What.
        items: Vec<Item>,
    },
    /// Pack a package (`topack`; answered by `ready`).
    Pack {
        /// Where.
        warehouse: WarehouseId,
        /// The package id.
        ship_id: ShipId,
        /// What goes in.
        items: Vec<Item>,
    },
    /// Put a packed package on a truck at the warehouse (`load`; answered by `loaded`).
    Load {
        /// Where.
        warehouse: WarehouseId,
        /// The truck.
        truck: TruckId,
        /// The package.
        ship_id: ShipId,
    },
}

/// What the shop asks of the UPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingCommand {
    /// Send a truck to a warehouse for a package (`RequestTruck`; answered by `TruckArrived`).
    RequestTruck {
        /// Where to pick it up.
        warehouse: WarehouseSite,
        /// Where it goes.
        destination: Location,
        /// The package.
        ship_id: ShipId,
        /// The buyer's UPS account.
        ups_account: Option<UpsAccount>,
        /// What is in it.
        items: Vec<Item>,
    },
    /// The package is loaded: deliver it (`DeliverPackage`; answered by `U2ADelivered`).
    Deliver {
        /// The package.
        ship_id: ShipId,
    },
}

/// Something to do once a step is committed; kept in the outbox until done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Tell the world.
    Warehouse(WarehouseCommand),
    /// Tell the UPS.
    Shipping(ShippingCommand),
    /// Take the held money of a delivered order.
    Capture {
        /// The order.
        order: OrderId,
        /// The gateway's authorization.
        authorization: String,
        /// How much.
        amount: Money,
    },
    /// Release the held money of an order that will not ship.
    Void {
        /// The order.
        order: OrderId,
        /// The gateway's authorization.
        authorization: String,
    },
    /// Tell a user.
    Notify {
        /// Whom.
        user: UserId,
        /// What.
        notification: Notification,
    },
}

/// A command the world or the UPS refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A warehouse command.
    Warehouse(WarehouseCommand),
    /// A shipping command.
    Shipping(ShippingCommand),
}

/// What the world or the UPS reports, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfilmentEvent {
    /// Bought units arrived in a warehouse.
    Arrived {
        /// Where.
        warehouse: WarehouseId,
        /// What and how many.
        items: Vec<(ProductId, Quantity)>,
    },
    /// A package is packed.
    Packed {
        /// The package.
        ship_id: ShipId,
    },
    /// A truck is at the warehouse for a package.
    TruckArrived {
        /// The package.
        ship_id: ShipId,
        /// The truck.
        truck: TruckId,
    },
    /// A package is on its truck.
    Loaded {
        /// The package.
        ship_id: ShipId,
    },
    /// Where the UPS will deliver a package (its owner may have redirected it).
    FinalDestination {
        /// The package.
        ship_id: ShipId,
        /// Where.
        location: Location,
    },
    /// A package was delivered.
    Delivered {
        /// The package.
        ship_id: ShipId,
    },
    /// A command was refused, with the peer's reason.
    Refused {
        /// The command.
        command: Refused,
        /// Why.
        reason: String,
    },
}

impl FulfilmentEvent {
    /// The package the event is about, if it is about one.
    pub fn ship_id(&self) -> Option<ShipId> {
        match self {
            FulfilmentEvent::Arrived { .. } => None,
            FulfilmentEvent::Packed { ship_id }
            | FulfilmentEvent::TruckArrived { ship_id, .. }
            | FulfilmentEvent::Loaded { ship_id }
            | FulfilmentEvent::FinalDestination { ship_id, .. }
            | FulfilmentEvent::Delivered { ship_id } => Some(*ship_id),
            FulfilmentEvent::Refused { command, .. } => match command {
                Refused::Warehouse(WarehouseCommand::Pack { ship_id, .. })
                | Refused::Warehouse(WarehouseCommand::Load { ship_id, .. })
                | Refused::Shipping(ShippingCommand::RequestTruck { ship_id, .. })
                | Refused::Shipping(ShippingCommand::Deliver { ship_id }) => Some(*ship_id),
                Refused::Warehouse(WarehouseCommand::Purchase { .. }) => None,
            },
        }
    }
}

mod release;

/// The outcome of one event: what to commit, atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Step {
    /// Changed orders, each with the version it had before the step.
    pub orders: Vec<(Order, usize)>,
    /// Stock changes.
    pub stock: Vec<StockDelta>,
    /// Effects to put in the outbox.
    pub effects: Vec<Effect>,
    /// Events that changed nothing (late or duplicate), for logs.
    pub ignored: Vec<String>,
}

impl Step {
    fn changed(&mut self, order: Order, version: usize) {
        self.orders.push((order, version));
    }

    /// Tells the customer, if the order reached one of its milestones
    /// ([`OrderStatus::is_milestone`]).
    fn notify(&mut self, order: &Order) {
        if !order.status().is_milestone() {
            return;
        }
        self.effects.push(Effect::Notify {
            user: order.customer(),
            notification: Notification::OrderStatus {
                order: order.id(),
                status: order.status(),
            },
        });
    }

    /// True when the step changes nothing and does nothing.
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.stock.is_empty() && self.effects.is_empty()
    }
}

/// Most trucks asked for one package: after that many refused loads, the order fails.
pub const MAX_TRUCK_REQUESTS: usize = 5;

/// How many times an order has become `status` (trucks asked for, packs tried).
fn times_became(order: &Order, status: OrderStatus) -> usize {
    order
        .history()
        .iter()
        .filter(|e| matches!(e.kind, OrderEventKind::StatusChanged { to, .. } if to == status))
        .count()
}

/// Most times the shop asks the world to pack one package: after each refusal its units are
/// bought again, and after the last the order fails.
pub const MAX_PACK_TRIES: usize = 3;

/// The request for a truck to take an order's package from `warehouse`.
fn request_truck(order: &Order, warehouse: WarehouseSite) -> Effect {
    Effect::Shipping(ShippingCommand::RequestTruck {
        warehouse,
        destination: order.destination(),
        ship_id: ship_id_of(order.id()),
        ups_account: order.ups_account().cloned(),
        items: items_of(order),
    })
}

/// The package id of an order: its order id (both are positive int64s).
pub fn ship_id_of(order: OrderId) -> ShipId {
    ShipId::new(order.get()).expect("order ids are positive")
}

/// The order of a package id.
pub fn order_of(ship_id: ShipId) -> OrderId {
    OrderId::new(ship_id.get()).expect("ship ids are positive")
}

/// The items of an order's package.
pub fn items_of(order: &Order) -> Vec<Item> {
    order
        .lines()
        .iter()
        .map(|line| Item {
            product: line.product,
            description: line.name.as_str().to_string(),
            count: line.quantity,
        })
        .collect()
}

/// One stock change per line of an order, at its warehouse (none before it has one): `change`
/// turns the line's units into (on hand, incoming, reserved).
fn per_line(order: &Order, change: impl Fn(i64) -> (i64, i64, i64)) -> Vec<StockDelta> {
    let Some(warehouse) = order.warehouse() else {
        return Vec::new();
    };
    order
        .lines()
        .iter()
        .map(|line| {
            let (on_hand, incoming, reserved) = change(i64::from(line.quantity.get()));
            StockDelta {
                warehouse,
                product: line.product,
                on_hand,
                incoming,
                reserved,
            }
        })
        .collect()
}

/// The stock changes that hand an order's reserved (not yet packed) units back.
pub fn release_of(order: &Order) -> Vec<StockDelta> {
    per_line(order, |units| (0, 0, -units))
}

/// The fulfilment engine. Pure: every method takes the current state and returns a [`Step`].
#[derive(Debug, Clone)]
pub struct Fulfilment {
    warehouses: BTreeMap<WarehouseId, WarehouseSite>,
}

impl Fulfilment {
    /// An engine for these warehouses.
    pub fn new(warehouses: impl IntoIterator<Item = WarehouseSite>) -> Self {
        Self {
            warehouses: warehouses.into_iter().map(|w| (w.id, w)).collect(),
        }
    }

    /// The warehouses it knows.
    pub fn warehouses(&self) -> impl Iterator<Item = &WarehouseSite> {
        self.warehouses.values()
    }

    /// Serves the orders waiting at one warehouse: packs, oldest first, each order whose units
    /// are all on hand; the rest wait for stock, and hold their products for themselves.
    ///
    /// `queue` is every order of the warehouse that is placed or waiting for stock, in any
    /// order; `stock` has the warehouse's stock of every product they contain.
    pub fn serve(
        &self,
        warehouse: WarehouseId,
        mut queue: Vec<Order>,
        stock: &BTreeMap<ProductId, Stock>,
        now: Timestamp,
    ) -> Step {
        let mut step = Step::default();
        queue.sort_by_key(|o| o.id());
        let mut on_hand: BTreeMap<ProductId, u64> =
            stock.iter().map(|(p, s)| (*p, s.on_hand())).collect();
        let mut blocked: BTreeSet<ProductId> = BTreeSet::new();
        for mut order in queue {
            if order.warehouse() != Some(warehouse)
                || !matches!(
                    order.status(),
                    OrderStatus::Placed | OrderStatus::WaitingForStock
                )
            {
                continue;
            }
            let version = order.version();
            let lines = order.lines().to_vec();
            // What the order needs of each product (two lines may name the same one).
            let mut needs: BTreeMap<ProductId, u64> = BTreeMap::new();
            for line in &lines {
                *needs.entry(line.product).or_default() += u64::from(line.quantity.get());
            }
            let fits = needs.iter().all(|(product, units)| {
                !blocked.contains(product) && on_hand.get(product).copied().unwrap_or(0) >= *units
            });
            if fits {
                for line in &lines {
                    let units = u64::from(line.quantity.get());
                    *on_hand.get_mut(&line.product).expect("checked") -= units;
                    step.stock.push(StockDelta {
                        warehouse,
                        product: line.product,
                        on_hand: -(units as i64),
                        incoming: 0,
                        reserved: -(units as i64),
                    });
                }
                order
                    .advance(OrderStatus::Packing, now)
                    .expect("placed or waiting may pack");
                step.effects.push(Effect::Warehouse(WarehouseCommand::Pack {
                    warehouse,
                    ship_id: ship_id_of(order.id()),
                    items: items_of(&order),
                }));
                step.notify(&order);
                step.changed(order, version);
            } else {
                blocked.extend(lines.iter().map(|l| l.product));
                if order.status() == OrderStatus::Placed {
                    order
                        .advance(OrderStatus::WaitingForStock, now)
                        .expect("placed may wait");
                    step.notify(&order);
                    step.changed(order, version);
                }
            }
        }
        step
    }

    /// Bought units arrived: they go on hand, and the warehouse's waiting orders are served.
    pub fn arrived(
        &self,
        warehouse: WarehouseId,
        items: &[(ProductId, Quantity)],
        queue: Vec<Order>,
        stock: &BTreeMap<ProductId, Stock>,
        now: Timestamp,
    ) -> Step {
        let mut after = stock.clone();
        let mut deltas = Vec::new();
        for (product, quantity) in items {
            let entry = after.entry(*product).or_default();
            let from_incoming = u64::from(quantity.get()).min(entry.incoming());
            entry.arrive(*quantity);
            deltas.push(StockDelta {
                warehouse,
                product: *product,
                on_hand: i64::from(quantity.get()),
                incoming: -(from_incoming as i64),
                reserved: 0,
            });
        }
        let mut step = self.serve(warehouse, queue, &after, now);
        deltas.append(&mut step.stock);
        step.stock = deltas;
        step
    }

    /// An event about one package, given its order (if the store has it).
    pub fn package_event(
        &self,
        event: &FulfilmentEvent,
        order: Option<Order>,
        now: Timestamp,
    ) -> Step {
        let mut step = Step::default();
        let Some(mut order) = order else {
            step.ignored.push(format!("{event:?}: no such order"));
            return step;
        };
        let version = order.version();
        let status = order.status();
        match event {
            FulfilmentEvent::Packed { .. } if status == OrderStatus::Packing => {
                let Some(warehouse) = self.site_of(&order) else {
                    let reason = "its warehouse is no longer known to the shop";
                    return self.fail(order, reason, now, false);
                };
                order.advance(OrderStatus::Packed, now).expect("packing");
                order
                    .advance(OrderStatus::TruckRequested, now)
                    .expect("packed");
                step.effects.push(request_truck(&order, warehouse));
            }
            // The truck is not at the warehouse (a partner's truck may leave as soon as it is
            // told to deliver one package): the package is still here, so ask for another.
            FulfilmentEvent::Refused {
                command: Refused::Warehouse(WarehouseCommand::Load { .. }),
                reason,
            } if status == OrderStatus::Loading => {
                let asked = times_became(&order, OrderStatus::TruckRequested);
                let warehouse = self.site_of(&order);
                let (Some(warehouse), true) = (warehouse, asked < MAX_TRUCK_REQUESTS) else {
                    let reason =
                        format!("it could not be loaded onto any of {asked} trucks: {reason}");
                    return self.fail(order, &reason, now, false);
                };
                order.setback(
                    format!("The truck could not be loaded ({reason}): another truck is asked for"),
                    now,
                );
                order
                    .advance(OrderStatus::TruckRequested, now)
                    .expect("loading");
                step.effects.push(request_truck(&order, warehouse));
            }
            // The warehouse has less than the shop believed (units lost, or counts out of
            // step): the units are bought again and the order waits for them.
            FulfilmentEvent::Refused {
                command: Refused::Warehouse(WarehouseCommand::Pack { .. }),
                reason,
            } if status == OrderStatus::Packing => {
                let tries = times_became(&order, OrderStatus::Packing);
                let warehouse = self.site_of(&order);
                let (Some(warehouse), true) = (warehouse, tries < MAX_PACK_TRIES) else {
                    let reason = match tries {
                        1 => format!("the warehouse could not pack it: {reason}"),
                        n => format!("the warehouse could not pack it ({n} tries): {reason}"),
                    };
                    return self.fail(order, &reason, now, true);
                };
                order.setback(
                    format!(
                        "The warehouse could not pack it ({reason}): its units are bought again"
                    ),
                    now,
                );
                order
                    .advance(OrderStatus::WaitingForStock, now)
                    .expect("packing");
                // Incoming and reserved for it once more; what packing took stays taken (the
                // warehouse does not have it).
                step.stock = per_line(&order, |units| (0, units, units));
                step.effects
                    .push(Effect::Warehouse(WarehouseCommand::Purchase {
                        warehouse: warehouse.id,
                        items: items_of(&order),
                    }));
            }
            FulfilmentEvent::TruckArrived { truck, .. }
                if status == OrderStatus::TruckRequested =>
            {
                let warehouse = order.warehouse().expect("assigned at checkout");
                order.truck_arrived(*truck, now);
                order.advance(OrderStatus::Loading, now).expect("truck");
                step.effects.push(Effect::Warehouse(WarehouseCommand::Load {
                    warehouse,
                    truck: *truck,
                    ship_id: ship_id_of(order.id()),
                }));
            }
            // Released with the truck's other packages ([`Fulfilment::release_truck`]).
            FulfilmentEvent::Loaded { .. } if status == OrderStatus::Loading => {
                order.advance(OrderStatus::Loaded, now).expect("loading");
            }
            FulfilmentEvent::FinalDestination { location, .. }
                if !status.is_terminal() && order.reported_destination() != Some(*location) =>
            {
                order.final_destination(*location, now);
                step.changed(order, version);
                return step;
            }
            FulfilmentEvent::Delivered { .. } if status == OrderStatus::Delivering => {
                order
                    .advance(OrderStatus::Delivered, now)
                    .expect("delivering");
                step.effects.push(Effect::Capture {
                    order: order.id(),
                    authorization: order.payment().to_string(),
                    amount: order.total(),
                });
            }
            FulfilmentEvent::Refused { command, reason } if !status.is_terminal() => {
                let (what, packed_units_back) = match command {
                    Refused::Warehouse(WarehouseCommand::Pack { .. }) => {
                        ("the warehouse could not pack it", true)
                    }
                    Refused::Warehouse(WarehouseCommand::Load { .. }) => {
                        ("it could not be loaded", false)
                    }
                    Refused::Warehouse(WarehouseCommand::Purchase { .. }) => {
                        ("its stock could not be bought", false)
                    }
                    Refused::Shipping(ShippingCommand::RequestTruck { .. }) => {
                        ("UPS could not send a truck", false)
                    }
                    Refused::Shipping(ShippingCommand::Deliver { .. }) => {
                        ("UPS could not deliver it", false)
                    }
                };
                return self.fail(order, &format!("{what}: {reason}"), now, packed_units_back);
            }
            _ => {
                step.ignored.push(format!(
                    "{event:?} for order {} that is {status}",
                    order.id()
                ));
                return step;
            }
        }
        step.notify(&order);
        step.changed(order, version);
        step
    }

    /// The site of the warehouse an order ships from, if the engine knows it.
    fn site_of(&self, order: &Order) -> Option<WarehouseSite> {
        order
            .warehouse()
            .and_then(|w| self.warehouses.get(&w).copied())
    }

    /// Ends an order as failed: its reserved units go back (or, if the world refused to pack
    /// it, the units taken for packing go back on hand), and its payment is voided.
    pub fn fail(&self, order: Order, reason: &str, now: Timestamp, unpacked: bool) -> Step {
        self.end(order, OrderStatus::Failed, reason, now, unpacked)
    }

    /// Cancels an order that has not started packing: its units go back, its payment is voided.
    /// `None` if it is too late.
    pub fn cancel(&self, order: Order, now: Timestamp) -> Option<Step> {
        if !order.status().can_become(OrderStatus::Cancelled) {
            return None;
        }
        Some(self.end(
            order,
            OrderStatus::Cancelled,
            "cancelled by the customer",
            now,
            false,
        ))
    }

    fn end(
        &self,
        mut order: Order,
        status: OrderStatus,
        reason: &str,
        now: Timestamp,
        unpacked: bool,
    ) -> Step {
        let mut step = Step::default();
        let version = order.version();
        let before = order.status();
        if order.end(status, reason, now).is_err() {
            step.ignored
                .push(format!("order {} is already {before}", order.id()));
            return step;
        }
        if matches!(before, OrderStatus::Placed | OrderStatus::WaitingForStock) {
            step.stock = release_of(&order);
        } else if unpacked && before == OrderStatus::Packing {
            // The world did not take the units: they are on hand again (and free).
            step.stock = per_line(&order, |units| (units, 0, 0));
        }
        step.effects.push(Effect::Void {
            order: order.id(),
            authorization: order.payment().to_string(),
        });
        step.notify(&order);
        step.changed(order, version);
        step
    }
}

#[cfg(test)]
mod tests;
