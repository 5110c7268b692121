//! The outbox's marks ride in the driver's next commit instead of a commit of their own.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;
use weshop_core::{
    domain::ShipId,
    driver::Ports,
    fulfilment::{FulfilmentEvent, ShippingCommand, WarehouseCommand, ship_id_of},
    notify::InMemoryNotifier,
    ports::{PortError, Shipping, Warehouse},
    stage_times::Stage,
    store::Store,
};
use weshop_storage::Interleaved;

use super::Rig;

/// How many times each outbox entry reached the world or the UPS.
#[derive(Default)]
struct Taken(Mutex<BTreeMap<u64, usize>>);

impl Taken {
    fn take(&self, id: u64) {
        *self.0.lock().unwrap().entry(id).or_default() += 1;
    }

    fn counts(&self) -> BTreeMap<u64, usize> {
        self.0.lock().unwrap().clone()
    }
}

#[async_trait]
impl Warehouse for Taken {
    async fn submit(&self, id: u64, _: WarehouseCommand) -> Result<(), PortError> {
        self.take(id);
        Ok(())
    }

    async fn query(&self, _: ShipId) -> Result<String, PortError> {
        Ok("unknown".into())
    }
}

#[async_trait]
impl Shipping for Taken {
    async fn submit(&self, id: u64, _: ShippingCommand) -> Result<(), PortError> {
        self.take(id);
        Ok(())
    }
}

/// The ids of the entries in `store`'s outbox.
async fn outbox_ids<S: Store + ?Sized>(store: &S) -> Vec<u64> {
    store.outbox().await.unwrap().iter().map(|e| e.id).collect()
}

/// Waits (up to a minute, for a loaded machine) until `check` holds.
async fn until<F: Future<Output = bool>>(what: &str, check: impl Fn() -> F) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A pass leaves its marks for the driver's next commit: the driver's store here takes one
/// commit only (a `packed` event), and that commit marks every entry performed before it. The
/// truck request that event queued is performed next; its mark, failing at shutdown (the
/// store "crashed"), waits again and is not performed twice: after a restart the outbox
/// commits it on its own once no driver commit carried it in time. Each entry reached its port
/// once.
pub async fn outbox_marks_ride<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let (customer, card) = rig.customer("ride@example.com", "4242424242424242").await;
    let id = rig.buy_one(customer, &card, "ride-1").await.id();
    let queued = outbox_ids(&*rig.store).await;
    assert!(!queued.is_empty(), "the checkout queued effects");

    let fused = Arc::new(Interleaved::crashing_after(store.clone(), 1));
    let assembled = rig.node_over(fused.clone(), &[rig.warehouse]).await;
    let driver = assembled.driver().clone();
    driver.mark_within(Duration::from_secs(3600));
    let taken = Arc::new(Taken::default());
    let ports = Ports {
        warehouse: taken.clone(),
        shipping: taken.clone(),
        payments: rig.gateway.clone(),
        notifier: Arc::new(InMemoryNotifier::new()),
    };
    let run = |ports: Ports| {
        let driver = driver.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            driver
                .run_outbox(ports, Duration::from_millis(20), async {
                    let _ = stopped.await;
                })
                .await
        });
        (stop, task)
    };
    let passes = || driver.stage_times().summary(Stage::OutboxPass).count;
    let (stop, task) = run(ports.clone());
    until("a pass performed the checkout's effects", || async {
        passes() >= 1
    })
    .await;
    let listed = outbox_ids(&*rig.store).await;
    assert_eq!(listed, queued, "performed, and marked by no commit yet");

    let packed = FulfilmentEvent::Packed {
        ship_id: ship_id_of(id),
    };
    driver.handle_batch(vec![(packed, None)]).await.unwrap();
    let after = outbox_ids(&*rig.store).await;
    assert!(
        after.iter().all(|e| !queued.contains(e)),
        "the event's commit marked what was performed: {after:?} left of {queued:?}"
    );
    assert!(
        !after.is_empty(),
        "the packed order's truck request is queued"
    );
    until("a pass performed the event's effects", || async {
        passes() >= 2
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let left = outbox_ids(&*rig.store).await;
    assert_eq!(
        left, after,
        "its mark failed with the store: kept, not lost"
    );

    fused.restart();
    driver.mark_within(Duration::from_millis(10));
    let (stop, task) = run(ports);
    until("the outbox marked the truck request itself", || async {
        rig.store.outbox().await.unwrap().is_empty()
    })
    .await;
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(
        taken.counts().values().all(|&n| n == 1),
        "each entry reached its port once: {:?}",
        taken.counts()
    );
}
