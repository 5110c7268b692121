//! The orders in fulfilment as this driver last committed them, so that an event about one
//! is decided without reading it back from the store.
//!
//! Copies must never be stale: a change decided on one is refused by the store's version
//! check, but an event the engine ignores for the status it sees commits nothing to check
//! (and the link marks it seen). They are kept only for orders past waiting for stock, which
//! change only through package events, and those reach only the leading node's driver, one
//! commit at a time under its writer. So a copy goes stale only through another node's
//! commits under another lease term, or a commit whose outcome is unknown: a new term
//! ([`super::FulfilmentDriver::fence_with`]) and a failed commit drop every copy. (A
//! customer's cancel may go through any node, but only before packing: no copy is kept
//! until then.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use crate::domain::{Order, OrderId, OrderStatus};

/// Copies kept at most; past it they are all dropped (the cost: one read per order after).
const KEPT: usize = 100_000;

/// The driver's copies of the orders it committed that have not ended.
#[derive(Default)]
pub(crate) struct KnownOrders(Mutex<HashMap<OrderId, Order>>);

impl KnownOrders {
    /// The order as last committed by this driver, if it is known and has not ended.
    pub(crate) fn get(&self, id: OrderId) -> Option<Order> {
        self.lock().get(&id).cloned()
    }

    /// Records orders just committed: only those packing or further on, until they end.
    pub(crate) fn committed<'a>(&self, orders: impl IntoIterator<Item = &'a Order>) {
        let mut known = self.lock();
        for order in orders {
            let status = order.status();
            if status.is_terminal()
                || matches!(status, OrderStatus::Placed | OrderStatus::WaitingForStock)
            {
                known.remove(&order.id());
                continue;
            }
            if known.len() >= KEPT && !known.contains_key(&order.id()) {
                known.clear();
            }
            known.insert(order.id(), order.clone());
        }
    }

    /// Forgets every copy: after a commit that failed, or a change of lease term.
    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrderId, Order>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
