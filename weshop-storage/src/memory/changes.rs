//! The memory store's change feed: every commit that touches an order, a product or stock is
//! sent to the feed's followers while the commit still holds the lock, so they hear of changes
//! in the order they were made.
//!
//! Only the one process holding the store shares it, but several shops in that process can
//! (a test of several nodes, a simulation): for them it reports what the others did.

use std::collections::BTreeSet;

use async_trait::async_trait;
use tokio::sync::broadcast;
use weshop_core::{
    changes::{Change, ChangeFeed, FEED_CAPACITY},
    domain::{Order, ProductId, StockDelta},
    store::StoreError,
};

use super::MemoryStore;

/// Where the store's changes go.
#[derive(Debug)]
pub(super) struct Feed(broadcast::Sender<Change>);

impl Default for Feed {
    fn default() -> Self {
        Self(broadcast::channel(FEED_CAPACITY).0)
    }
}

impl Feed {
    pub(super) fn product(&self, id: ProductId) {
        let _ = self.0.send(Change::Product(id));
    }

    pub(super) fn order(&self, order: &Order) {
        let _ = self.0.send(Change::Order {
            id: order.id(),
            version: order.version() as u64,
        });
    }

    /// One change per product among `deltas`.
    pub(super) fn stock(&self, deltas: &[StockDelta]) {
        let products: BTreeSet<ProductId> = deltas.iter().map(|d| d.product).collect();
        for id in products {
            let _ = self.0.send(Change::Stock(id));
        }
    }
}

#[async_trait]
impl ChangeFeed for MemoryStore {
    async fn changes(&self) -> Result<broadcast::Receiver<Change>, StoreError> {
        Ok(self.feed.0.subscribe())
    }
}
