//! Group commit of placements: checkouts that arrive while a placement commits wait, and
//! then commit together, in one block.
//!
//! A placement alone was one block of ~10 statements (2–3 ms of the engine's work on
//! surrealkv, half of it the block's own cost: parsing, beginning, the change journal, the
//! commit and its fsync), and placements of one product took turns on its stock rows, so
//! under the orders bench's 100 concurrent checkouts a placement waited ~50 ms (p50) for
//! its commit. Together, a batch pays the block's cost once and takes the turns once.
//!
//! A batch is one read of its idempotency keys (none may be used), one `FOR` over the placements,
//! in the order they arrived, each checked as it would be alone (its cart unchanged), one bulk
//! insert each of the keys and of the orders, and its stock deltas applied after, checked as one.
//! The first refusal aborts the whole block, and then each placement of the batch is placed alone,
//! so every one gets the answer it would have had without the others (a used key, a changed cart,
//! no stock). Each placement's stock as its own write left it (see [`Placed::Created`]) is the
//! batch's, minus what the placements after it reserved.
//!
//! The batches are committed by a [`GroupCommit`] queue of their own.

use std::{collections::BTreeMap, slice};

use futures::future::join_all;
use surrealdb::types::{Array, RecordId, SurrealValue};
use tokio::sync::oneshot;
use weshop_core::{
    domain::{Cart, ProductId, StockDelta, UserId},
    store::{OrderStore, PlaceOrder, Placed, StoreError},
};

use super::{
    ProductStock, SurrealStore, TxError,
    carts::cart_lines,
    catalog::stock_written,
    changes::{Touched, push_change},
    group_commit::GroupCommit,
    orders::OrderWrite,
    query::Sql,
};
use crate::{CART_CHANGED, corrupt};

/// Most placements committed in one block: a refusal costs the batch a block for nothing
/// before each is placed alone.
const MAX_BATCH: usize = 64;

/// Placements waiting to be committed together.
pub(super) type Placements = GroupCommit<Waiting>;

/// A placement and where its answer goes.
pub(super) struct Waiting {
    user: UserId,
    placement: PlaceOrder,
    answer: oneshot::Sender<Result<Placed, StoreError>>,
}

/// One placement's cart check, as the batch block binds it.
#[derive(Clone, SurrealValue)]
struct CartCheck {
    user: i64,
    /// The cart the order was priced from, as stored.
    lines: Vec<Vec<i64>>,
}

/// A `checkout_key` record as the batch block inserts it.
#[derive(Clone, SurrealValue)]
struct KeyInsert {
    id: RecordId,
    placed: i64,
    fingerprint: String,
}

