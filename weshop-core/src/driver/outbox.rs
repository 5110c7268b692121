//! Performing the outbox through the ports.
//!
//! The driver commits effects to the store's outbox with the step that caused them; this is
//! the other half: taking them out again, oldest first, and handing each to its port. An entry
//! is removed only once its port has taken it, so after a crash nothing is lost, and a port
//! that refuses stops the run (later effects may depend on earlier ones) until the next retry.
//! Kept apart from the committing side because it is the only part that talks to the outside
//! world, and because its rules (what counts as taken, what is retried) are its own.

use std::{sync::Arc, time::Duration};

use super::FulfilmentDriver;
use crate::domain::UserId;
use crate::fulfilment::{Effect, ShippingCommand, WarehouseCommand};
use crate::notify::Notification;
use crate::notify::{Notifier, NotifyError};
use crate::payments::{IdempotencyKey, PaymentError, Payments};
use crate::ports::{PartlyTaken, PortError, Shipping, Warehouse};
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

impl<S: Store + ?Sized> FulfilmentDriver<S> {
    /// Performs the outbox, each port's entries oldest first ([`runs`]), the ports at once,
    /// until it is empty or a port refuses (then the rest of that port's run waits). Returns
    /// how many were performed.
    ///
    /// The entries a pass performed leave the outbox together, in one commit at its end (also
    /// when a port refuses midway), with any performed by earlier passes and not marked yet:
    /// one disk sync per pass instead of one per entry. A crash before that commit offers them
    /// again, which is safe, as [`perform`] is idempotent.
    pub async fn perform_outbox(&self, ports: &Ports) -> Result<usize, OutboxError> {
        let performed = self.pass(ports).await;
        self.mark_performed().await?;
        performed
    }

    /// One pass: performs the entries not performed yet and leaves their marks to ride in
    /// the next commit (see `marks.rs`).
    async fn pass(&self, ports: &Ports) -> Result<usize, OutboxError> {
        let started = std::time::Instant::now();
        let entries: Vec<OutboxEntry> = self
            .store
            .outbox()
            .await?
            .into_iter()
            .filter(|entry| !self.marks.unmarked(entry.id))
            .collect();
        if entries.is_empty() {
            return Ok(0);
        }
        let read = started.elapsed();
        let total = entries.len();
        let (done, refused) = perform_runs(runs(entries), ports).await;
        let performed = done.len();
        self.marks.performed(done);
        tracing::debug!(total, performed, ?read, took = ?started.elapsed(), "outbox pass");
        self.stage_times()
            .since(crate::stage_times::Stage::OutboxPass, started);
        match refused {
            Some(error) => Err(error.into()),
            None => Ok(performed),
        }
    }

    /// How long [`Self::run_outbox`] leaves the marks of what it performed for the driver's
    /// next commit to carry before committing them itself ([`super::MARK_WITHIN`] unless
    /// set).
    pub fn mark_within(&self, within: Duration) {
        self.marks.wait_within(within);
    }

    /// Commits the marks no driver commit has carried yet.
    async fn mark_performed(&self) -> Result<(), StoreError> {
        let done = self.marks.take();
        if done.is_empty() {
            return Ok(());
        }
        self.commit_marking(StepCommit::default(), done)
            .await
            .map(drop)
    }

    /// Performs the outbox whenever a step adds to it (and every `retry` after a refusal),
    /// until `shutdown` completes. Marks left waiting by a pass are committed here when no
    /// driver commit carried them in time ([`Self::mark_within`]), and at shutdown.
    pub async fn run_outbox(
        &self,
        ports: Ports,
        retry: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            let mut wait = match self.pass(&ports).await {
                Ok(_) => Duration::from_secs(5),
                Err(error) => {
                    tracing::warn!("outbox: {error}; retrying in {retry:?}");
                    retry
                }
            };
            if let Some(within) = self.marks.deadline() {
                wait = wait.min(within);
            }
            tokio::select! {
                _ = &mut shutdown => {
                    if let Err(error) = self.mark_performed().await {
                        tracing::warn!("outbox: marking what was performed at shutdown: {error}");
                    }
                    return;
                }
                _ = self.outbox_ready.notified() => {}
                _ = tokio::time::sleep(wait) => {
                    if let Err(error) = self.mark_performed().await {
                        tracing::warn!("outbox: marking what was performed: {error}");
                    }
                }
            }
        }
    }
}

