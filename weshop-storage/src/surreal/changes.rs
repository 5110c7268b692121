//! The SurrealDB change feed: live queries on orders, products and stock.
//!
//! Every process sharing the database subscribes once (`LIVE SELECT`, one per table, over its
//! own connection); the database pushes a notification for each record a committed transaction
//! wrote, whoever wrote it, so a node hears of the leader's order steps as they commit rather
//! than at its next poll. The notifications carry ids (and an order's version) only: a follower
//! re-reads what it follows.
//!
//! When the subscription fails (the server restarted, the connection dropped and the SDK made
//! it again without the live queries), the feed subscribes again and then reports
//! [`Change::Missed`], so followers re-read everything they follow: a change made in between
//! is read then, not lost.

use std::{
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use futures::{Stream, StreamExt, stream::select_all};
use surrealdb::{Notification, types::SurrealValue};
use tokio::sync::{OnceCell, broadcast};
use weshop_core::{
    changes::{Change, ChangeFeed, FEED_CAPACITY},
    domain::{OrderId, ProductId},
    store::StoreError,
};

use super::{Handle, SurrealStore, backend};

/// The live queries, one statement each, in the order [`subscribe`] reads them.
const LIVE: &str = "LIVE SELECT record::id(id) AS id, version FROM customer_order;\n\
                    LIVE SELECT record::id(id) AS id FROM product;\n\
                    LIVE SELECT product FROM stock;";

/// Longest wait between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

#[derive(SurrealValue)]
struct OrderRow {
    id: i64,
    version: i64,
}

#[derive(SurrealValue)]
struct ProductRow {
    id: i64,
}

#[derive(SurrealValue)]
struct StockRow {
    product: i64,
}

/// The feed of one store (shared by its clones): started by the first follower, stopped when
/// the last clone of the store goes.
#[derive(Default)]
pub(super) struct Feed {
    sender: OnceCell<broadcast::Sender<Change>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

impl Feed {
    /// Stops following the database (the store is closing).
    pub(super) fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(PoisonError::into_inner).take() {
            task.abort();
        }
    }
}

type Changes = Pin<Box<dyn Stream<Item = Result<Change, String>> + Send>>;

/// Starts the live queries; their notifications as one stream.
///
/// Each clone of the SDK's handle is a session of its own, and a session's live queries end
/// when it is dropped: the queries run on a clone that the stream keeps.
async fn subscribe(db: &Handle) -> Result<Changes, String> {
    let session = db.clone();
    let mut response = match &session {
        Handle::Embedded(db, _) => db.query(LIVE).await,
        Handle::Server(db) => db.query(LIVE).await,
    }
    .map_err(|e| e.to_string())?;
    fn mapped<R: SurrealValue + Unpin + Send + 'static>(
        stream: surrealdb::method::QueryStream<Notification<R>>,
        change: fn(R) -> Result<Change, String>,
    ) -> Changes {
        Box::pin(stream.map(move |n| n.map_err(|e| e.to_string()).and_then(|n| change(n.data))))
    }
    let orders = mapped(
        response.stream::<Notification<OrderRow>>(0).map_err(|e| e.to_string())?,
        |row: OrderRow| {
            Ok(Change::Order {
                id: OrderId::new(row.id).map_err(|e| e.to_string())?,
                version: u64::try_from(row.version).map_err(|e| e.to_string())?,
            })
        },
    );
    let products = mapped(
        response.stream::<Notification<ProductRow>>(1).map_err(|e| e.to_string())?,
        |row: ProductRow| Ok(Change::Product(ProductId::new(row.id).map_err(|e| e.to_string())?)),
    );
    let stock = mapped(
        response.stream::<Notification<StockRow>>(2).map_err(|e| e.to_string())?,
        |row: StockRow| Ok(Change::Stock(ProductId::new(row.product).map_err(|e| e.to_string())?)),
    );
    let changes = select_all([orders, products, stock]);
    Ok(Box::pin(changes.inspect(move |_| {
        let _session = &session;
    })))
}

/// Forwards notifications to `sender` for as long as the store lives, subscribing again
/// whenever the subscription ends.
async fn forward(db: Handle, sender: broadcast::Sender<Change>, mut changes: Changes) {
    loop {
        while let Some(change) = changes.next().await {
            match change {
                Ok(change) => {
                    let _ = sender.send(change);
                }
                // A notification that does not parse names nothing usable: followers re-read.
                Err(error) => {
                    tracing::warn!("an unreadable change notification: {error}");
                    let _ = sender.send(Change::Missed);
                }
            }
        }
        tracing::warn!("the database's change notifications stopped; subscribing again");
        let mut backoff = Duration::from_millis(100);
        changes = loop {
            tokio::time::sleep(backoff).await;
            match subscribe(&db).await {
                Ok(changes) => break changes,
                Err(error) => {
                    tracing::warn!("cannot follow the database's changes yet: {error}");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        };
        // Subscribed again: whatever changed while there was no subscription is read now.
        let _ = sender.send(Change::Missed);
    }
}

#[async_trait]
impl ChangeFeed for SurrealStore {
    async fn changes(&self) -> Result<broadcast::Receiver<Change>, StoreError> {
        let feed: &Arc<Feed> = &self.feed;
        let sender = feed
            .sender
            .get_or_try_init(|| async {
                let changes = subscribe(&self.db)
                    .await
                    .map_err(|e| backend(format!("cannot follow the database's changes: {e}")))?;
                let sender = broadcast::channel(FEED_CAPACITY).0;
                let task = tokio::spawn(forward(self.db.clone(), sender.clone(), changes));
                *feed.task.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(task.abort_handle());
                Ok::<_, StoreError>(sender)
            })
            .await?;
        Ok(sender.subscribe())
    }
}
