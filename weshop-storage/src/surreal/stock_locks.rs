//! Turns for the stock rows this process writes at checkout and in fulfilment steps.
//!
//! Concurrent checkouts of one product each reserve on its stock row, and the engines refuse
//! the later of two such commits: the loser has run its whole transaction for nothing and
//! waits a backoff before running it again (measured in the orders bench on surrealkv: one
//! placement in four lost at least once, each loss ~48 ms of the engine's work thrown away,
//! and the backoff on top of the checkout's latency). Within one process those losses are
//! avoidable: a placement first takes a turn on each row it reserves on, so placements of the
//! same product run one after another and placements of different products still run side by
//! side. A fulfilment step that moves stock takes the turns of its rows too (after its
//! fence's, see `commit_step`), so it no longer loses to the checkouts of those products
//! (it did ~10 times a run, ~100 ms of work each, and its events waited for the retry).
//! The database's conflict check stays what guarantees no oversell: other processes sharing
//! a server, and writes outside these turns (a seller's restock), can still conflict, and
//! the loser is retried as before.
//!
//! The map keeps one entry per row ever reserved on (products × warehouses), like the stock
//! table itself.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, Mutex, PoisonError},
};

use tokio::sync::{Mutex as Turn, OwnedMutexGuard};
use weshop_core::domain::StockDelta;

/// A stock row: (warehouse, product).
type Row = (i32, i64);

/// One turn per stock row a placement of this process has reserved on.
#[derive(Default)]
pub(super) struct StockLocks {
    rows: Mutex<HashMap<Row, Arc<Turn<()>>>>,
}

/// The turns one placement holds; released when dropped.
pub(super) struct Held(#[allow(dead_code)] Vec<OwnedMutexGuard<()>>);

impl StockLocks {
    /// Waits for a turn on every row `deltas` write. Rows are taken in one order (sorted), so
    /// two placements each waiting for a row the other holds cannot happen.
    pub(super) async fn take(&self, deltas: &[StockDelta]) -> Held {
        let rows: BTreeSet<Row> = deltas
            .iter()
            .map(|d| (d.warehouse.get(), d.product.get()))
            .collect();
        let turns: Vec<Arc<Turn<()>>> = {
            let mut map = self.rows.lock().unwrap_or_else(PoisonError::into_inner);
            rows.iter()
                .map(|row| Arc::clone(map.entry(*row).or_default()))
                .collect()
        };
        let mut held = Vec::with_capacity(turns.len());
        for turn in turns {
            held.push(turn.lock_owned().await);
        }
        Held(held)
    }
}
