//! The fulfilment driver: runs the [`Fulfilment`] engine against a [`Store`] and performs the
//! outbox through the ports.
//!
//! Steps are computed and committed one at a time (a single writer for orders in fulfilment),
//! each with the effects it causes and, for events from a link, the link's session state, so
//! "processed" and "answered" are one atomic fact. Effects are performed only after their step
//! is committed, in commit order, and removed from the outbox once a port has taken them; after
//! a crash [`FulfilmentDriver::resume`] and the outbox pick up exactly where things stopped.
//!
//! This file is the committing side (the single writer, its steps and the order updates it
//! broadcasts); `outbox.rs` is the performing side, the only part that calls the ports. The
//! outbox's public items are re-exported here, so `driver::Ports` and `driver::OutboxError`
//! stay where callers find them.

mod known;
mod link_state;
mod marks;
mod outbox;
mod serving;
mod updates;

pub use link_state::{LinkSnapshot, LinkState};
pub use marks::MARK_WITHIN;
pub use outbox::{OutboxError, Ports};

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, Notify, broadcast};

use known::{KnownOrders, OnTruck, Truck, truck_of};
use marks::Marks;
use updates::OrderUpdates;

use crate::stage_times::{Stage, StageTimes};

use crate::catalog_index::IndexKeeper;
use crate::domain::{
    Order, OrderId, OrderStatus, ProductId, Quantity, Stock, StockDelta, TruckId, WarehouseId,
};
use crate::fulfilment::{
    Effect, Fulfilment, FulfilmentEvent, Item, Refused, Step, WarehouseCommand, order_of,
};
use crate::lease::Fence;
use crate::ports::Clock;
use crate::shop::OrderUpdate;
use crate::store::{OutboxEntry, StepCommit, Store, StoreError};

