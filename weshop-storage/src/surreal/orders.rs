//! Orders, checkout keys, fulfilment steps, the outbox and link states.

use std::{collections::BTreeSet, sync::atomic::Ordering};

use async_trait::async_trait;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use surrealdb::types::{RecordId, SurrealValue};
use weshop_core::{
    domain::{Order, OrderId, OrderStatus, ProductId, UserId},
    store::{OrderStore, OutboxEntry, PlaceOrder, Placed, StepCommit, StoreError},
};

use super::{
    SurrealStore, backend,
    catalog::stock_written,
    changes::{Touched, push_change},
    message, outbox,
    query::{Sql, put},
    rows::{DocRow, LinkRow, PlacedRow, orders_from},
};
use crate::{
    corrupt,
    documents::{OrderDoc, to_json},
};

/// One order written, bound as one value (an array of them for a fulfilment step's updates
/// and for a placement batch's bulk `INSERT`, which takes the record id from the row).
#[derive(Clone, SurrealValue)]
pub(super) struct OrderWrite {
    id: RecordId,
    customer: i64,
    status: String,
    stage: String,
    version: i64,
    products: Vec<i64>,
    doc: String,
}

impl OrderWrite {
    pub(super) fn new(order: &Order) -> Self {
        OrderWrite {
            id: RecordId::new("customer_order", order.id().get()),
            customer: order.customer().get(),
            status: order.status().as_str().to_string(),
            stage: stage_of(order.status()).to_string(),
            version: order.version() as i64,
            products: products_of(order),
            doc: to_json(&OrderDoc::from(order)),
        }
    }
}

/// Where an order is, as the `order_stage` index has it: `open` while it waits to be served
/// (placed, waiting for stock), `moving` from packing until it is delivered, `ended` after.
/// The index is on this, not on the status, which changes six times on the way (each a
/// deletion and an insertion in the index, with SurrealDB 3.3's admission check and doc-id
/// lookup for each): without the status's index the orders bench used 15% less CPU per order.
pub(super) fn stage_of(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Placed | OrderStatus::WaitingForStock => "open",
        OrderStatus::Delivered | OrderStatus::Cancelled | OrderStatus::Failed => "ended",
        OrderStatus::Packing
        | OrderStatus::Packed
        | OrderStatus::TruckRequested
        | OrderStatus::Loading
        | OrderStatus::Loaded
        | OrderStatus::Delivering => "moving",
    }
}

