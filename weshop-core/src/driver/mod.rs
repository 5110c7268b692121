//! The fulfilment driver: runs the [`Fulfilment`] engine against a [`Store`] and performs the
//! outbox through the ports.
//!
//! Steps are computed and committed one at a time (a single writer for orders in fulfilment),
//! each with the effects it causes and, for events from a link, the link's session state, so
//! "processed" and "answered" are one atomic fact. Effects are performed only after their step
//! is committed, in commit order, and removed from the outbox once a port has taken them; after
//! a crash [`FulfilmentDriver::resume`] and the outbox pick up exactly where things stopped.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tokio::sync::{Mutex, Notify, broadcast};

use crate::domain::{
    Order, OrderId, OrderStatus, ProductId, Quantity, Stock, StockDelta, WarehouseId,
};
use crate::fulfilment::{
    Effect, Fulfilment, FulfilmentEvent, Item, Refused, Step, WarehouseCommand, order_of,
};
use crate::notify::Notifier;
use crate::payments::{IdempotencyKey, Payments};
use crate::ports::{Clock, PortError, Shipping, Warehouse};
use crate::shop::OrderUpdate;
use crate::store::{OutboxEntry, StepCommit, Store, StoreError};

/// Where effects go.
#[derive(Clone)]
pub struct Ports {
    /// The world.
    pub warehouse: Arc<dyn Warehouse>,
    /// The UPS.
    pub shipping: Arc<dyn Shipping>,
    /// The payment gateway.
    pub payments: Arc<dyn Payments>,
    /// The notifier.
    pub notifier: Arc<dyn Notifier>,
}

/// Runs fulfilment for one shop.
pub struct FulfilmentDriver<S: ?Sized> {
    store: Arc<S>,
    engine: Fulfilment,
    clock: Arc<dyn Clock>,
    writer: Mutex<()>,
    outbox_ready: Notify,
    updates: broadcast::Sender<OrderUpdate>,
}

