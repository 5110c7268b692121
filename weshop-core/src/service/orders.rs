//! A customer's orders: listing them, one order with its history, and cancelling one.
//!
//! Someone else's order looks exactly like a missing one (`NotFound`), so order ids cannot be
//! probed. Cancelling goes through the fulfilment driver, the single writer for orders in
//! fulfilment, so it cannot interleave with another fulfilment step on the same order.

use crate::domain::{Order, OrderEvent, OrderId, UserId};
use crate::shop::ShopError;
use crate::store::Store;

use super::ShopService;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::orders`].
    pub(super) async fn orders_impl(&self, user: UserId) -> Result<Vec<Order>, ShopError> {
        Ok(self.store.orders_of(user).await?)
    }

    /// See [`crate::shop::Shop::order`].
    pub(super) async fn order_impl(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        self.own_order(user, id).await
    }

    /// See [`crate::shop::Shop::order_events`].
    pub(super) async fn order_events_impl(
        &self,
        user: UserId,
        id: OrderId,
    ) -> Result<Vec<OrderEvent>, ShopError> {
        Ok(self.own_order(user, id).await?.history().to_vec())
    }

    /// See [`crate::shop::Shop::cancel_order`]: the engine decides whether it is still
    /// cancellable; if not, the caller is told the status that stopped it.
    pub(super) async fn cancel_order_impl(
        &self,
        user: UserId,
        id: OrderId,
    ) -> Result<Order, ShopError> {
        let order = self.own_order(user, id).await?;
        match self.fulfilment.cancel(id).await? {
            Some(cancelled) => Ok(cancelled),
            None => Err(ShopError::Conflict(format!(
                "order {id} is {} and can no longer be cancelled",
                order.status()
            ))),
        }
    }

    /// The order, if `user` placed it; anyone else's looks missing.
    async fn own_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        match self.store.order(id).await? {
            Some(order) if order.customer() == user => Ok(order),
            _ => Err(ShopError::NotFound(format!("order {id}"))),
        }
    }
}