/// Performs a pass's runs together: each is one port's and none waits on another's (see
/// [`runs`]). One after another, each hop of an order (its packing, its truck, its load)
/// waited for the pass's notifications to be filed first, a store write that took ~100 ms
/// under load in the orders bench. Returns the ids taken, in run order, and the first
/// refusal.
async fn perform_runs(runs: Vec<Run>, ports: &Ports) -> (Vec<u64>, Option<PortError>) {
    let outcomes = futures::future::join_all(runs.into_iter().map(|run| async move {
        let ids = run.ids();
        let started = std::time::Instant::now();
        let kind = run.kind();
        let outcome = run.perform(ports).await;
        tracing::debug!(kind, entries = ids.len(), took = ?started.elapsed(), "outbox run");
        (ids, outcome)
    }))
    .await;
    let mut done = Vec::new();
    let mut refused = None;
    for (ids, outcome) in outcomes {
        match outcome {
            Ok(()) => done.extend(ids),
            Err(PartlyTaken { taken, error }) => {
                done.extend(&ids[..taken]);
                refused.get_or_insert(error);
            }
        }
    }
    (done, refused)
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

/// A pass's outbox entries for one port, handed over together: a port's commands go in one
/// call (so a link saves its state once for all of them), the payments at once.
enum Run {
    Warehouse(Vec<(u64, WarehouseCommand)>),
    Shipping(Vec<(u64, ShippingCommand)>),
    /// Captures and voids, made at once: the gateway may journal them together (the durable
    /// one does, with one disk sync for all), where one at a time each waited for its own.
    /// Each is keyed by its order, so one made again after a crash or a refusal is made once.
    Payments(Vec<OutboxEntry>),
    /// Every notification of the pass, in one call: nothing waits on them, and a notifier
    /// that keeps them (the inbox) files them in one write.
    Notify(Vec<(u64, UserId, Notification)>),
}

impl Run {
    fn kind(&self) -> &'static str {
        match self {
            Run::Warehouse(_) => "warehouse",
            Run::Shipping(_) => "shipping",
            Run::Payments(_) => "payments",
            Run::Notify(_) => "notify",
        }
    }

    fn ids(&self) -> Vec<u64> {
        match self {
            Run::Warehouse(commands) => commands.iter().map(|(id, _)| *id).collect(),
            Run::Shipping(commands) => commands.iter().map(|(id, _)| *id).collect(),
            Run::Payments(entries) => entries.iter().map(|e| e.id).collect(),
            Run::Notify(batch) => batch.iter().map(|(id, ..)| *id).collect(),
        }
    }

    async fn perform(self, ports: &Ports) -> Result<(), PartlyTaken> {
        match self {
            Run::Warehouse(commands) => ports.warehouse.submit_all(commands).await,
            Run::Shipping(commands) => ports.shipping.submit_all(commands).await,
            // Taken up to the first one not made (those after it that were made are offered
            // again next time, and answered from their keys).
            Run::Payments(entries) => {
                let outcomes =
                    futures::future::join_all(entries.iter().map(|e| perform(ports, e))).await;
                match outcomes
                    .into_iter()
                    .enumerate()
                    .find_map(|(i, o)| o.err().map(|e| (i, e)))
                {
                    Some((taken, error)) => Err(PartlyTaken { taken, error }),
                    None => Ok(()),
                }
            }
            // Keyed by their entries, so notifications performed again after a crash are
            // filed once.
            Run::Notify(batch) => {
                let batch = batch
                    .into_iter()
                    .map(|(id, user, n)| (format!("outbox-{id}"), user, n))
                    .collect();
                match ports.notifier.notify_all(batch).await {
                    Err(NotifyError::Unavailable(why)) => Err(PartlyTaken {
                        taken: 0,
                        error: PortError(format!("notifications not filed: {why}")),
                    }),
                    Err(error) => {
                        tracing::warn!("notifications dropped: {error}");
                        Ok(())
                    }
                    Ok(()) => Ok(()),
                }
            }
        }
    }
}