impl SurrealStore {
    /// Places an order with whatever placements commit next (see the module docs).
    pub(super) async fn place(
        &self,
        user: UserId,
        placement: PlaceOrder,
    ) -> Result<Placed, StoreError> {
        let (answer, answered) = oneshot::channel();
        let start = self.placements.push(Waiting {
            user,
            placement,
            answer,
        });
        if start {
            let store = self.clone();
            tokio::spawn(async move {
                store
                    .placements
                    .drain(MAX_BATCH, |batch| store.commit_placements(batch))
                    .await
            });
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::Backend(
                "the placement was abandoned (its committing task ended)".into(),
            ))
        })
    }

    /// Commits one batch of placements and answers each.
    async fn commit_placements(&self, batch: Vec<Waiting>) {
        let answers = if batch.len() == 1 {
            vec![self.place_alone(&batch[0]).await]
        } else {
            match self.place_together(&batch).await {
                Ok(Ok(stocks)) => batch
                    .iter()
                    .zip(stocks)
                    .map(|(w, stock)| Ok(created(w, stock)))
                    .collect(),
                // Committed, but what it left was not understood.
                Ok(Err(error)) => batch.iter().map(|_| Err(error.clone())).collect(),
                // Refused: each gets the answer it gets alone.
                Err(_) => join_all(batch.iter().map(|w| self.place_alone(w))).await,
            }
        };
        for (waiting, answer) in batch.into_iter().zip(answers) {
            // A caller that gave up is not waiting for its answer.
            let _ = waiting.answer.send(answer);
        }
    }

    /// Commits one placement in a block of its own.
    async fn place_alone(&self, waiting: &Waiting) -> Result<Placed, StoreError> {
        match self.place_together(slice::from_ref(waiting)).await {
            Ok(Ok(mut stock)) => Ok(created(waiting, stock.pop().unwrap_or_default())),
            Ok(Err(error)) => Err(error),
            Err(error) => self.refused(waiting, error).await,
        }
    }

    /// What a placement refused alone answers.
    async fn refused(&self, waiting: &Waiting, error: TxError) -> Result<Placed, StoreError> {
        match error {
            TxError::Thrown(text) if text == "cart_changed" => {
                Err(StoreError::Conflict(CART_CHANGED.into()))
            }
            TxError::Thrown(text) if text == "idempotent" => {
                let key = &waiting.placement.idempotency_key;
                let order = self
                    .order_for_key(waiting.user, key)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("idempotency key without order".into()))?;
                Ok(Placed::Existing(order))
            }
            error => Err(Self::failure(error)),
        }
    }

    /// Commits `batch` in one block; each one's products' stock as its own write left it,
    /// in the same order (an inner error: committed, but the stock read back was not
    /// understood). Writes end in `RETURN NONE`: nobody reads the rows back.
    async fn place_together(
        &self,
        batch: &[Waiting],
    ) -> Result<Result<Vec<BTreeMap<ProductId, ProductStock>>, StoreError>, TxError> {
        let deltas: Vec<StockDelta> = batch
            .iter()
            .flat_map(|w| w.placement.reservations.iter().copied())
            .collect();
        let turns = self.stock_locks.take(&deltas).await;
        // A placement empties its cart, and returns its products' stock as it leaves it.
        let emptying: Vec<_> = batch
            .iter()
            .map(|w| self.carts.writing(w.user.get()))
            .collect();
        let reserving = self.stock_writing(&deltas);
        let mut stock_at = 0;
        // A batch refused is placed again one by one, which names each refusal.
        let named = batch.len() == 1;
        let mut result = self
            .transact_moving(&deltas, named, |writes| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                // No key used before: one read for the batch. (A key twice in the batch
                // fails its second insert, and then each is placed alone.)
                let key_ids: Vec<RecordId> = batch
                    .iter()
                    .map(|w| {
                        let key = Array::from(vec![
                            w.user.get().into_value(),
                            w.placement.idempotency_key.clone().into_value(),
                        ]);
                        RecordId::new("checkout_key", key)
                    })
                    .collect();
                let keys = sql.var(key_ids.clone());
                sql.push(&format!(
                    "IF (SELECT VALUE id FROM {keys}) != [] {{ THROW 'idempotent' }}"
                ));
                // The cart must still be the one the order was priced from: it is emptied,
                // and the block refused if what was there differs (one statement, not a read
                // and a write: each statement is ~0.2 ms of the engine's work). Emptied, not
                // deleted: SurrealDB 3.3 walks every table's field definitions (looking for
                // references to purge) in each transaction that deletes a record, ~0.3 ms.
                let carts = sql.var(
                    batch
                        .iter()
                        .map(|w| CartCheck {
                            user: w.user.get(),
                            lines: cart_lines(&w.placement.cart),
                        })
                        .collect::<Vec<_>>(),
                );
                sql.push(&format!(
                    "FOR $p IN {carts} {{ \
                     IF ((UPDATE type::record('cart', $p.user) SET lines = [] RETURN BEFORE)[0]\
                     .lines ?? []) \
                     != $p.lines {{ THROW 'cart_changed' }} }}"
                ));
                // The keys and the orders, each in one bulk insert (a `CREATE` per record in
                // the `FOR` cost about twice the engine's CPU); an existing record fails it.
                let key_rows = sql.var(
                    batch
                        .iter()
                        .zip(key_ids)
                        .map(|(w, id)| KeyInsert {
                            id,
                            placed: w.placement.order.id().get(),
                            fingerprint: w.placement.fingerprint.clone(),
                        })
                        .collect::<Vec<_>>(),
                );
                let orders = sql.var(
                    batch
                        .iter()
                        .map(|w| OrderWrite::new(&w.placement.order))
                        .collect::<Vec<_>>(),
                );
                sql.push(&format!("INSERT INTO checkout_key {key_rows} RETURN NONE"));
                sql.push(&format!("INSERT INTO customer_order {orders} RETURN NONE"));
                Self::push_stock(&mut sql, writes);
                // The stock as this block leaves it, for the callers (see `Placed`).
                stock_at = Self::push_stock_read(&mut sql, &deltas);
                let touched = Touched::default()
                    .orders(batch.iter().map(|w| &w.placement.order))
                    .stock(&deltas);
                push_change(&mut sql, &self.feed, &touched);
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        drop(turns);
        for writing in emptying {
            super::written(writing, &result, || Some(Cart::new()));
        }
        let stock = stock_written(reserving, &mut result, Some(stock_at));
        result?;
        Ok(stock.and_then(|stock| each_as_written(batch, stock)))
    }
}

/// What a committed placement answers.
fn created(waiting: &Waiting, stock: BTreeMap<ProductId, ProductStock>) -> Placed {
    Placed::Created {
        order: waiting.placement.order.clone(),
        stock,
    }
}

/// Each placement's products' stock as its own write left it: the batch's, with the deltas
/// of the placements after it taken back.
fn each_as_written(
    batch: &[Waiting],
    left: BTreeMap<ProductId, ProductStock>,
) -> Result<Vec<BTreeMap<ProductId, ProductStock>>, StoreError> {
    let mut now = left;
    let mut each = Vec::with_capacity(batch.len());
    for Waiting { placement, .. } in batch.iter().rev() {
        let own: BTreeMap<ProductId, ProductStock> = placement
            .reservations
            .iter()
            .filter_map(|d| now.get(&d.product).map(|s| (d.product, s.clone())))
            .collect();
        each.push(own);
        for delta in &placement.reservations {
            let rows = now.get_mut(&delta.product).ok_or_else(|| {
                StoreError::Corrupt(format!("no stock read back for {}", delta.product))
            })?;
            let (_, stock) = rows
                .iter_mut()
                .find(|(w, _)| *w == delta.warehouse)
                .ok_or_else(|| StoreError::Corrupt("a reserved row was not read back".into()))?;
            let undo = StockDelta {
                on_hand: -delta.on_hand,
                incoming: -delta.incoming,
                reserved: -delta.reserved,
                ..*delta
            };
            *stock = undo
                .apply(*stock)
                .ok_or_else(|| corrupt("stock before a placement would be negative"))?;
        }
    }
    each.reverse();
    Ok(each)
}
