//! Checkout: turning a customer's cart into a placed, paid-for order.
//!
//! The order is priced first and the payment authorized for that total; only then is it placed,
//! in one atomic store call that checks and applies the stock reservations, creates the order,
//! empties the cart and remembers the idempotency key. A checkout repeated with the same key
//! gets the first one's order, and an attempt that loses that race or finds the stock gone
//! voids its own authorization rather than leave a hold on the card. Once placed, the order is
//! handed to the fulfilment driver; a failure there only defers it.

use std::collections::BTreeMap;

use crate::domain::{
    Money, NewOrder, Order, OrderId, OrderLine, ProductId, StockDelta, UserId, sellable,
};
use crate::fulfilment::ship_id_of;
use crate::notify::Notification;
use crate::payments::IdempotencyKey;
use crate::shop::{Checkout, ShopError};
use crate::stage_times::Stage;
use crate::store::{PlaceOrder, Placed, Store};

use super::{ShopService, quote::Priced};

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::checkout`].
    pub(super) async fn checkout_impl(
        &self,
        user: UserId,
        checkout: Checkout,
    ) -> Result<Order, ShopError> {
        let started = std::time::Instant::now();
        let key = checkout.idempotency_key.as_str().to_string();
        let fingerprint = checkout.fingerprint();
        let placed = self.place(user, checkout).await;
        self.fulfilment
            .stage_times()
            .since(Stage::Checkout, started);
        match placed {
            Ok(order) => Ok(order),
            // A retry racing the request it repeats may find the cart already emptied or the
            // stock already taken by it: if its twin placed the order, that is the answer.
            Err(error @ ShopError::KeyReused(_)) => Err(error),
            Err(error) => match self.store.order_for_key(user, &key).await {
                Ok(Some(order)) => {
                    self.same_request(user, &key, &fingerprint).await?;
                    Ok(order)
                }
                Ok(None) => Err(error),
                // Not knowing whether the key placed an order, the answer is "try again" (the
                // store's failure), not the first error: a retry that found the cart emptied
                // by its own first attempt must not be told its cart is empty.
                Err(lookup) => Err(lookup.into()),
            },
        }
    }

    /// Refuses a key placed by a request with another fingerprint (keys kept before
    /// fingerprints were are not checked).
    async fn same_request(
        &self,
        user: UserId,
        key: &str,
        fingerprint: &str,
    ) -> Result<(), ShopError> {
        match self.store.key_fingerprint(user, key).await? {
            Some(kept) if kept != fingerprint => Err(ShopError::KeyReused(
                "this Idempotency-Key was used for a different request; use a new key for a new \
                 request"
                    .into(),
            )),
            _ => Ok(()),
        }
    }

    /// Checkout proper (see [`crate::shop::Shop::checkout`]).
    async fn place(&self, user: UserId, checkout: Checkout) -> Result<Order, ShopError> {
        // A key used before is not looked up first: its order emptied the cart, so a retry
        // ends at the empty cart and `checkout_impl` answers with the order (a retry after
        // the cart was filled again authorizes, finds the key taken inside `place_order`'s
        // transaction and voids its hold). One read fewer on every first attempt.
        let key = checkout.idempotency_key.as_str().to_string();
        let fingerprint = checkout.fingerprint();
        let customer = self.user(user).await?;
        if !customer.roles.customer {
            return Err(ShopError::Forbidden("only customers may order".into()));
        }
        if !customer
            .payment_methods
            .iter()
            .any(|m| m.token == checkout.payment_method)
        {
            return Err(ShopError::NotFound(format!(
                "payment method {:?}",
                checkout.payment_method
            )));
        }
        self.check_on_grid(checkout.destination)?;
        let cart = self.store.cart(user).await?;
        if cart.is_empty() {
            return Err(ShopError::Conflict("the cart is empty".into()));
        }
        let items: Vec<_> = cart.lines().collect();
        let Priced {
            lines,
            sellers,
            weight,
            warehouse,
            ..
        } = self.price_items(&items, checkout.destination).await?;
        let shipping = self.config.rates.quote(
            warehouse.location,
            checkout.destination,
            weight,
            checkout.delivery,
        )?;
        // Price the order before the hold: the total is what is authorized.
        let id = self.store.allocate_order_id().await?;
        let now = self.clock.now();
        let mut order = Order::place(
            NewOrder {
                id,
                customer: user,
                lines,
                delivery: checkout.delivery,
                destination: checkout.destination,
                ups_account: checkout.ups_account,
                payment: String::new(),
                shipping,
            },
            now,
        )?;
        if let Some(expected) = checkout.expected_total
            && expected != order.total()
        {
            return Err(ShopError::Conflict(format!(
                "the order now costs {}, not {expected}: prices changed since you saw them",
                order.total()
            )));
        }
        if order.total().minor() > self.config.max_order_total_minor {
            return Err(ShopError::BadRequest(format!(
                "an order may cost at most {}; this one costs {}",
                Money::from_minor(self.config.max_order_total_minor, self.config.currency)?,
                order.total()
            )));
        }
        // One gateway key per attempt: an attempt that loses a race or finds no stock voids
        // its own hold, and a retry after that starts clean.
        let attempt_key = IdempotencyKey::parse(&format!("checkout-{id}")).expect("valid key");
        let authorizing = std::time::Instant::now();
        let authorization = self
            .payments
            .authorize(&checkout.payment_method, order.total(), &attempt_key)
            .await;
        self.fulfilment
            .stage_times()
            .since(Stage::CheckoutPayment, authorizing);
        let authorization = authorization?;
        let mut parts = order.to_parts();
        parts.payment = authorization.id.clone();
        order = Order::from_parts(parts)?;
        order.assign(warehouse.id, ship_id_of(id), now);
        let reservations: Vec<StockDelta> = order
            .lines()
            .iter()
            .map(|line| StockDelta {
                warehouse: warehouse.id,
                product: line.product,
                on_hand: 0,
                incoming: 0,
                reserved: i64::from(line.quantity.get()),
            })
            .collect();
        let committing = std::time::Instant::now();
        let placed = self
            .store
            .place_order(
                user,
                PlaceOrder {
                    order,
                    cart,
                    reservations: reservations.clone(),
                    idempotency_key: key.clone(),
                    fingerprint: fingerprint.clone(),
                },
            )
            .await;
        self.fulfilment
            .stage_times()
            .since(Stage::CheckoutCommit, committing);
        match placed {
            Ok(Placed::Created { order, stock }) => {
                tracing::info!(order = %order.id(), warehouse = %warehouse.id, total = %order.total(), "order placed");
                self.fulfilment.announce(&order);
                // Each line's sellable units as the order left them, for both their readers:
                // reservations may take a product's last units (the in-stock filter must know)
                // or take it below the low-stock threshold (its seller must).
                let after: BTreeMap<ProductId, u64> = stock
                    .iter()
                    .map(|(product, stock)| (*product, sellable(stock)))
                    .collect();
                if let Some(index) = &self.index {
                    index
                        .stock_changed_to(&*self.store, &reservations, &after)
                        .await;
                }
                self.tell_low_stock(order.lines(), &sellers, &after).await;
                if let Err(error) = self.fulfilment.order_placed(warehouse.id).await {
                    // The order is safe; fulfilment picks it up on its next pass or restart.
                    tracing::warn!(order = %order.id(), "fulfilment deferred: {error}");
                }
                Ok(order)
            }
            Ok(Placed::Existing(order)) => {
                self.void(&authorization.id, id).await;
                self.same_request(user, &key, &fingerprint).await?;
                Ok(order)
            }
            Err(error) => {
                self.void(&authorization.id, id).await;
                Err(error.into())
            }
        }
    }

    /// Voids the holds no order stands behind: a checkout killed between its authorization
    /// and placing its order leaves one, and the customer's retry authorizes afresh. Run at
    /// start, before any checkout of this process (a checkout in flight has such a hold for a
    /// moment). Returns how many were released.
    pub async fn release_stray_holds(&self) -> Result<usize, ShopError> {
        let stray = self.stray_holds().await?;
        self.release_holds(&stray).await
    }

    /// [`Self::release_stray_holds`] for the leader of several nodes sharing the store, where
    /// a hold without its order may be another node's checkout in flight: every
    /// `ShopConfig::stray_hold_grace`, the holds found stray at the last look and still stray
    /// are released (a checkout places its order, or voids its hold, within seconds). Runs
    /// until `stop` completes; a node killed mid-checkout while this one leads is covered too.
    pub async fn release_stray_holds_while_leading(
        &self,
        stop: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(stop);
        let mut suspects = std::collections::BTreeSet::new();
        loop {
            match self.stray_holds().await {
                Ok(stray) => {
                    let (still, new): (Vec<String>, Vec<String>) =
                        stray.into_iter().partition(|a| suspects.contains(a));
                    if let Err(error) = self.release_holds(&still).await {
                        tracing::warn!("stray holds not released (tried again later): {error}");
                    }
                    suspects = new.into_iter().collect();
                }
                Err(error) => tracing::warn!("stray holds not looked for: {error}"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.config.stray_hold_grace) => {}
            }
        }
    }

    /// The open authorizations no order stands behind.
    async fn stray_holds(&self) -> Result<Vec<String>, ShopError> {
        let open = self.payments.open_authorizations().await?;
        if open.is_empty() {
            return Ok(Vec::new());
        }
        let held: std::collections::BTreeSet<String> = self
            .store
            .orders_in(&crate::domain::OrderStatus::ALL)
            .await?
            .iter()
            .map(|o| o.payment().to_string())
            .collect();
        Ok(open.into_iter().filter(|a| !held.contains(a)).collect())
    }

    /// Voids these holds; returns how many.
    async fn release_holds(&self, stray: &[String]) -> Result<usize, ShopError> {
        let mut released = 0;
        for authorization in stray {
            let key = IdempotencyKey::parse(&format!("void-stray-{authorization}"))
                .map_err(ShopError::Payment)?;
            self.payments.void(authorization, &key).await?;
            tracing::warn!(%authorization, "released a hold no order stands behind");
            released += 1;
        }
        Ok(released)
    }

    /// Tells each line's seller (`sellers`, by line) when this order took their product below
    /// the low-stock threshold (only on the crossing, not on every order after it), from the
    /// units sellable after it (`after`). Best effort: the order is placed whatever happens here.
    async fn tell_low_stock(
        &self,
        lines: &[OrderLine],
        sellers: &[UserId],
        after: &BTreeMap<ProductId, u64>,
    ) {
        for (line, seller) in lines.iter().zip(sellers) {
            let Some(&available) = after.get(&line.product) else {
                continue;
            };
            let before = available + u64::from(line.quantity.get());
            let threshold = self.config.low_stock_threshold;
            if available < threshold && before >= threshold {
                let _ = self
                    .notifier
                    .notify(
                        &format!("low-stock-{}-{}", line.product, self.clock.now().millis()),
                        *seller,
                        Notification::LowStock {
                            product: line.product,
                            available,
                        },
                    )
                    .await;
            }
        }
    }

    /// Voids the authorization of an attempt that did not place an order. Logged, not
    /// returned: the caller already has the answer to give (the existing order or the error).
    async fn void(&self, authorization: &str, attempt: OrderId) {
        let key = IdempotencyKey::parse(&format!("void-{attempt}")).expect("valid key");
        if let Err(error) = self.payments.void(authorization, &key).await {
            tracing::error!(%attempt, "could not void authorization {authorization}: {error}");
        }
    }
}