/// The next tick of `interval`, or never without one.
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs fulfilment for one shop.
pub struct FulfilmentDriver<S: ?Sized> {
    store: Arc<S>,
    engine: Fulfilment,
    clock: Arc<dyn Clock>,
    writer: Mutex<()>,
    outbox_ready: Notify,
    /// Outbox entries performed, their marks waiting to ride in the next commit.
    marks: Marks,
    updates: OrderUpdates,
    /// The orders in fulfilment as last committed here: events read them from memory.
    known: KnownOrders,
    index: Option<Arc<IndexKeeper>>,
    /// Warehouses with orders placed since they were last served ([`Self::run_serving`]).
    to_serve: std::sync::Mutex<BTreeSet<WarehouseId>>,
    serve_ready: Notify,
    /// True while [`Self::run_serving`] runs: checkouts then leave serving to it.
    serving_loop: AtomicBool,
    /// Where time goes (shared with the service, which records checkouts).
    stages: Arc<StageTimes>,
    /// The lease term this driver commits under, when several nodes share the store.
    fence: std::sync::Mutex<Option<Fence>>,
    /// Set when several nodes share the store (see [`Self::share_store`]): how often the
    /// serving loop looks for orders placed through other nodes.
    pickup: std::sync::Mutex<Option<Duration>>,
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
            marks: Marks::default(),
            updates: OrderUpdates::new(1024),
            known: KnownOrders::default(),
            index: None,
            to_serve: std::sync::Mutex::new(BTreeSet::new()),
            serve_ready: Notify::new(),
            serving_loop: AtomicBool::new(false),
            stages: Arc::default(),
            fence: std::sync::Mutex::new(None),
            pickup: std::sync::Mutex::new(None),
        }
    }

    /// Makes this the driver of one node of several sharing the store, where only the leader
    /// (see [`crate::lease`]) serves: checkouts through this node leave their orders in the
    /// store ([`Self::order_placed`] serves nothing unless this node's serving loop runs, that
    /// is, unless it leads), and the serving loop, when it runs, also looks in the store every
    /// `pickup` for orders placed through other nodes.
    pub fn share_store(&self, pickup: Duration) {
        *self
            .pickup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pickup);
    }

    /// Whether several nodes share the store ([`Self::share_store`]).
    pub fn is_shared(&self) -> bool {
        self.pickup().is_some()
    }

    fn pickup(&self) -> Option<Duration> {
        *self
            .pickup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether [`Self::run_serving`] runs (on a node of several: whether this node leads).
    pub fn is_serving(&self) -> bool {
        self.serving_loop.load(Ordering::Acquire)
    }

    /// The warehouses of the orders placed and not yet served (by any node).
    async fn placed_elsewhere(&self) -> Result<BTreeSet<WarehouseId>, StoreError> {
        Ok(self
            .store
            .orders_in(&[OrderStatus::Placed])
            .await?
            .iter()
            .filter_map(Order::warehouse)
            .collect())
    }

    /// Commits from now on only while the lease `fence` names is still at its term (see
    /// [`crate::lease`]); `None` (the default, one node per store) commits unfenced.
    pub fn fence_with(&self, fence: Option<Fence>) {
        // Under a new term, orders may have moved through another node meanwhile.
        self.known.forget_all();
        *self
            .fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fence;
    }

    /// The fence every commit of this driver carries.
    fn fence(&self) -> Option<Fence> {
        self.fence
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Keeps a search index in step with the stock this driver commits (the in-stock filter).
    pub(crate) fn with_index(mut self, index: Option<Arc<IndexKeeper>>) -> Self {
        self.index = index;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Fulfilment {
        &self.engine
    }

    /// Follows every order change committed from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OrderUpdate> {
        self.updates.subscribe()
    }

    /// How long each stage of an order's path took so far.
    pub fn stage_times(&self) -> &Arc<StageTimes> {
        &self.stages
    }

    /// Tells followers about an order created outside the driver (checkout).
    pub fn announce(&self, order: &Order) {
        self.updates.publish(order.clone());
    }

    /// Whether followers were told of order `id` at `version` or later: a change heard
    /// through the store's feed ([`crate::changes`]) then needs no read.
    pub fn knows(&self, id: OrderId, version: usize) -> bool {
        self.updates.told(id, version)
    }

    /// The orders followers were told of that have not ended yet.
    pub fn unfinished(&self) -> Vec<OrderId> {
        self.updates.unfinished()
    }

    async fn commit(
        &self,
        step: Step,
        links: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        for note in &step.ignored {
            tracing::debug!("fulfilment ignored {note}");
        }
        let orders: Vec<Order> = step.orders.iter().map(|(o, _)| o.clone()).collect();
        let has_effects = !step.effects.is_empty();
        let deltas = match &self.index {
            Some(_) if !step.stock.is_empty() => step.stock.clone(),
            _ => Vec::new(),
        };
        let started = Instant::now();
        let size = (step.orders.len(), step.stock.len(), step.effects.len());
        let committed = self
            .commit_marking(
                StepCommit {
                    orders: step.orders,
                    stock: step.stock,
                    effects: step.effects,
                    links,
                    ..StepCommit::default()
                },
                self.marks.take(),
            )
            .await;
        let entries = match committed {
            Ok(entries) => entries,
            Err(error) => {
                // Whether it landed is unknown: read orders from the store again.
                self.known.forget_all();
                return Err(error);
            }
        };
        self.known.committed(&orders);
        self.stages.since(Stage::DriverCommit, started);
        tracing::debug!(?size, took = ?started.elapsed(), "driver commit");
        for order in orders {
            tracing::info!(order = %order.id(), status = %order.status(), "order status");
            self.updates.publish(order);
        }
        if let Some(index) = &self.index
            && !deltas.is_empty()
        {
            index.stock_changed(&*self.store, &deltas).await;
        }
        if has_effects {
            self.outbox_ready.notify_one();
        }
        Ok(entries)
    }

    /// Commits `commit` under this driver's fence, marking the outbox entries `marks` (taken
    /// from [`Marks`]) done with it: they are marked if it lands, and wait again if not.
    async fn commit_marking(
        &self,
        commit: StepCommit,
        marks: Vec<u64>,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let committed = self
            .store
            .commit_step(StepCommit {
                done: marks.clone(),
                fence: self.fence(),
                ..commit
            })
            .await;
        match &committed {
            Ok(_) => self.marks.landed(&marks),
            Err(_) => self.marks.failed(&marks),
        }
        committed
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

    /// One warehouse's open orders and the stock of their products there.
    async fn queue_of(
        &self,
        warehouse: WarehouseId,
    ) -> Result<(Vec<Order>, BTreeMap<ProductId, Stock>), StoreError> {
        Ok(self
            .queues_of(&BTreeSet::from([warehouse]))
            .await?
            .remove(&warehouse)
            .unwrap_or_default())
    }

    /// After a restart: serves every warehouse, so orders placed just before a crash move on.
    pub async fn resume(&self) -> Result<(), StoreError> {
        let warehouses: BTreeSet<WarehouseId> = self.engine.warehouses().map(|w| w.id).collect();
        self.serve_all(&warehouses).await?;
        self.release_held_trucks().await?;
        self.outbox_ready.notify_one();
        Ok(())
    }

    /// Releases every truck whose loaded packages wait for no other (a safety net at start:
    /// events release trucks as they come, in the same commit).
    async fn release_held_trucks(&self) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut trucks: BTreeMap<(WarehouseId, TruckId), Vec<Order>> = BTreeMap::new();
        for order in self
            .store
            .orders_in(&[OrderStatus::Loading, OrderStatus::Loaded])
            .await?
        {
            if let (Some(warehouse), Some(truck)) = (order.warehouse(), order.truck()) {
                trucks.entry((warehouse, truck)).or_default().push(order);
            }
        }
        let now = self.clock.now();
        let step = trucks
            .into_values()
            .map(|mates| self.engine.release_truck(mates, now))
            .fold(Step::default(), Step::then);
        if !step.is_empty() {
            self.commit(step, Vec::new()).await?;
        }
        Ok(())
    }

    /// Takes in one event from the world or the UPS, with the link's session state after it
    /// was received; both are committed together, so the event is acted on exactly once.
    pub async fn handle(
        &self,
        event: FulfilmentEvent,
        link: Option<LinkState>,
    ) -> Result<(), StoreError> {
        self.handle_batch(vec![(event, link)])
            .await
            .map_err(|failed| failed.error)
    }

    /// Takes in the events of one message, each with the link's state after it, in as few
    /// commits as the events allow (group commit): package events are decided one after
    /// another against the orders as the earlier ones left them, and committed together with
    /// the state after the last of them. An event that reads a warehouse's queue and stock
    /// (`arrived`, a refused purchase) first commits what is pending, then is committed on its
    /// own. Each commit carries the link state after its last event, so what a crash loses is
    /// exactly what the link has not marked seen, and the peer sends it again.
    ///
    /// On failure, says how many events (from the first) were committed.
    pub async fn handle_batch(
        &self,
        events: Vec<(FulfilmentEvent, Option<LinkState>)>,
    ) -> Result<(), BatchFailed> {
        let started = Instant::now();
        let _writer = self.writer.lock().await;
        let now = self.clock.now();
        let mut batch = Batch::default();
        let mut committed = 0;
        let fail = |committed, error| BatchFailed { committed, error };
        let total = events.len();
        for (event, link) in events {
            // An event about no package is an arrival or a refused purchase.
            let Some(ship_id) = event.ship_id() else {
                committed += batch.commit(self).await.map_err(|e| fail(committed, e))?;
                let step = self
                    .warehouse_event(&event, now)
                    .await
                    .map_err(|e| fail(committed, e))?;
                batch.absorb(step, link);
                committed += batch.commit(self).await.map_err(|e| fail(committed, e))?;
                continue;
            };
            let id = order_of(ship_id);
            let order = match batch.order(id).or_else(|| self.known.get(id)) {
                Some(order) => Some(order),
                None => self.store.order(id).await.map_err(|e| fail(committed, e))?,
            };
            // An order that leaves `loading` (loaded, refused, failed) may free its truck.
            let loading_onto = order
                .as_ref()
                .filter(|o| o.status() == OrderStatus::Loading)
                .and_then(|o| Some((o.warehouse()?, o.truck()?)));
            batch.absorb(self.engine.package_event(&event, order, now), link);
            if let Some((warehouse, truck)) = loading_onto {
                let mates = self
                    .truck_mates(&batch, warehouse, truck)
                    .await
                    .map_err(|e| fail(committed, e))?;
                batch.add(self.engine.release_truck(mates, now));
            }
            if batch.is_full() {
                committed += batch.commit(self).await.map_err(|e| fail(committed, e))?;
            }
        }
        batch.commit(self).await.map_err(|e| fail(committed, e))?;
        tracing::debug!(events = total, took = ?started.elapsed(), "event batch");
        self.stages.since(Stage::EventBatch, started);
        Ok(())
    }

    /// The orders loading onto, or loaded onto and held for, `truck` at `warehouse`, as the
    /// batch leaves them; none while one of them is still loading.
    ///
    /// The committed ones come from memory ([`KnownOrders::on_truck`]), read from the store
    /// once after a start, a failed commit or a new lease term: nothing else changes these
    /// orders meanwhile, as the driver holds the writer (and, with several nodes, the lease).
    async fn truck_mates(
        &self,
        batch: &Batch,
        warehouse: WarehouseId,
        truck: TruckId,
    ) -> Result<Vec<Order>, StoreError> {
        let here = (warehouse, truck);
        if let Some(mates) = self
            .known
            .on_truck(here, |on, copies| batch.mates(here, on, copies))
        {
            return Ok(mates);
        }
        let read = self
            .store
            .orders_in(&[OrderStatus::Loading, OrderStatus::Loaded])
            .await?;
        self.known.load_trucks(read);
        self.known
            .on_truck(here, |on, copies| batch.mates(here, on, copies))
            .ok_or_else(|| {
                StoreError::Conflict("the orders on trucks were forgotten as they were read".into())
            })
    }

    /// The step of an event that reads a warehouse's queue and stock.
    async fn warehouse_event(
        &self,
        event: &FulfilmentEvent,
        now: crate::domain::Timestamp,
    ) -> Result<Step, StoreError> {
        match event {
            FulfilmentEvent::Arrived { warehouse, items } => {
                let (queue, mut stock) = self.queue_of(*warehouse).await?;
                for (product, _) in items {
                    if !stock.contains_key(product) {
                        let at = self.stock_at(*warehouse, *product).await?;
                        stock.insert(*product, at);
                    }
                }
                Ok(self.engine.arrived(*warehouse, items, queue, &stock, now))
            }
            FulfilmentEvent::Refused {
                command: Refused::Warehouse(WarehouseCommand::Purchase { warehouse, items }),
                reason,
            } => self.purchase_refused(*warehouse, items, reason).await,
            // Every other event names a package (`FulfilmentEvent::ship_id`).
            _ => Ok(Step::default()),
        }
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
        self.commit(step, Vec::new()).await?;
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
        self.commit(step, Vec::new()).await?;
        Ok(())
    }
}

/// A link's events could not all be committed.
#[derive(Debug)]
pub struct BatchFailed {
    /// How many events, from the first, were committed (with the link state after the last).
    pub committed: usize,
    /// Why the next commit failed.
    pub error: StoreError,
}

/// Most placed orders served in one commit ([`FulfilmentDriver::serve_all`]).
const MAX_SERVED: usize = 64;

/// Most events committed together while a batch moves stock. Its commit writes those
/// products' stock, so it conflicts with any checkout of them meanwhile, and the engine
/// refuses the later of two conflicting commits: a commit of 72 events (a world message full
/// of packed orders, 200 orders in flight on a SurrealDB server) lost to checkouts for five
/// minutes, retried over and over. Smaller commits run faster and lose less.
const MAX_BATCH_EVENTS: usize = 16;

/// Most events committed together when none of them moved stock. Such a commit writes only
/// orders the driver alone changes (it holds the writer, and with several nodes the lease)
/// and the outbox, so checkouts cannot make it lose; committing a world message of 400
/// packed orders 16 at a time cost 26 commits in a row (about 13 ms each on surrealkv)
/// while the link took nothing else in.
const MAX_STOCKLESS_BATCH_EVENTS: usize = 128;

/// Steps decided but not yet committed, merged into one: an order changed by several events
/// is written once, in its latest state, checked against the version it had when read.
#[derive(Default)]
struct Batch {
    step: Step,
    /// Where each pending order is in `step.orders`.
    at: BTreeMap<OrderId, usize>,
    /// The link state after the last event absorbed.
    link: Option<LinkState>,
    /// Events absorbed since the last commit.
    events: usize,
}

impl Batch {
    /// A pending order in its latest state.
    fn order(&self, id: OrderId) -> Option<Order> {
        self.at.get(&id).map(|&i| self.step.orders[i].0.clone())
    }

    /// A pending order in its latest state, borrowed.
    fn order_ref(&self, id: OrderId) -> Option<&Order> {
        self.at.get(&id).map(|&i| &self.step.orders[i].0)
    }

    /// The orders on `truck` as this batch leaves them, given those on it as committed (`on`)
    /// and the driver's copies of them, ordered by id; none while one is still loading (then
    /// [`Fulfilment::release_truck`] would release nothing, and copying every mate for each
    /// package loaded cost a truck of n packages n² order copies).
    fn mates(
        &self,
        truck: Truck,
        on: &OnTruck,
        copies: &std::collections::HashMap<OrderId, Order>,
    ) -> Vec<Order> {
        let latest = |id: &OrderId| self.order_ref(*id).or_else(|| copies.get(id));
        let here = |order: &&Order| truck_of(order) == Some(truck);
        let loading = |order: &Order| order.status() == OrderStatus::Loading;
        let pending = self.step.orders.iter().map(|(order, _)| order).filter(here);
        if pending.clone().any(loading)
            || on
                .loading
                .iter()
                .filter_map(latest)
                .filter(here)
                .any(loading)
        {
            return Vec::new();
        }
        let committed = |id: &OrderId| on.loading.contains(id) || on.loaded.contains(id);
        let mut mates: Vec<Order> = on
            .loading
            .iter()
            .chain(&on.loaded)
            .filter_map(latest)
            .filter(here)
            .chain(pending.filter(|order| !committed(&order.id())))
            .cloned()
            .collect();
        mates.sort_by_key(Order::id);
        mates
    }

    fn absorb(&mut self, step: Step, link: Option<LinkState>) {
        self.add(step);
        if link.is_some() {
            self.link = link;
        }
        self.events += 1;
    }

    /// Whether to commit before taking another event: at [`MAX_BATCH_EVENTS`] if the batch
    /// moves stock, else at [`MAX_STOCKLESS_BATCH_EVENTS`].
    fn is_full(&self) -> bool {
        let limit = if self.step.stock.is_empty() {
            MAX_STOCKLESS_BATCH_EVENTS
        } else {
            MAX_BATCH_EVENTS
        };
        self.events >= limit
    }

    /// Adds a step that follows from an event already absorbed (a truck it released).
    fn add(&mut self, step: Step) {
        for (order, version) in step.orders {
            match self.at.get(&order.id()) {
                Some(&i) => self.step.orders[i].0 = order,
                None => {
                    self.at.insert(order.id(), self.step.orders.len());
                    self.step.orders.push((order, version));
                }
            }
        }
        self.step.stock.extend(step.stock);
        self.step.effects.extend(step.effects);
        self.step.ignored.extend(step.ignored);
    }

    /// Commits what is pending; returns how many events that was.
    async fn commit<S: Store + ?Sized>(
        &mut self,
        driver: &FulfilmentDriver<S>,
    ) -> Result<usize, StoreError> {
        let events = self.events;
        let Batch { step, link, .. } = std::mem::take(self);
        // Encoded here, for the last event of the commit only.
        let links: Vec<_> = link
            .into_iter()
            .map(|(name, state)| (name, state.encode()))
            .collect();
        if !step.is_empty() || !links.is_empty() {
            driver.commit(step, links).await?;
        }
        Ok(events)
    }
}

/// Adds `from`'s changes to `into`: one commit for several orders failed by one refusal.
fn merge(into: &mut Step, from: Step) {
    into.orders.extend(from.orders);
    into.stock.extend(from.stock);
    into.effects.extend(from.effects);
    into.ignored.extend(from.ignored);
}

/// Units of `quantity` as an item of `product` named `description`.
pub fn item(product: ProductId, description: &str, quantity: Quantity) -> Item {
    Item {
        product,
        description: description.to_string(),
        count: quantity,
    }
}
