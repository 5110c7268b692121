//! A customer's orders: listing them, one order with its history, cancelling one, and its
//! package's shipping label (which the sellers of its products may read too).
//!
//! Someone else's order looks exactly like a missing one (`NotFound`), so order ids cannot be
//! probed. Cancelling goes through the fulfilment driver, the single writer for orders in
//! fulfilment, so it cannot interleave with another fulfilment step on the same order.

use crate::domain::{Order, OrderEvent, OrderId, OrderStatus, UserId};
use crate::shop::{ShippingLabel, ShopError, label_ship_id};
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

    /// See [`crate::shop::Shop::shipping_label`]. The products are read once, for both the
    /// seller check and the weight; a seller whose product was withdrawn since no longer sees
    /// the order, as on their dashboard.
    pub(super) async fn shipping_label_impl(
        &self,
        user: UserId,
        id: OrderId,
    ) -> Result<ShippingLabel, ShopError> {
        let missing = || ShopError::NotFound(format!("order {id}"));
        let order = self.store.order(id).await?.ok_or_else(missing)?;
        let mut products = Vec::with_capacity(order.lines().len());
        for line in order.lines() {
            products.push(self.store.product(line.product).await?);
        }
        let sells_in_it = || products.iter().flatten().any(|p| p.seller == user);
        if order.customer() != user && !(self.user(user).await?.roles.seller && sells_in_it()) {
            return Err(missing());
        }
        let (Some(ship_id), Some(warehouse)) = (label_ship_id(&order), order.warehouse()) else {
            return Err(ShopError::Conflict(match order.status() {
                OrderStatus::Cancelled => {
                    format!("order {id} was cancelled: nothing ships, so it has no label")
                }
                _ => format!("order {id} has no package yet: no label until a warehouse takes it"),
            }));
        };
        let warehouse = self
            .store
            .warehouses()
            .await?
            .into_iter()
            .find(|site| site.id == warehouse)
            .ok_or_else(|| ShopError::Unavailable(format!("warehouse {warehouse} is unknown")))?;
        let weight_grams = order
            .lines()
            .iter()
            .zip(&products)
            .map(|(line, product)| {
                product
                    .as_ref()
                    .map(|p| u64::from(p.weight.get()) * u64::from(line.quantity.get()))
            })
            .sum();
        Ok(ShippingLabel {
            order,
            ship_id,
            warehouse,
            weight_grams,
        })
    }

    /// The order, if `user` placed it; anyone else's looks missing.
    async fn own_order(&self, user: UserId, id: OrderId) -> Result<Order, ShopError> {
        match self.store.order(id).await? {
            Some(order) if order.customer() == user => Ok(order),
            _ => Err(ShopError::NotFound(format!("order {id}"))),
        }
    }
}