/// Splits entries into runs, one per port, each in outbox order: the notifications, the
/// world's commands, the UPS's, and the payments. A pass performs them at once, so a port
/// that refuses (or is slow) holds up only its own run.
///
/// A run per port, not per stretch of one port: a pass's entries alternate between the world
/// and the UPS (an order's pack, its truck, its load, its delivery), and each stretch cost
/// the link a save of its state, a commit with a disk sync. Order across ports was never
/// promised to a peer (the two links are separate sockets, each with its own resends), and an
/// effect that needs another's outcome is only made when that outcome's event comes back, so
/// within a pass no entry waits on another port's.
fn runs(entries: Vec<OutboxEntry>) -> Vec<Run> {
    let mut notifications = Vec::new();
    let mut warehouse = Vec::new();
    let mut shipping = Vec::new();
    let mut payments = Vec::new();
    for entry in entries {
        match entry.effect {
            Effect::Notify { user, notification } => {
                notifications.push((entry.id, user, notification))
            }
            Effect::Warehouse(command) => warehouse.push((entry.id, command)),
            Effect::Shipping(command) => shipping.push((entry.id, command)),
            // What is left: captures and voids.
            effect => payments.push(OutboxEntry {
                id: entry.id,
                effect,
            }),
        }
    }
    [
        (!notifications.is_empty()).then_some(Run::Notify(notifications)),
        (!warehouse.is_empty()).then_some(Run::Warehouse(warehouse)),
        (!shipping.is_empty()).then_some(Run::Shipping(shipping)),
        (!payments.is_empty()).then_some(Run::Payments(payments)),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A gateway key made here from an order id, so it is always valid.
fn key(text: String) -> IdempotencyKey {
    IdempotencyKey::parse(&text).expect("generated keys are valid")
}

/// Hands one entry to its port. `Ok` means the entry may leave the outbox: either a port took
/// it, or it failed in a way a retry cannot fix. Commands keep their outbox id and payments are
/// keyed by order, so an entry performed again after a crash is still done only once.
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
                // The gateway did nothing: the entry stays, and the capture is retried.
                Err(PaymentError::Unavailable(why)) => Err(PortError(format!(
                    "capture of order {order} not made: {why}"
                ))),
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
            match ports
                .payments
                .void(authorization, &key(format!("void-{order}")))
                .await
            {
                Err(PaymentError::Unavailable(why)) => {
                    return Err(PortError(format!("void of order {order} not made: {why}")));
                }
                Err(error) => tracing::error!(%order, "void refused: {error}"),
                Ok(()) => {}
            }
            Ok(())
        }
        // Notifications go in their own run ([`Run::Notify`]).
        Effect::Notify { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use mockall::predicate::eq;

    use super::*;
    use crate::domain::{
        Currency, Location, Money, OrderId, OrderStatus, ProductId, Quantity, ShipId, TruckId,
        UserId, WarehouseId, WarehouseSite,
    };
    use crate::driver::item;
    use crate::fulfilment::{Item, ShippingCommand, WarehouseCommand};
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
            let entry = OutboxEntry { id, effect };
            match &entry.effect {
                // Notifications are performed as their own run.
                Effect::Notify { .. } => {
                    for run in runs(vec![entry]) {
                        run.perform(&ports).await.map_err(|p| p.error)?;
                    }
                    Ok(())
                }
                _ => perform(&ports, &entry).await,
            }
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
    async fn notifications_are_keyed_by_their_entry_and_only_an_unavailable_notifier_is_retried() {
        let outcomes = [
            (Ok(()), Ok(())),
            (Err(NotifyError::Refused("no such user".into())), Ok(())),
            (
                Err(NotifyError::Unavailable("store down".into())),
                Err(PortError("notifications not filed: store down".into())),
            ),
        ];
        for (outcome, expected) in outcomes {
            let (user, notification, effect) = notify();
            let mut mocks = Mocks::default();
            mocks
                .notifier
                .expect_notify_all()
                .with(eq(vec![("outbox-7".to_string(), user, notification)]))
                .times(1)
                .return_once(move |_| outcome);
            assert_eq!(mocks.perform(7, effect).await, expected);
        }
    }

    fn capture_of(n: i64) -> OutboxEntry {
        OutboxEntry {
            id: n as u64,
            effect: Effect::Capture {
                order: OrderId::new(n).unwrap(),
                authorization: format!("auth_{n}"),
                amount: usd(100),
            },
        }
    }

    /// A notifier that files nothing until the world has taken its commands.
    struct AfterTheWorld(Arc<tokio::sync::Notify>);

    #[async_trait::async_trait]
    impl Notifier for AfterTheWorld {
        async fn notify(&self, _: &str, _: UserId, _: Notification) -> Result<(), NotifyError> {
            self.0.notified().await;
            Ok(())
        }
    }

    /// A world that takes every command and then lets the notifier go on.
    struct World(Arc<tokio::sync::Notify>);

    #[async_trait::async_trait]
    impl Warehouse for World {
        async fn submit(&self, _: u64, _: WarehouseCommand) -> Result<(), PortError> {
            self.0.notify_one();
            Ok(())
        }
        async fn query(&self, _: ShipId) -> Result<String, PortError> {
            Ok(String::new())
        }
    }

    #[tokio::test]
    async fn a_pass_hands_each_port_its_run_without_waiting_for_the_others() {
        let world_took = Arc::new(tokio::sync::Notify::new());
        let mut shipping = MockShipping::new();
        shipping.expect_submit_all().times(1).returning(|_| {
            Err(PartlyTaken {
                taken: 0,
                error: PortError("ups link down".into()),
            })
        });
        let ports = Ports {
            warehouse: Arc::new(World(world_took.clone())),
            shipping: Arc::new(shipping),
            payments: Arc::new(MockPayments::new()),
            notifier: Arc::new(AfterTheWorld(world_took)),
        };
        let entries = vec![
            OutboxEntry {
                id: 1,
                effect: Effect::Notify {
                    user: UserId::new(7).unwrap(),
                    notification: Notification::OrderStatus {
                        order: order_id(),
                        status: OrderStatus::Packing,
                    },
                },
            },
            OutboxEntry {
                id: 2,
                effect: Effect::Shipping(shipping_commands().remove(0)),
            },
            OutboxEntry {
                id: 3,
                effect: Effect::Warehouse(warehouse_commands().remove(1)),
            },
        ];
        // Run one after another, the notifications would wait for the world for ever.
        let (done, refused) = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            perform_runs(runs(entries), &ports),
        )
        .await
        .expect("the notifications did not hold the world up");
        // The UPS refusing leaves its entry; the others' are taken all the same.
        assert_eq!(done, vec![1, 3]);
        assert_eq!(refused, Some(PortError("ups link down".into())));
    }

    #[tokio::test]
    async fn a_pass_runs_once_per_port_and_payments_are_taken_up_to_the_first_not_made() {
        let command = OutboxEntry {
            id: 4,
            effect: Effect::Warehouse(warehouse_commands().remove(0)),
        };
        let void = OutboxEntry {
            id: 5,
            effect: Effect::Void {
                order: OrderId::new(5).unwrap(),
                authorization: "auth_5".into(),
            },
        };
        let shipping = |id| OutboxEntry {
            id,
            effect: Effect::Shipping(shipping_commands().remove(1)),
        };
        let packing = OutboxEntry {
            id: 8,
            effect: Effect::Warehouse(warehouse_commands().remove(1)),
        };
        let captures = vec![capture_of(1), capture_of(2), capture_of(3)];
        let mut entries = captures.clone();
        entries.extend([command, shipping(6), void, packing, shipping(9)]);
        // One run per port, each in outbox order.
        let grouped: Vec<(&str, Vec<u64>)> =
            runs(entries).iter().map(|r| (r.kind(), r.ids())).collect();
        assert_eq!(
            grouped,
            vec![
                ("warehouse", vec![4, 8]),
                ("shipping", vec![6, 9]),
                ("payments", vec![1, 2, 3, 5])
            ]
        );

        // The second is not made; the third is (each is asked once, none waits for another).
        let mut payments = MockPayments::new();
        payments
            .expect_capture()
            .times(3)
            .returning(|authorization, _, _| match authorization {
                "auth_2" => Err(PaymentError::Unavailable("journal down".into())),
                _ => Ok(()),
            });
        let ports = Ports {
            warehouse: Arc::new(MockWarehouse::new()),
            shipping: Arc::new(MockShipping::new()),
            payments: Arc::new(payments),
            notifier: Arc::new(MockNotifier::new()),
        };
        let first = runs(captures).remove(0);
        assert_eq!(
            first.perform(&ports).await,
            Err(PartlyTaken {
                taken: 1,
                error: PortError("capture of order 2 not made: journal down".into())
            })
        );
    }
}
