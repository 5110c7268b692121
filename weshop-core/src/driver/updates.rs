//! Order updates for live followers (order pages, SSE), each version told once.
//!
//! A node tells its followers of the orders it changes itself (checkouts, the driver's
//! commits) and, when several nodes share the store, of the changes other nodes made, heard
//! through the store's change feed ([`crate::changes`]). On the leader both paths report the
//! same commits, and the feed may repeat or reorder them; followers must see each order move
//! forward once, never back. So every update passes through [`OrderUpdates::publish`], which
//! drops an order version already told (or older than one told).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use tokio::sync::broadcast;

use crate::domain::{Order, OrderId};
use crate::shop::OrderUpdate;

/// Orders whose last told version is remembered; past it the memory is cleared (the cost: an
/// order's next update might be told twice).
const REMEMBERED: usize = 100_000;

/// The channel order followers subscribe to.
pub(crate) struct OrderUpdates {
    sender: broadcast::Sender<OrderUpdate>,
    /// The last version told of each order, and whether it was final.
    told: Mutex<HashMap<OrderId, (usize, bool)>>,
}

impl OrderUpdates {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
            told: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<OrderUpdate> {
        self.sender.subscribe()
    }

    /// Whether followers were told of `id` at `version` or later.
    pub(crate) fn told(&self, id: OrderId, version: usize) -> bool {
        self.lock()
            .get(&id)
            .is_some_and(|(told, _)| *told >= version)
    }

    /// Tells followers of `order`, unless they heard of this version or a later one.
    pub(crate) fn publish(&self, order: Order) {
        {
            let mut told = self.lock();
            let version = order.version();
            if told.get(&order.id()).is_some_and(|(t, _)| *t >= version) {
                return;
            }
            if told.len() >= REMEMBERED {
                told.clear();
            }
            told.insert(order.id(), (version, order.status().is_terminal()));
        }
        let _ = self.sender.send(OrderUpdate { order });
    }

    /// The orders followers were told of and that have not reached an end: after changes
    /// were missed, these are the ones to read again.
    pub(crate) fn unfinished(&self) -> Vec<OrderId> {
        self.lock()
            .iter()
            .filter(|(_, (_, done))| !done)
            .map(|(id, _)| *id)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, (usize, bool)>> {
        self.told.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