/// The products an order has lines of (indexed, for sellers' sales).
pub(super) fn products_of(order: &Order) -> Vec<i64> {
    let mut ids: Vec<i64> = order.lines().iter().map(|l| l.product.get()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The statement that reads the orders in `stages` (a bound array, through the `order_stage`
/// index) whose status is in `statuses` (another).
fn orders_in_stages(stages: &str, statuses: &str) -> String {
    format!(
        "SELECT doc, record::id(id) AS oid FROM customer_order \
         WHERE stage IN {stages} AND status IN {statuses} ORDER BY oid ASC"
    )
}

/// A payment journal record and its position.
#[derive(Clone, SurrealValue)]
struct JournalRow {
    id: i64,
    line: String,
}

#[async_trait]
impl OrderStore for SurrealStore {
    async fn allocate_order_id(&self) -> Result<OrderId, StoreError> {
        OrderId::new(self.next_id("order_seq").await?).map_err(corrupt)
    }

    /// Placements commit in batches (see placements.rs).
    async fn place_order(&self, user: UserId, placement: PlaceOrder) -> Result<Placed, StoreError> {
        self.place(user, placement).await
    }

    async fn key_fingerprint(&self, user: UserId, key: &str) -> Result<Option<String>, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        let k = sql.var(key.to_string());
        sql.push(&format!(
            "SELECT VALUE fingerprint FROM type::record('checkout_key', [{u}, {k}])"
        ));
        let rows: Vec<Option<String>> = self.read(sql).await?;
        Ok(rows.into_iter().next().flatten())
    }

    async fn order_for_key(&self, user: UserId, key: &str) -> Result<Option<Order>, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        let k = sql.var(key.to_string());
        sql.push(&format!(
            "SELECT placed FROM type::record('checkout_key', [{u}, {k}])"
        ));
        let rows: Vec<PlacedRow> = self.read(sql).await?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(row) => {
                let id = OrderId::new(row.placed).map_err(corrupt)?;
                self.order(id).await
            }
        }
    }

    async fn order(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(id.get());
        sql.push(&format!(
            "SELECT doc FROM type::record('customer_order', {v})"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        Ok(orders_from(rows)?.into_iter().next())
    }

    /// One read of every record (a point read each cost ~60 µs of the engine's CPU).
    async fn orders_by_id(&self, ids: &[OrderId]) -> Result<Vec<Order>, StoreError> {
        let mut ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        let records: Vec<RecordId> = ids
            .into_iter()
            .map(|id| RecordId::new("customer_order", id))
            .collect();
        let v = sql.var(records);
        sql.push(&format!("SELECT doc FROM {v}"));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn orders_of(&self, customer: UserId) -> Result<Vec<Order>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(customer.get());
        sql.push(&format!(
            "SELECT doc, record::id(id) AS oid FROM customer_order WHERE customer = {v} \
             ORDER BY oid DESC"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn orders_with_products(
        &self,
        products: &[ProductId],
        limit: usize,
    ) -> Result<Vec<Order>, StoreError> {
        if products.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let mut sql = Sql::default();
        let ids: Vec<i64> = products.iter().map(|p| p.get()).collect();
        let v = sql.var(ids);
        let n = sql.var(i64::try_from(limit).unwrap_or(i64::MAX));
        sql.push(&format!(
            "SELECT doc, record::id(id) AS oid FROM customer_order \
             WHERE products CONTAINSANY {v} ORDER BY oid DESC LIMIT {n}"
        ));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn orders_in(&self, statuses: &[OrderStatus]) -> Result<Vec<Order>, StoreError> {
        let mut sql = Sql::default();
        let names: Vec<String> = statuses.iter().map(|s| s.as_str().to_string()).collect();
        let stages: BTreeSet<&str> = statuses.iter().map(|s| stage_of(*s)).collect();
        let v = sql.var(names);
        let stages = sql.var(stages.into_iter().map(str::to_string).collect::<Vec<_>>());
        sql.push(&orders_in_stages(&stages, &v));
        let rows: Vec<DocRow> = self.read(sql).await?;
        orders_from(rows)
    }

    async fn commit_step(&self, step: StepCommit) -> Result<Vec<OutboxEntry>, StoreError> {
        let records = outbox::step_records(&step.effects);
        let orders: Vec<OrderWrite> = step
            .orders
            .iter()
            .map(|(order, _)| OrderWrite::new(order))
            .collect();
        let ids: Vec<RecordId> = orders.iter().map(|o| o.id.clone()).collect();
        // The versions the writer read: another writer's change in between is a conflict.
        let expected: Vec<i64> = step.orders.iter().map(|(_, read)| *read as i64).collect();
        let mut created = None;
        let _turn = match step.fence {
            Some(_) => Some(self.fenced.lock().await),
            None => None,
        };
        // After the fence's turn, never before: placements take stock turns only, so no two
        // writers can each hold a turn the other waits for.
        let _rows = self.stock_locks.take(&step.stock).await;
        let moving = self.stock_writing(&step.stock);
        let mut stock_at = None;
        let sweep = !step.done.is_empty()
            && self.outbox_marks.fetch_add(1, Ordering::Relaxed) % outbox::SWEEP_EVERY
                == outbox::SWEEP_EVERY - 1;
        // Each kind of write is one statement over one bound array: SurrealDB copies every
        // variable of the query into each statement it runs, so statements and variables per
        // order and per entry made a step of hundreds of orders cost their square (a step of
        // 500 orders and 1,011 outbox entries took 1.4 s on surrealkv, one of 2,000 orders 31 s).
        let mut result = self
            .transact_moving(&step.stock, true, |writes| {
                let mut sql = Sql::default();
                sql.push("BEGIN TRANSACTION");
                if let Some(fence) = &step.fence {
                    super::leases::push_fence(&mut sql, fence);
                }
                if !orders.is_empty() {
                    // Every order's version is checked by one read of them all, in the step's
                    // order (a missing order is missing from it), before the plain updates:
                    // ~30% less CPU per order than checking each inside its update (90 against
                    // 125 µs per order in blocks of 100, mem:// and surrealkv alike). The read
                    // is in the writing transaction, so a writer in between conflicts at the
                    // commit. A step never changes an order's customer or products (its lines).
                    let ids = sql.var(ids.clone());
                    let expected = sql.var(expected.clone());
                    let writes = sql.var(orders.clone());
                    sql.push(&format!("LET $found = (SELECT VALUE version FROM {ids})"));
                    sql.push(&format!(
                        "IF $found != {expected} {{ THROW 'conflict:an order of the step \
                         changed meanwhile or does not exist' }}"
                    ));
                    // The whole record as written (its customer and products unchanged, so
                    // their indexes are not touched): `CONTENT` cost ~32 µs of the engine's
                    // CPU per order against ~36 for `SET` of the three fields that change,
                    // each field's expression being one more evaluation.
                    sql.push(&format!(
                        "FOR $o IN {writes} {{ UPDATE $o.id CONTENT $o RETURN NONE }}"
                    ));
                }
                Self::push_stock(&mut sql, writes);
                if !step.stock.is_empty() {
                    stock_at = Some(Self::push_stock_read(&mut sql, &step.stock));
                }
                created = (!records.is_empty()).then(|| outbox::push_append(&mut sql, &records));
                if !step.done.is_empty() {
                    outbox::push_done(&mut sql, &step.done);
                    if sweep {
                        outbox::push_sweep(&mut sql);
                    }
                }
                for (name, state) in &step.links {
                    let n = sql.var(name.clone());
                    let s = sql.var(BASE64.encode(state));
                    sql.push(&put(
                        &format!("type::record('link', {n})"),
                        &format!("state = {s}"),
                    ));
                }
                let touched = Touched::default()
                    .orders(step.orders.iter().map(|(order, _)| order))
                    .stock(&step.stock);
                push_change(&mut sql, &self.feed, &touched);
                sql.push("COMMIT TRANSACTION");
                sql
            })
            .await;
        stock_written(moving, &mut result, stock_at)?;
        let mut response =
            result.map_err(|e| super::leases::fenced(&e).unwrap_or_else(|| Self::failure(e)))?;
        let last: i64 = match created {
            Some(index) => {
                let last: Option<i64> = response.take(index).map_err(backend)?;
                last.ok_or_else(|| backend("the outbox's head was not moved"))?
            }
            None => 0,
        };
        // One id per effect: the records hold every effect, in order.
        Ok(outbox::entry_ids(&records, last)?
            .into_iter()
            .zip(step.effects)
            .map(|(id, effect)| OutboxEntry { id, effect })
            .collect())
    }

    async fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_entries().await
    }

    async fn link_state(&self, link: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut sql = Sql::default();
        let v = sql.var(link.to_string());
        sql.push(&format!("SELECT state FROM type::record('link', {v})"));
        let rows: Vec<LinkRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| {
                BASE64
                    .decode(r.state)
                    .map_err(|e| StoreError::Corrupt(format!("link state: {e}")))
            })
            .transpose()
    }

    /// Appends at the position after the journal's head, moving the head in the same
    /// transaction: two appends (from two nodes) conflict on the head and one is retried, so
    /// records commit in position order and a reader never sees a later record before an
    /// earlier one (with ids drawn from a sequence, a lower id could commit after a higher one
    /// was read, and nodes replaying the journal would apply calls in different orders).
    async fn append_payment_records(&self, lines: &[String]) -> Result<(), StoreError> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut sql = Sql::default();
        // Each line with its place after the head (1, 2, …).
        let rows: Vec<JournalRow> = (1..)
            .zip(lines)
            .map(|(id, line)| JournalRow {
                id,
                line: line.clone(),
            })
            .collect();
        let n = sql.var(rows.len() as i64);
        let rows = sql.var(rows);
        sql.push("BEGIN TRANSACTION");
        // A journal written before the head existed starts after its last record.
        sql.push(
            "LET $last = payment_head:head.last ?? (SELECT VALUE record::id(id) FROM \
             payment_record ORDER BY id DESC LIMIT 1)[0] ?? 0",
        );
        sql.push(&put("payment_head:head", &format!("last = $last + {n}")));
        sql.push(&format!(
            "FOR $r IN {rows} {{ CREATE type::record('payment_record', $last + $r.id) \
             SET line = $r.line RETURN NONE }}"
        ));
        sql.push("COMMIT TRANSACTION");
        self.transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        Ok(())
    }

    async fn payment_records(&self) -> Result<Vec<String>, StoreError> {
        let mut sql = Sql::default();
        sql.push("SELECT VALUE line FROM payment_record ORDER BY id");
        self.read(sql).await
    }

    /// A range scan of the records' ids (their positions): only the new ones are read.
    async fn payment_records_after(&self, after: u64) -> Result<Vec<(u64, String)>, StoreError> {
        let mut sql = Sql::default();
        // An integer, formatted: a record range cannot take a bound variable.
        let from = after.saturating_add(1).min(i64::MAX as u64);
        sql.push(&format!(
            "SELECT record::id(id) AS id, line FROM payment_record:{from}.. ORDER BY id"
        ));
        let rows: Vec<JournalRow> = self.read(sql).await?;
        rows.into_iter()
            .map(|row| Ok((u64::try_from(row.id).map_err(corrupt)?, row.line)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Orders are found by stage through the `order_stage` index, not by a scan of every
    /// order ever placed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn orders_in_reads_the_stage_index() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        let plan = store
            .plan(&orders_in_stages(
                "['open']",
                "['placed', 'waiting_for_stock']",
            ))
            .await;
        assert!(plan.contains("IndexScan"), "{plan}");
        assert!(plan.contains("order_stage"), "{plan}");
    }
}