impl<S: Store + ?Sized> FulfilmentDriver<S> {
    /// A driver over `store` for the engine's warehouses.
    pub fn new(store: Arc<S>, engine: Fulfilment, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            engine,
            clock,
            writer: Mutex::new(()),
            outbox_ready: Notify::new(),
            updates: broadcast::channel(1024).0,
        }
    }

    /// The engine.
    pub fn engine(&self) -> &Fulfilment {
        &self.engine
    }

    /// Follows every order change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderUpdate> {
        self.updates.subscribe()
    }

    /// Tells followers about an order created outside the driver (checkout).
    pub fn announce(&self, order: &Order) {
        let _ = self.updates.send(OrderUpdate {
            order: order.clone(),
        });
    }

    async fn commit(
        &self,
        step: Step,
        done: Vec<u64>,
        links: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        for note in &step.ignored {
            tracing::debug!("fulfilment ignored {note}");
        }
        let orders: Vec<Order> = step.orders.iter().map(|(o, _)| o.clone()).collect();
        let has_effects = !step.effects.is_empty();
        let entries = self
            .store
            .commit_step(StepCommit {
                orders: step.orders,
                stock: step.stock,
                effects: step.effects,
                done,
                links,
            })
            .await?;
        for order in orders {
            tracing::info!(order = %order.id(), status = %order.status(), "order status");
            let _ = self.updates.send(OrderUpdate { order });
        }
        if has_effects {
            self.outbox_ready.notify_one();
        }
        Ok(entries)
    }

    /// One product's stock in one warehouse (empty if it has no record there).
    async fn stock_at(
        &self,
        warehouse: WarehouseId,
        product: ProductId,
    ) -> Result<Stock, StoreError> {
        Ok(self
            .store
            .stock(product)
            .await?
            .into_iter()
            .find(|(w, _)| *w == warehouse)
            .map(|(_, s)| s)
            .unwrap_or_default())
    }

    async fn queue_of(
        &self,
        warehouse: WarehouseId,
    ) -> Result<(Vec<Order>, BTreeMap<ProductId, Stock>), StoreError> {
        let queue: Vec<Order> = self
            .store
            .orders_in(&[OrderStatus::Placed, OrderStatus::WaitingForStock])
            .await?
            .into_iter()
            .filter(|o| o.warehouse() == Some(warehouse))
            .collect();
        let mut stock = BTreeMap::new();
        for order in &queue {
            for line in order.lines() {
                if stock.contains_key(&line.product) {
                    continue;
                }
                let at = self.stock_at(warehouse, line.product).await?;
                stock.insert(line.product, at);
            }
        }
        Ok((queue, stock))
    }

    /// Serves a warehouse's waiting orders (after a checkout there).
    pub async fn serve(&self, warehouse: WarehouseId) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let (queue, stock) = self.queue_of(warehouse).await?;
        let step = self
            .engine
            .serve(warehouse, queue, &stock, self.clock.now());
        if !step.is_empty() {
            self.commit(step, Vec::new(), Vec::new()).await?;
        }
        Ok(())
    }

    /// After a restart: serves every warehouse, so orders placed just before a crash move on.
    pub async fn resume(&self) -> Result<(), StoreError> {
        let warehouses: Vec<WarehouseId> = self.engine.warehouses().map(|w| w.id).collect();
        for warehouse in warehouses {
            self.serve(warehouse).await?;
        }
        self.outbox_ready.notify_one();
        Ok(())
    }

    /// Takes in one event from the world or the UPS, with the link's session state after it
    /// was received; both are committed together, so the event is acted on exactly once.
    pub async fn handle(
        &self,
        event: FulfilmentEvent,
        link: Option<(String, Vec<u8>)>,
    ) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let now = self.clock.now();
        let step = match &event {
            FulfilmentEvent::Arrived { warehouse, items } => {
                let (queue, mut stock) = self.queue_of(*warehouse).await?;
                for (product, _) in items {
                    if !stock.contains_key(product) {
                        let at = self.stock_at(*warehouse, *product).await?;
                        stock.insert(*product, at);
                    }
                }
                self.engine.arrived(*warehouse, items, queue, &stock, now)
            }
            FulfilmentEvent::Refused {
                command: Refused::Warehouse(WarehouseCommand::Purchase { warehouse, items }),
                reason,
            } => self.purchase_refused(*warehouse, items, reason).await?,
            other => {
                let ship_id = other.ship_id().expect("package events name a package");
                let order = self.store.order(order_of(ship_id)).await?;
                self.engine.package_event(other, order, now)
            }
        };
        let links: Vec<_> = link.into_iter().collect();
        if step.is_empty() && links.is_empty() {
            return Ok(());
        }
        self.commit(step, Vec::new(), links).await?;
        Ok(())
    }

    /// Bought units will not come: they leave `incoming`, and orders waiting for them fail
    /// (newest first) until what is reserved is covered again.
    async fn purchase_refused(
        &self,
        warehouse: WarehouseId,
        items: &[Item],
        reason: &str,
    ) -> Result<Step, StoreError> {
        let now = self.clock.now();
        let (mut queue, _) = self.queue_of(warehouse).await?;
        queue.sort_by_key(|o| std::cmp::Reverse(o.id()));
        let mut step = Step::default();
        for item in items {
            let stock = self.stock_at(warehouse, item.product).await?;
            let gone = u64::from(item.count.get()).min(stock.incoming());
            let mut reserved = stock.reserved();
            let covered = stock.on_hand() + stock.incoming() - gone;
            step.stock.push(StockDelta {
                warehouse,
                product: item.product,
                on_hand: 0,
                incoming: -(gone as i64),
                reserved: 0,
            });
            for order in &queue {
                if reserved <= covered {
                    break;
                }
                if step.orders.iter().any(|(o, _)| o.id() == order.id()) {
                    continue;
                }
                let Some(line) = order.lines().iter().find(|l| l.product == item.product) else {
                    continue;
                };
                reserved -= u64::from(line.quantity.get()).min(reserved);
                let failed = self.engine.fail(
                    order.clone(),
                    &format!("its stock could not be bought: {reason}"),
                    now,
                    false,
                );
                merge(&mut step, failed);
            }
        }
        // Releases must come before the smaller `incoming`, or the check would refuse it.
        step.stock.sort_by_key(|d| d.incoming);
        step.stock.reverse();
        Ok(step)
    }

    /// Cancels an order that has not started packing.
    pub async fn cancel(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let _writer = self.writer.lock().await;
        let Some(order) = self.store.order(id).await? else {
            return Ok(None);
        };
        let Some(step) = self.engine.cancel(order, self.clock.now()) else {
            return Ok(None);
        };
        let cancelled = step.orders.first().map(|(o, _)| o.clone());
        self.commit(step, Vec::new(), Vec::new()).await?;
        Ok(cancelled)
    }

    /// Buys units from the world into a warehouse: they count as incoming at once (so they can
    /// be sold), and the purchase is in the outbox in the same commit.
    pub async fn purchase(&self, warehouse: WarehouseId, item: Item) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let step = Step {
            stock: vec![StockDelta {
                warehouse,
                product: item.product,
                on_hand: 0,
                incoming: i64::from(item.count.get()),
                reserved: 0,
            }],
            effects: vec![Effect::Warehouse(WarehouseCommand::Purchase {
                warehouse,
                items: vec![item],
            })],
            ..Step::default()
        };
        self.commit(step, Vec::new(), Vec::new()).await?;
        Ok(())
    }

    /// Performs the outbox, oldest first, until it is empty or a port refuses (then the rest
    /// waits: later effects may depend on earlier ones). Returns how many were performed.
    pub async fn perform_outbox(&self, ports: &Ports) -> Result<usize, OutboxError> {
        let entries = self.store.outbox().await?;
        let mut performed = 0;
        for entry in entries {
            perform(ports, &entry).await?;
            self.store
                .commit_step(StepCommit {
                    done: vec![entry.id],
                    ..StepCommit::default()
                })
                .await?;
            performed += 1;
        }
        Ok(performed)
    }

    /// Performs the outbox whenever a step adds to it (and every `retry` after a refusal),
    /// until `shutdown` completes.
    pub async fn run_outbox(
        &self,
        ports: Ports,
        retry: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let wait = match self.perform_outbox(&ports).await {
                Ok(_) => Duration::from_secs(5),
                Err(error) => {
                    tracing::warn!("outbox: {error}; retrying in {retry:?}");
                    retry
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.outbox_ready.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Why the outbox stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// A port did not take an effect.
    #[error("port: {0}")]
    Port(#[from] PortError),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

fn merge(into: &mut Step, from: Step) {
    into.orders.extend(from.orders);
    into.stock.extend(from.stock);
    into.effects.extend(from.effects);
    into.ignored.extend(from.ignored);
}

fn key(text: String) -> IdempotencyKey {
    IdempotencyKey::parse(&text).expect("generated keys are valid")
}

async fn perform(ports: &Ports, entry: &OutboxEntry) -> Result<(), PortError> {
    match &entry.effect {
        Effect::Warehouse(command) => ports.warehouse.submit(entry.id, command.clone()).await,
        Effect::Shipping(command) => ports.shipping.submit(entry.id, command.clone()).await,
        Effect::Capture {
            order,
            authorization,
            amount,
        } => {
            match ports
                .payments
                .capture(authorization, *amount, &key(format!("capture-{order}")))
                .await
            {
                Ok(()) => Ok(()),
                // A refusal is final (a retry gets the same answer): record it, move on.
                Err(error) => {
                    tracing::error!(%order, "capture refused: {error}");
                    Ok(())
                }
            }
        }
        Effect::Void {
            order,
            authorization,
        } => {
            if let Err(error) = ports
                .payments
                .void(authorization, &key(format!("void-{order}")))
                .await
            {
                tracing::error!(%order, "void refused: {error}");
            }
            Ok(())
        }
        Effect::Notify { user, notification } => {
            if let Err(error) = ports.notifier.notify(*user, notification.clone()).await {
                tracing::warn!(%user, "notification lost: {error}");
            }
            Ok(())
        }
    }
}

/// Units of `quantity` as an item of `product` named `description`.
pub fn item(product: ProductId, description: &str, quantity: Quantity) -> Item {
    Item {
        product,
        description: description.to_string(),
        count: quantity,
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::domain::{Currency, Location, Money, ShipId, TruckId, UserId, WarehouseSite};
    use crate::fulfilment::ShippingCommand;
    use crate::notify::{MockNotifier, Notification, NotifyError};
    use crate::payments::{MockPayments, PaymentError};
    use crate::ports::{MockShipping, MockWarehouse};

    /// One mock per port; a port given no expectation panics if it is called at all.
    #[derive(Default)]
    struct Mocks {
        warehouse: MockWarehouse,
        shipping: MockShipping,
        payments: MockPayments,
        notifier: MockNotifier,
    }

    impl Mocks {
        async fn perform(self, id: u64, effect: Effect) -> Result<(), PortError> {
            let ports = Ports {
                warehouse: Arc::new(self.warehouse),
                shipping: Arc::new(self.shipping),
                payments: Arc::new(self.payments),
                notifier: Arc::new(self.notifier),
            };
            perform(&ports, &OutboxEntry { id, effect }).await
        }
    }

    fn ship_id() -> ShipId {
        ShipId::new(9).unwrap()
    }

    fn order_id() -> OrderId {
        OrderId::new(9).unwrap()
    }

    fn usd(minor: i64) -> Money {
        Money::from_minor(minor, Currency::USD).unwrap()
    }

    fn warehouse_id() -> WarehouseId {
        WarehouseId::new(2).unwrap()
    }

    fn items() -> Vec<Item> {
        vec![item(
            ProductId::new(3).unwrap(),
            "Mug",
            Quantity::new(2).unwrap(),
        )]
    }

    fn warehouse_commands() -> Vec<WarehouseCommand> {
        vec![
            WarehouseCommand::Purchase {
                warehouse: warehouse_id(),
                items: items(),
            },
            WarehouseCommand::Pack {
                warehouse: warehouse_id(),
                ship_id: ship_id(),
                items: items(),
            },
            WarehouseCommand::Load {
                warehouse: warehouse_id(),
                truck: TruckId::new(4).unwrap(),
                ship_id: ship_id(),
            },
        ]
    }

    fn shipping_commands() -> Vec<ShippingCommand> {
        vec![
            ShippingCommand::RequestTruck {
                warehouse: WarehouseSite {
                    id: warehouse_id(),
                    location: Location::new(1, 2),
                },
                destination: Location::new(5, 6),
                ship_id: ship_id(),
                ups_account: None,
                items: items(),
            },
            ShippingCommand::Deliver { ship_id: ship_id() },
        ]
    }

    #[tokio::test]
    async fn warehouse_commands_go_to_the_warehouse_with_their_outbox_id() {
        for command in warehouse_commands() {
            let mut mocks = Mocks::default();
            mocks
                .warehouse
                .expect_submit()
                .with(eq(17), eq(command.clone()))
                .times(1)
                .returning(|_, _| Ok(()));
            let done = mocks.perform(17, Effect::Warehouse(command)).await;
            assert_eq!(done, Ok(()));
        }
    }

    #[tokio::test]
    async fn shipping_commands_go_to_the_ups_with_their_outbox_id() {
        for command in shipping_commands() {
            let mut mocks = Mocks::default();
            mocks
                .shipping
                .expect_submit()
                .with(eq(18), eq(command.clone()))
                .times(1)
                .returning(|_, _| Ok(()));
            let done = mocks.perform(18, Effect::Shipping(command)).await;
            assert_eq!(done, Ok(()));
        }
    }

    #[tokio::test]
    async fn a_port_that_does_not_take_a_command_stops_the_outbox() {
        for command in warehouse_commands() {
            let mut mocks = Mocks::default();
            mocks
                .warehouse
                .expect_submit()
                .times(1)
                .returning(|_, _| Err(PortError("world link down".into())));
            let done = mocks.perform(3, Effect::Warehouse(command)).await;
            assert_eq!(done, Err(PortError("world link down".into())));
        }
        for command in shipping_commands() {
            let mut mocks = Mocks::default();
            mocks
                .shipping
                .expect_submit()
                .times(1)
                .returning(|_, _| Err(PortError("ups link down".into())));
            let done = mocks.perform(4, Effect::Shipping(command)).await;
            assert_eq!(done, Err(PortError("ups link down".into())));
        }
    }

    fn capture() -> Effect {
        Effect::Capture {
            order: order_id(),
            authorization: "auth_9".into(),
            amount: usd(1_250),
        }
    }

    fn void() -> Effect {
        Effect::Void {
            order: order_id(),
            authorization: "auth_9".into(),
        }
    }

    fn expect_capture(mocks: &mut Mocks, outcome: Result<(), PaymentError>) {
        mocks
            .payments
            .expect_capture()
            .withf(|authorization, amount, key| {
                authorization == "auth_9" && *amount == usd(1_250) && key.as_str() == "capture-9"
            })
            .times(1)
            .return_once(move |_, _, _| outcome);
    }

    fn expect_void(mocks: &mut Mocks, outcome: Result<(), PaymentError>) {
        mocks
            .payments
            .expect_void()
            .withf(|authorization, key| authorization == "auth_9" && key.as_str() == "void-9")
            .times(1)
            .return_once(move |_, _| outcome);
    }

    #[tokio::test]
    async fn capture_and_void_go_to_the_gateway_with_their_order_keys() {
        let mut mocks = Mocks::default();
        expect_capture(&mut mocks, Ok(()));
        assert_eq!(mocks.perform(5, capture()).await, Ok(()));

        let mut mocks = Mocks::default();
        expect_void(&mut mocks, Ok(()));
        assert_eq!(mocks.perform(6, void()).await, Ok(()));
    }

    #[tokio::test]
    async fn a_gateway_refusal_is_logged_and_the_outbox_moves_on() {
        let mut mocks = Mocks::default();
        expect_capture(&mut mocks, Err(PaymentError::Declined));
        assert_eq!(mocks.perform(5, capture()).await, Ok(()));

        let mut mocks = Mocks::default();
        expect_void(
            &mut mocks,
            Err(PaymentError::UnknownAuthorization("auth_9".into())),
        );
        assert_eq!(mocks.perform(6, void()).await, Ok(()));
    }

    fn notify() -> (UserId, Notification, Effect) {
        let user = UserId::new(42).unwrap();
        let notification = Notification::OrderStatus {
            order: order_id(),
            status: OrderStatus::Delivering,
        };
        let effect = Effect::Notify {
            user,
            notification: notification.clone(),
        };
        (user, notification, effect)
    }

    #[tokio::test]
    async fn notifications_go_to_the_notifier_and_a_lost_one_is_not_retried() {
        for outcome in [Ok(()), Err(NotifyError("mail server down".into()))] {
            let (user, notification, effect) = notify();
            let mut mocks = Mocks::default();
            mocks
                .notifier
                .expect_notify()
                .with(eq(user), eq(notification))
                .times(1)
                .return_once(move |_, _| outcome);
            assert_eq!(mocks.perform(7, effect).await, Ok(()));
        }
    }
}
