//! Ids handed out from blocks claimed in the store, instead of one sequence draw per id.
//!
//! SurrealDB's user sequences keep their values dense: `sequence::nextval` commits (a disk
//! sync on surrealkv) for every value, one caller at a time. Under 100 concurrent checkouts
//! drawing an order id took 126 ms on average (1 s at worst), more than all of the
//! checkout's other queries together. Here a process claims a block of ids with one write
//! (an `id_block` record per kind of id, started by migration 15 past every value its
//! sequence gave) and hands them out from memory.
//!
//! Ids stay unique, across processes too (a claim is a transaction on the block's record;
//! two at once conflict and one is retried) and increase within a process. A process that
//! stops loses what is left of its block: gaps, as a failed checkout already leaves. With
//! several processes sharing a store, ids follow the order of their blocks' claims, not
//! quite the order of creation.

use std::collections::HashMap;
use std::ops::Range;

use weshop_core::store::StoreError;

use super::{SurrealStore, backend, message, query::Sql};

/// Ids claimed at once: a claim is a commit, so one in this many ids pays for one.
const BLOCK: i64 = 64;

/// The blocks of ids this process holds, by kind (the name of the sequence they replace).
#[derive(Default)]
pub(super) struct IdBlocks(tokio::sync::Mutex<HashMap<&'static str, Range<i64>>>);

impl SurrealStore {
    /// A fresh id of this kind (ids are never reused; a restart may leave gaps).
    pub(super) async fn next_id(&self, kind: &'static str) -> Result<i64, StoreError> {
        let ids = self.next_ids(kind, 1).await?;
        ids.first()
            .copied()
            .ok_or_else(|| backend(format!("no {kind} id")))
    }

    /// `count` fresh ids of this kind, increasing.
    pub(super) async fn next_ids(
        &self,
        kind: &'static str,
        count: usize,
    ) -> Result<Vec<i64>, StoreError> {
        let mut blocks = self.ids.0.lock().await;
        let block = blocks.entry(kind).or_insert(0..0);
        let mut ids = Vec::with_capacity(count);
        while ids.len() < count {
            if block.is_empty() {
                let wanted = i64::try_from(count - ids.len()).unwrap_or(i64::MAX);
                *block = self.claim(kind, wanted.max(BLOCK)).await?;
            }
            let take = (count - ids.len()).min(block.clone().count());
            ids.extend(block.by_ref().take(take));
        }
        Ok(ids)
    }

    /// Claims the next `size` ids of this kind.
    async fn claim(&self, kind: &str, size: i64) -> Result<Range<i64>, StoreError> {
        let mut sql = Sql::default();
        let k = sql.var(kind.to_string());
        let n = sql.var(size);
        sql.push(&format!(
            "UPDATE ONLY type::record('id_block', {k}) SET next += {n} RETURN VALUE next"
        ));
        let mut response = self
            .transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        let end: Option<i64> = response.take(0).map_err(backend)?;
        let end = end.ok_or_else(|| backend(format!("no id block for {kind}")))?;
        Ok(end - size..end)
    }
}
