//! Releasing a truck: the packages loaded onto it are handed to the UPS together, once none is
//! still being loaded.
//!
//! A partner's truck may leave as soon as it is told to deliver one package (nothing in the
//! protocol forbids it). Told about each package the moment it is loaded, such a truck leaves
//! while the shop is still loading the next, whose `load` the world then refuses. So a loaded
//! package waits for its truck-mates, and the `DeliverPackage`s of a truck go out in one step
//! (one outbox run, one message).

use super::{Effect, Fulfilment, ShippingCommand, Step, ship_id_of};
use crate::domain::{Order, OrderStatus, Timestamp};

impl Fulfilment {
    /// `mates`: every order being loaded onto, or loaded onto and not yet released with, one
    /// truck at one warehouse (status loading or loaded). When none is still loading, each
    /// loaded one goes: → delivering, with its `Deliver`. Otherwise nothing changes.
    pub fn release_truck(&self, mates: Vec<Order>, now: Timestamp) -> Step {
        let mut step = Step::default();
        if mates.iter().any(|o| o.status() == OrderStatus::Loading) {
            return step;
        }
        for mut order in mates {
            if order.status() != OrderStatus::Loaded {
                continue;
            }
            let version = order.version();
            order
                .advance(OrderStatus::Delivering, now)
                .expect("loaded orders can be delivered");
            step.effects
                .push(Effect::Shipping(ShippingCommand::Deliver {
                    ship_id: ship_id_of(order.id()),
                }));
            step.notify(&order);
            step.changed(order, version);
        }
        step
    }
}

impl Step {
    /// This step followed by `next`, as one: an order both change appears once, in its latest
    /// state, with the version it had before the first.
    pub fn then(mut self, next: Step) -> Step {
        for (order, version) in next.orders {
            match self.orders.iter_mut().find(|(o, _)| o.id() == order.id()) {
                Some((pending, _)) => *pending = order,
                None => self.orders.push((order, version)),
            }
        }
        self.stock.extend(next.stock);
        self.effects.extend(next.effects);
        self.ignored.extend(next.ignored);
        self
    }
}
