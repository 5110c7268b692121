//! The store's change feed: what other processes sharing the store committed.
//!
//! One node's writes reach its own order followers (SSE), product cache and search index
//! directly, in process. When several nodes share one database (see [`crate::lease`]), a node
//! must also hear of orders the leader moved on and of products listed on other nodes. A
//! backend that can be shared reports every commit that touches an order, a product or stock
//! as a [`Change`] (SurrealDB through live queries, so a change arrives when it commits, not at
//! the next poll); [`ShopService::follow_changes`](crate::service::ShopService::follow_changes)
//! turns them into order updates, cache evictions and index refreshes.
//!
//! A change says *what* changed, not how: the follower re-reads it from the store, which stays
//! the only source of truth, so a change arriving twice or late costs a read, never a wrong
//! answer.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::domain::{OrderId, ProductId};
use crate::store::StoreError;

/// One committed change, by whichever process made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// An order was placed or moved on; `version` is its [`Order::version`] after the change,
    /// so a follower that already saw that version needs no read.
    ///
    /// [`Order::version`]: crate::domain::Order::version
    Order {
        /// The order.
        id: OrderId,
        /// Its version after the change.
        version: u64,
    },
    /// A product was listed, edited or withdrawn.
    Product(ProductId),
    /// A product's stock changed in some warehouse.
    Stock(ProductId),
    /// Changes may have been lost (the feed's connection dropped and was made again): re-read
    /// everything followed. Falling behind the channel (`Lagged`) means the same.
    Missed,
}

/// How many changes a slow follower may fall behind before it must re-read everything.
pub const FEED_CAPACITY: usize = 4096;

/// Reports the changes committed to a store (see the [module docs](self)).
#[async_trait]
pub trait ChangeFeed: Send + Sync {
    /// Follows every change committed from now on by the other processes sharing the store.
    /// Changes made through this handle may be reported too (followers re-read, so it costs
    /// work, never a wrong answer): SurrealDB leaves them out, the memory store, which is
    /// shared only within one process, reports them all. Several calls share one feed. A
    /// receiver that falls behind gets `Lagged`, which means [`Change::Missed`].
    ///
    /// A store that only one process can open has nothing to report that the process did not
    /// do itself, and may keep this default, which says it cannot.
    async fn changes(&self) -> Result<broadcast::Receiver<Change>, StoreError> {
        Err(StoreError::Backend(
            "this store reports no changes, so it cannot be shared by several nodes".into(),
        ))
    }
}
