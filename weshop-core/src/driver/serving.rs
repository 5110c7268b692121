//! Serving warehouses: deciding their placed and waiting orders against their stock.
//!
//! Checkouts name the warehouses they placed orders at ([`FulfilmentDriver::order_placed`]);
//! the serving loop serves every warehouse named since its last pass together: one read of
//! the open orders, one stock read per product, and commits that take the warehouses'
//! decisions together (one per pass, unless a queue is long), where a pass over three
//! warehouses took three of each.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::atomic::Ordering,
    time::Duration,
};

use super::{FulfilmentDriver, MAX_SERVED, merge, tick};
use crate::domain::{Order, OrderId, OrderStatus, ProductId, Stock, Timestamp, WarehouseId};
use crate::fulfilment::{Fulfilment, Step};
use crate::store::{Store, StoreError};

/// One warehouse's open orders, oldest first, served a chunk at a time.
///
/// The engine decides each order from the ones before it, so each chunk goes in with the
/// orders still waiting from the chunks before (they keep their products blocked) and the
/// stock as the chunks before left it: the outcome is that of one step over the queue.
struct Queue {
    warehouse: WarehouseId,
    rest: std::vec::IntoIter<Order>,
    waiting: Vec<Order>,
    stock: BTreeMap<ProductId, Stock>,
    first: bool,
    done: bool,
}

impl Queue {
    fn new(
        warehouse: WarehouseId,
        mut orders: Vec<Order>,
        stock: BTreeMap<ProductId, Stock>,
    ) -> Self {
        orders.sort_by_key(Order::id);
        Queue {
            warehouse,
            rest: orders.into_iter(),
            waiting: Vec::new(),
            stock,
            first: true,
            done: false,
        }
    }

    /// Decides the next chunk, of at most `budget` placed orders (and the orders still
    /// waiting): its step and how many placed orders it took, or `None` once the queue is
    /// served.
    fn next(
        &mut self,
        engine: &Fulfilment,
        budget: usize,
        now: Timestamp,
    ) -> Result<Option<(Step, usize)>, StoreError> {
        if self.done || budget == 0 {
            return Ok(None);
        }
        let mut chunk = std::mem::take(&mut self.waiting);
        let mut placed = 0;
        for order in self.rest.by_ref() {
            placed += usize::from(order.status() == OrderStatus::Placed);
            chunk.push(order);
            if placed == budget {
                break;
            }
        }
        // A queue of waiting orders alone is served once; after that, a chunk of only orders
        // carried over was decided by the chunk before.
        if chunk.is_empty() || (placed == 0 && !self.first) {
            self.done = true;
            return Ok(None);
        }
        self.first = false;
        self.done = placed < budget;
        let warehouse = self.warehouse;
        let step = engine.serve(warehouse, chunk.clone(), &self.stock, now);
        let changed: BTreeMap<OrderId, Order> = step
            .orders
            .iter()
            .map(|(o, _)| (o.id(), o.clone()))
            .collect();
        self.waiting = chunk
            .into_iter()
            .map(|o| changed.get(&o.id()).cloned().unwrap_or(o))
            .filter(|o| o.status() == OrderStatus::WaitingForStock)
            .collect();
        for delta in step.stock.iter().filter(|d| d.warehouse == warehouse) {
            let at = self.stock.entry(delta.product).or_default();
            // The engine only packs what is on hand and reserved, so this holds; if not, the
            // store would refuse the commit for the same reason.
            *at = delta.apply(*at).ok_or_else(|| {
                StoreError::Conflict(format!(
                    "the stock of product {} at warehouse {warehouse} moved while serving",
                    delta.product
                ))
            })?;
        }
        Ok(Some((step, placed)))
    }
}

impl<S: Store + ?Sized> FulfilmentDriver<S> {
    /// Serves a warehouse's waiting orders (after a checkout there); see
    /// [`Self::serve_all`].
    pub async fn serve(&self, warehouse: WarehouseId) -> Result<(), StoreError> {
        self.serve_all(&BTreeSet::from([warehouse])).await
    }

