//! The SurrealDB change feed: a journal of changes, followed by a live query.
//!
//! Every transaction that touches orders, products or stock also writes, in the same
//! transaction, one `change` record naming what it touched ([`push_change`]): the order ids
//! with their versions after the change, the products edited, the products whose stock moved.
//! Every process sharing the database follows the journal with one `LIVE SELECT`, and the
//! database pushes each record as its transaction commits, so a node hears of the leader's
//! order steps at once rather than at its next poll. Each record names the process that wrote
//! it, and a process skips its own: it applied them as it made them.
//!
//! Why a journal rather than live queries on the tables themselves: a server pushes one
//! notification per record written, and closes a connection that has more than its queue of
//! them (100 by default) waiting. A fulfilment step that moves fifty orders and their stock
//! would overflow it at once, and the connection carries the node's queries too. One record
//! per transaction keeps the notifications to the commit rate. The journal's records go to
//! one of [`SLOTS`] slots picked at random (overwritten, never deleted, so the table stays
//! small and no clean-up floods followers with deletions); two transactions picking the same
//! slot conflict, and the later one is retried like any other write conflict.
//!
//! Only a store on a server keeps the journal: an embedded database belongs to one process,
//! which skips its own records, so there nobody would ever read them (and every order step
//! would pay for a write). Its feed is one that never reports anything.
//!
//! When the subscription fails (the server restarted, the connection dropped and the SDK made
//! it again without the live query), the feed subscribes again and then reports
//! [`Change::Missed`], so followers re-read everything they follow: a change made in between
//! is read then, not lost.

use std::{
    collections::BTreeSet,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use surrealdb::{Notification, types::SurrealValue};
use tokio::sync::{OnceCell, broadcast};
use weshop_core::{
    changes::{Change, ChangeFeed, FEED_CAPACITY},
    domain::{Order, OrderId, ProductId, StockDelta},
    store::StoreError,
};

use super::{
    Handle, SurrealStore, backend,
    query::{Sql, put},
};

/// How many journal records there are at most.
const SLOTS: i64 = 1 << 16;

/// Longest wait between two attempts to subscribe again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// What one transaction touched, as the journal holds it.
#[derive(SurrealValue)]
struct ChangeRow {
    /// The [`Feed::origin`] of the process that wrote it.
    origin: String,
    /// `[id, version]` of each order.
    orders: Vec<Vec<i64>>,
    products: Vec<i64>,
    stock: Vec<i64>,
}

/// What a transaction touched, to journal with it.
#[derive(Default)]
pub(super) struct Touched {
    orders: Vec<(i64, i64)>,
    products: BTreeSet<i64>,
    stock: BTreeSet<i64>,
}

impl Touched {
    pub(super) fn order(mut self, order: &Order) -> Self {
        self.orders.push((order.id().get(), order.version() as i64));
        self
    }

    pub(super) fn orders<'a>(self, orders: impl IntoIterator<Item = &'a Order>) -> Self {
        orders.into_iter().fold(self, Self::order)
    }

    pub(super) fn product(mut self, id: ProductId) -> Self {
        self.products.insert(id.get());
        self
    }

    pub(super) fn stock(mut self, deltas: &[StockDelta]) -> Self {
        self.stock.extend(deltas.iter().map(|d| d.product.get()));
        self
    }
}

/// Appends the journal record for `touched`, by the process `origin`, to a transaction
/// (nothing if it touched nothing followed).
pub(super) fn push_change(sql: &mut Sql, feed: &Feed, touched: &Touched) {
    if !feed.journal
        || touched.orders.is_empty() && touched.products.is_empty() && touched.stock.is_empty()
    {
        return;
    }
    let origin = &*feed.origin;
    let orders = sql.var(
        touched
            .orders
            .iter()
            .map(|(id, version)| vec![*id, *version])
            .collect::<Vec<_>>(),
    );
    let products = sql.var(touched.products.iter().copied().collect::<Vec<_>>());
    let stock = sql.var(touched.stock.iter().copied().collect::<Vec<_>>());
    let origin = sql.var(origin.to_string());
    // The slot drawn once, for both the update and the create.
    sql.push(&format!(
        "LET $slot = type::record('change', rand::int(0, {}))",
        SLOTS - 1
    ));
    sql.push(&put(
        "$slot",
        &format!("origin = {origin}, orders = {orders}, products = {products}, stock = {stock}"),
    ));
}

