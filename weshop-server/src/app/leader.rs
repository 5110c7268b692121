//! Who runs fulfilment. The only node (no `[cluster]` node name) leads from the start. One of
//! several nodes on a shared store serves HTTP at once and waits for the fulfilment lease
//! (`weshop_core::lease`); while it holds it, it runs what only one node may run — the world
//! and UPS links, the outbox, the serving of warehouses, the daily summaries and the mailer —
//! with every commit fenced by the lease's term. A node that loses the lease stops all of that
//! at once and says so ([`super::App::leadership_lost`]); `weshop serve` then exits, to be
//! restarted as a follower.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use tokio::{sync::watch, task::JoinHandle};
use tracing::{error, info};
use weshop_core::{
    assembly::{AssembledShop, RunningShop},
    lease::{FULFILMENT, Fence, LeaseKeeper, Lost},
    ports::SystemClock,
    store::Store,
};

use super::{PartnerSettings, Partners, StartError};
use crate::{config::cluster::ClusterSettings, mail::mailer::Mailer, metrics::Metrics};

/// How often the leader looks in the store for orders placed through other nodes.
pub(super) const PICKUP: Duration = Duration::from_millis(200);

/// What leading runs.
pub(super) struct Led {
    running: RunningShop<dyn Store>,
    tasks: Vec<JoinHandle<()>>,
}

impl Led {
    /// After the shutdown signal: the links and the mailer end, then the outbox.
    pub(super) async fn shutdown(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        self.running.shutdown().await;
    }

    /// At once, wherever everything is (a deposed leader: its commits are refused anyway).
    async fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.running.abort().await;
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// What [`lead`] needs.
pub(super) struct Leading {
    pub assembled: AssembledShop<dyn Store>,
    pub partners: PartnerSettings,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub stopped: watch::Receiver<bool>,
    pub mailer: Option<Mailer>,
}

/// Resolves once `stopped` turns true.
async fn until(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|s| *s).await;
}

/// Starts leading: connects the partners (saving their state under `fence`), starts the shop
/// (outbox, serving, summaries, resuming what was left) and the mailer. Returns what runs, the
/// UPS listening address and the world id as the world link learns it.
pub(super) async fn lead(
    leading: Leading,
    fence: Option<Fence>,
) -> Result<(Led, Option<SocketAddr>, watch::Receiver<Option<i64>>), StartError> {
    let Leading {
        assembled,
        mut partners,
        store,
        metrics,
        stopped,
        mailer,
    } = leading;
    partners.fence = fence;
    let Partners {
        world,
        ups,
        ups_addr,
        world_id,
        mut tasks,
    } = Partners::connect(
        partners,
        assembled.driver().clone(),
        store,
        metrics,
        stopped.clone(),
    )
    .await
    .map_err(StartError::Link)?;
    let running = assembled
        .start(world, ups)
        .await
        .map_err(|e| StartError::Storage(e.to_string()))?;
    if let Some(mailer) = mailer {
        tasks.push(tokio::spawn(mailer.run(until(stopped))));
    }
    Ok((Led { running, tasks }, ups_addr, world_id))
}

/// One node of several: waits for the lease, leads while it holds it, gives it back on
/// shutdown. The world id goes to `world`; a lost lease is told on `lost`.
pub(super) async fn elect(
    cluster: ClusterSettings,
    leading: Leading,
    world: watch::Sender<Option<i64>>,
    lost: watch::Sender<Option<String>>,
) {
    let store = leading.store.clone();
    let stopped = leading.stopped.clone();
    let driver = leading.assembled.driver().clone();
    // A restarted node is a new holder: its predecessor's late commits must not pass its fence.
    let holder = format!("{}/{:08x}", cluster.node, rand::random::<u32>());
    let keeper = LeaseKeeper::new(
        store,
        Arc::new(SystemClock),
        FULFILMENT,
        &holder,
        cluster.lease_ttl,
    );
    info!(%holder, ttl = ?cluster.lease_ttl, "waiting for the fulfilment lease");
    let Some(lease) = keeper.acquire(until(stopped.clone())).await else {
        return;
    };
    info!(%holder, term = lease.term, "this node leads fulfilment");
    driver.fence_with(Some(lease.fence()));
    // Renewed from now on, while leading starts (connecting, resuming can outlast the lease).
    let keeper = Arc::new(keeper);
    let mut holding = tokio::spawn({
        let (keeper, lease) = (keeper.clone(), lease.clone());
        async move { keeper.hold(lease, until(stopped)).await }
    });
    let started = tokio::select! {
        led = lead(leading, Some(lease.fence())) => Some(led),
        _ = &mut holding => None,
    };
    let (led, mut world_id) = match started {
        Some(Ok((led, _, world_id))) => (led, world_id),
        Some(Err(e)) => {
            error!("cannot lead fulfilment: {e}");
            holding.abort();
            keeper.release(&lease).await;
            let _ = lost.send(Some(format!("cannot lead fulfilment: {e}")));
            return;
        }
        None => {
            error!("the fulfilment lease was lost while this node started leading");
            let _ = lost.send(Some(
                "the fulfilment lease was lost while starting to lead".into(),
            ));
            return;
        }
    };
    let forward = tokio::spawn(async move {
        loop {
            let id = *world_id.borrow_and_update();
            let _ = world.send(id);
            if world_id.changed().await.is_err() {
                return;
            }
        }
    });
    let outcome = holding
        .await
        .unwrap_or_else(|e| Lost::NotRenewed(format!("the lease keeper failed: {e}")));
    forward.abort();
    let why = match outcome {
        Lost::ShutDown => None,
        Lost::TakenOver(by) => Some(format!("taken over by {} (term {})", by.holder, by.term)),
        Lost::NotRenewed(error) => Some(format!("not renewed in time: {error}")),
    };
    match why {
        None => {
            led.shutdown().await;
            keeper.release(&lease).await;
        }
        Some(why) => {
            error!("fulfilment lease lost ({why}): this node stops leading; restart it to follow");
            led.abort().await;
            let _ = lost.send(Some(format!("the fulfilment lease was lost: {why}")));
        }
    }
}