    /// Serves the waiting orders of `warehouses`, each oldest first, in commits of at most
    /// [`MAX_SERVED`] placed orders in all: the first packing commands go out while the
    /// rest are still being written (one commit of 410 orders took 923 ms on surrealkv, with
    /// the world idle throughout). Each warehouse's outcome is that of one step over its
    /// queue.
    pub async fn serve_all(&self, warehouses: &BTreeSet<WarehouseId>) -> Result<(), StoreError> {
        let _writer = self.writer.lock().await;
        let mut queues: Vec<Queue> = self
            .queues_of(warehouses)
            .await?
            .into_iter()
            .map(|(warehouse, (orders, stock))| Queue::new(warehouse, orders, stock))
            .collect();
        loop {
            let now = self.clock.now();
            let mut step = Step::default();
            let mut budget = MAX_SERVED;
            for queue in &mut queues {
                if let Some((chunk, placed)) = queue.next(&self.engine, budget, now)? {
                    merge(&mut step, chunk);
                    budget -= placed;
                }
            }
            if !step.is_empty() {
                self.commit(step, Vec::new()).await?;
            }
            if queues.iter().all(|q| q.done) {
                return Ok(());
            }
        }
    }

    /// The open orders of each of `warehouses` and the stock of their products there: one
    /// read of the open orders and one of each product's stock.
    pub(super) async fn queues_of(
        &self,
        warehouses: &BTreeSet<WarehouseId>,
    ) -> Result<BTreeMap<WarehouseId, (Vec<Order>, BTreeMap<ProductId, Stock>)>, StoreError> {
        let mut orders: BTreeMap<WarehouseId, Vec<Order>> = BTreeMap::new();
        for order in self
            .store
            .orders_in(&[OrderStatus::Placed, OrderStatus::WaitingForStock])
            .await?
        {
            if let Some(warehouse) = order.warehouse().filter(|w| warehouses.contains(w)) {
                orders.entry(warehouse).or_default().push(order);
            }
        }
        let products: BTreeSet<ProductId> = orders
            .values()
            .flatten()
            .flat_map(|o| o.lines().iter().map(|l| l.product))
            .collect();
        let mut stock: BTreeMap<(WarehouseId, ProductId), Stock> = BTreeMap::new();
        for product in products {
            for (warehouse, at) in self.store.stock(product).await? {
                stock.insert((warehouse, product), at);
            }
        }
        Ok(orders
            .into_iter()
            .map(|(warehouse, queue)| {
                let stock = queue
                    .iter()
                    .flat_map(|o| o.lines().iter().map(|l| l.product))
                    .map(|p| (p, stock.get(&(warehouse, p)).copied().unwrap_or_default()))
                    .collect();
                (warehouse, (queue, stock))
            })
            .collect())
    }

    /// An order was placed at `warehouse`: serve it. With [`Self::run_serving`] running, the
    /// request is queued and this returns at once (checkouts that come together are served in
    /// one step and one commit); without it, the warehouse is served before this returns —
    /// unless the store is shared ([`Self::share_store`]): then the leader's loop finds it.
    pub async fn order_placed(&self, warehouse: WarehouseId) -> Result<(), StoreError> {
        if self.is_serving() {
            self.to_serve
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(warehouse);
            self.serve_ready.notify_one();
            Ok(())
        } else if self.is_shared() {
            Ok(())
        } else {
            self.serve(warehouse).await
        }
    }

    /// Serves the warehouses [`Self::order_placed`] names, as they are named, until
    /// `shutdown` completes. A serve that fails is retried after `retry`; an order it left
    /// behind is safe in the store and is served then or at the next start.
    pub async fn run_serving(
        &self,
        retry: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        // Reset however the loop ends, an abort (a dropped future) included.
        struct Running<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        self.serving_loop.store(true, Ordering::Release);
        let _running = Running(&self.serving_loop);
        // Its own timer, so that a busy stream of local checkouts cannot keep putting it off.
        let mut pickup = self.pickup().map(|every| {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        loop {
            let wanted: BTreeSet<WarehouseId> = std::mem::take(
                &mut *self
                    .to_serve
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            let mut wait = None;
            if !wanted.is_empty()
                && let Err(error) = self.serve_all(&wanted).await
            {
                tracing::warn!(?wanted, "serving deferred: {error}; retrying in {retry:?}");
                self.to_serve
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend(wanted);
                wait = Some(retry);
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.serve_ready.notified(), if wait.is_none() => {}
                _ = tokio::time::sleep(wait.unwrap_or(retry)), if wait.is_some() => {}
                _ = tick(&mut pickup) => {
                    match self.placed_elsewhere().await {
                        Ok(warehouses) => self
                            .to_serve
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .extend(warehouses),
                        Err(error) => tracing::warn!("looking for orders placed elsewhere: {error}"),
                    }
                }
            }
        }
    }
}