/// The changes one journal record names; none if this process (`origin`) wrote it, since it
/// applied its own changes as it made them.
fn changes_of(row: ChangeRow, origin: &str) -> Result<Vec<Change>, String> {
    let mut changes = Vec::new();
    if row.origin == origin {
        return Ok(changes);
    }
    for pair in row.orders {
        let [id, version] = pair[..] else {
            return Err(format!("an order change of {} numbers", pair.len()));
        };
        changes.push(Change::Order {
            id: OrderId::new(id).map_err(|e| e.to_string())?,
            version: u64::try_from(version).map_err(|e| e.to_string())?,
        });
    }
    for id in row.products {
        changes.push(Change::Product(
            ProductId::new(id).map_err(|e| e.to_string())?,
        ));
    }
    for id in row.stock {
        changes.push(Change::Stock(
            ProductId::new(id).map_err(|e| e.to_string())?,
        ));
    }
    Ok(changes)
}

/// The feed of one store (shared by its clones): started by the first follower, stopped when
/// the last clone of the store goes.
pub(super) struct Feed {
    /// This process's name in the journal: random, so no two processes sharing the database
    /// take each other's changes for their own.
    pub(super) origin: Arc<str>,
    /// Whether this store writes the journal (on a server) or not (embedded).
    journal: bool,
    sender: OnceCell<broadcast::Sender<Change>>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Feed {
    /// The feed of a store that keeps the journal if `journal` (a server's) or not.
    pub(super) fn new(journal: bool) -> Self {
        let seed = std::collections::hash_map::RandomState::new();
        let random = std::hash::BuildHasher::hash_one(&seed, std::process::id());
        Self {
            origin: format!("{random:016x}").into(),
            journal,
            sender: OnceCell::new(),
            task: Mutex::new(None),
        }
    }

    /// Stops following the database (the store is closing).
    pub(super) fn stop(&self) {
        if let Some(task) = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

type Changes = Pin<Box<dyn Stream<Item = Result<Vec<Change>, String>> + Send>>;

/// Starts following the journal.
///
/// Each clone of the SDK's handle is a session of its own, and a session's live queries end
/// when it is dropped: the query runs on a clone that the stream keeps.
async fn subscribe(db: &Handle, origin: Arc<str>) -> Result<Changes, String> {
    const LIVE: &str = "LIVE SELECT origin, orders, products, stock FROM change";
    /// The session the live query belongs to.
    enum Session {
        Embedded(surrealdb::Surreal<surrealdb::engine::local::Db>),
        Server(surrealdb::Surreal<surrealdb::engine::any::Any>),
    }
    let session = match db {
        Handle::Embedded(db, _) => Session::Embedded(surrealdb::Surreal::clone(db)),
        Handle::Server(db) => Session::Server(surrealdb::Surreal::clone(db)),
    };
    let mut response = match &session {
        Session::Embedded(db) => db.query(LIVE).await,
        Session::Server(db) => db.query(LIVE).await,
    }
    .map_err(|e| e.to_string())?;
    let stream = response
        .stream::<Notification<ChangeRow>>(0)
        .map_err(|e| e.to_string())?;
    Ok(Box::pin(stream.map(move |notification| {
        let _session = &session;
        notification
            .map_err(|e| e.to_string())
            .and_then(|n| changes_of(n.data, &origin))
    })))
}

/// Forwards notifications to `sender` for as long as the store lives, subscribing again
/// whenever the subscription ends.
async fn forward(
    db: Handle,
    origin: Arc<str>,
    sender: broadcast::Sender<Change>,
    mut changes: Changes,
) {
    loop {
        while let Some(change) = changes.next().await {
            match change {
                Ok(changes) => {
                    for change in changes {
                        let _ = sender.send(change);
                    }
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
            match subscribe(&db, origin.clone()).await {
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
                if !feed.journal {
                    return Ok(broadcast::channel(1).0);
                }
                // Registering a live query writes to the database: nodes starting together
                // conflict on it (seen: a node of three exited at start), so it is retried.
                let mut attempt = 1;
                let changes = loop {
                    match subscribe(&self.db, feed.origin.clone()).await {
                        Ok(changes) => break changes,
                        Err(error) if attempt < 10 && error.to_lowercase().contains("conflict") => {
                            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                            attempt += 1;
                        }
                        Err(error) => {
                            return Err(backend(format!(
                                "cannot follow the database's changes: {error}"
                            )));
                        }
                    }
                };
                let sender = broadcast::channel(FEED_CAPACITY).0;
                let task = tokio::spawn(forward(
                    self.db.clone(),
                    feed.origin.clone(),
                    sender.clone(),
                    changes,
                ));
                *feed.task.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(task.abort_handle());
                Ok::<_, StoreError>(sender)
            })
            .await?;
        Ok(sender.subscribe())
    }
}
