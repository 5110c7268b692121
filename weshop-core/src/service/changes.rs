//! Following what other nodes sharing the store commit (see [`crate::changes`]): their order
//! changes reach this node's order followers, their catalog and stock changes its product
//! cache and search index.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::{broadcast, watch};

use super::ShopService;
use crate::changes::Change;
use crate::domain::{OrderId, ProductId};
use crate::store::Store;

/// Changes taken off the feed together: one read per order and one index commit for all the
/// products, however many changes named them.
#[derive(Default)]
struct Batch {
    orders: BTreeMap<OrderId, u64>,
    products: BTreeSet<ProductId>,
    stock: BTreeSet<ProductId>,
    missed: bool,
}

impl Batch {
    fn add(&mut self, change: Change) {
        match change {
            Change::Order { id, version } => {
                let newest = self.orders.entry(id).or_default();
                *newest = (*newest).max(version);
            }
            Change::Product(id) => {
                self.products.insert(id);
            }
            Change::Stock(id) => {
                self.stock.insert(id);
            }
            Change::Missed => self.missed = true,
        }
    }
}

/// Most changes applied as one batch.
const MAX_BATCH: usize = 1024;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// Applies the store's changes from `feed` (from [`ChangeFeed::changes`], taken before the
    /// shop was built so nothing falls between its index rebuild and the first change) until
    /// `stop` turns true or the feed ends. Whatever queued up while one batch was applied
    /// is applied as the next, so a burst costs one index commit, not one per change.
    ///
    /// [`ChangeFeed::changes`]: crate::changes::ChangeFeed::changes
    pub async fn follow_changes(
        &self,
        mut feed: broadcast::Receiver<Change>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                change = feed.recv() => change,
            };
            let mut batch = Batch::default();
            match first {
                Ok(change) => batch.add(change),
                Err(broadcast::error::RecvError::Lagged(_)) => batch.missed = true,
                Err(broadcast::error::RecvError::Closed) => {
                    tracing::warn!(
                        "the store's change feed ended: other nodes' changes are no longer followed"
                    );
                    return;
                }
            }
            for _ in 1..MAX_BATCH {
                match feed.try_recv() {
                    Ok(change) => batch.add(change),
                    Err(broadcast::error::TryRecvError::Lagged(_)) => batch.missed = true,
                    Err(_) => break,
                }
            }
            self.apply_changes(batch).await;
        }
    }

    async fn apply_changes(&self, batch: Batch) {
        if batch.missed {
            tracing::info!(
                "changes by other nodes may have been missed: reading everything followed again"
            );
            self.products.forget_all();
            if let Some(index) = &self.index {
                index.units.forget_all();
                if let Err(error) = index.rebuild(&*self.store).await {
                    tracing::warn!("search index not rebuilt after missed changes: {error}");
                }
            }
            for id in self.fulfilment.unfinished() {
                self.tell_order(id).await;
            }
        }
        // Products first: one index commit for all, while orders cost a read each.
        for id in &batch.products {
            self.products.forget(*id);
        }
        if let Some(index) = &self.index {
            index
                .changed_elsewhere(&*self.store, &batch.products, &batch.stock)
                .await;
        }
        for (&id, &version) in &batch.orders {
            if !self.fulfilment.knows(id, version as usize) {
                self.tell_order(id).await;
            }
        }
    }

    /// Reads an order and tells this node's followers of it (if they have not heard of it).
    async fn tell_order(&self, id: OrderId) {
        match self.store.order(id).await {
            Ok(Some(order)) => self.fulfilment.announce(&order),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(order = %id, "an order changed elsewhere could not be read: {error}")
            }
        }
    }
}
