//! The outbox on SurrealDB: one record per fulfilment step, holding all the step's effects.
//!
//! A record per effect cost a sequence draw and a record created, then a record deleted (with
//! SurrealDB's reference purge) when performed: a step of 500 orders wrote 1,011 records and an
//! outbox pass deleted as many. Now a step writes one `outbox_step` record whose id `s` is
//! the next number after the outbox's head (`outbox_head`, moved in the step's own
//! transaction: a `sequence::nextval` was a commit apart, with its disk sync, per step), and
//! its `i`-th effect is entry `s · 2²⁰ + i`: ids increase in commit order and are never
//! reused.
//!
//! A record lists the indexes of its effects not yet performed (`pending`, since schema 16),
//! and a pass removes the ones it performed with `array::complement`: it filtered `entries`
//! with a SurrealQL closure before, one call per effect, 6% of the shop's CPU under load.
//! A record left with none pending stays until a sweep deletes such records, every
//! [`SWEEP_EVERY`] marks: SurrealDB 3.3 walks every table's field definitions (for references
//! to purge) in each transaction that deletes a record, ~0.3 ms, which a delete per pass paid.
//!
//! Entries written one per record (`outbox:n`, before schema 14) are moved into step records
//! by migration 14, keeping their ids (`n` is entry `n mod 2²⁰` of step `⌊n / 2²⁰⌋`): the
//! links remember the last id they took, so an id changed upwards would send a command again.
//! Steps numbered later have larger ids than every one of those: `⌊n / 2²⁰⌋ ≤ n` < the
//! sequence those were drawn from, and migration 15 starts the head past the sequence.

use std::collections::BTreeMap;

use surrealdb::types::SurrealValue;
use weshop_core::{
    fulfilment::Effect,
    store::{OutboxEntry, StoreError},
};

use super::{
    SurrealStore,
    query::{Sql, upsert},
    rows::int,
};
use crate::documents::{EffectDoc, from_json, to_json};

/// Effects per step record: an entry's index takes the low 20 bits of its id.
const PER_STEP: u64 = 1 << 20;

/// Marks of performed effects between two sweeps of the records left with none pending: the
/// outbox is read whole by every pass, and records waiting for a sweep are read with it.
pub(super) const SWEEP_EVERY: u64 = 16;

/// One effect of a step record: its index in the step and its document.
#[derive(Clone, SurrealValue)]
pub(super) struct StepEntry {
    i: i64,
    doc: String,
}

/// A step record as read.
#[derive(SurrealValue)]
struct StepRow {
    s: i64,
    entries: Vec<StepEntry>,
    pending: Vec<i64>,
}

/// The entries of one step record performed.
#[derive(SurrealValue)]
struct DoneInStep {
    s: i64,
    done: Vec<i64>,
}

/// A step's effects as the records that will hold them (one unless a step has more than
/// 2²⁰ effects).
pub(super) fn step_records(effects: &[Effect]) -> Vec<Vec<StepEntry>> {
    effects
        .chunks(PER_STEP as usize)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .map(|(i, effect)| StepEntry {
                    i: i as i64,
                    doc: to_json(&EffectDoc::from(effect)),
                })
                .collect()
        })
        .collect()
}

/// A step record to create: its number after the head as it was, its entries and their
/// indexes (all pending).
#[derive(Clone, SurrealValue)]
struct NewStep {
    k: i64,
    entries: Vec<StepEntry>,
    pending: Vec<i64>,
}

/// Appends the statements that move the outbox's head past the step records and create
/// them; the result of the one returned is the head moved, the last record's number.
pub(super) fn push_append(sql: &mut Sql, records: &[Vec<StepEntry>]) -> usize {
    let steps: Vec<NewStep> = (1..)
        .zip(records)
        .map(|(k, entries)| NewStep {
            k,
            entries: entries.clone(),
            pending: entries.iter().map(|e| e.i).collect(),
        })
        .collect();
    let n = sql.var(steps.len() as i64);
    let steps = sql.var(steps);
    sql.push(&format!(
        "LET $outbox_last = {}",
        upsert(
            "outbox_head:head",
            &format!("last += {n}"),
            &format!("last = {n}"),
            "VALUE last"
        )
    ));
    sql.push(&format!(
        "FOR $s IN {steps} {{ CREATE type::record('outbox_step', $outbox_last - {n} + $s.k) \
         SET entries = $s.entries, pending = $s.pending RETURN NONE }}"
    ));
    // An expression, not RETURN: a RETURN would end the block here.
    sql.push("$outbox_last")
}

/// The entry ids of the step records created, in effect order (one per effect of
/// [`step_records`]), from the last record's number.
pub(super) fn entry_ids(records: &[Vec<StepEntry>], last: i64) -> Result<Vec<u64>, StoreError> {
    let first = last - records.len() as i64 + 1;
    let mut ids = Vec::new();
    for (entries, step) in records.iter().zip(first..) {
        let base = int::<u64>(step, "outbox step")?
            .checked_mul(PER_STEP)
            .ok_or_else(|| StoreError::Corrupt(format!("outbox step {step} out of range")))?;
        ids.extend((0..entries.len() as u64).map(|i| base + i));
    }
    Ok(ids)
}

/// Appends the statement that removes the entries performed from their records' pending
/// lists (a record left with none stays until a sweep).
pub(super) fn push_done(sql: &mut Sql, done: &[u64]) {
    let mut steps: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for id in done {
        steps
            .entry(id / PER_STEP)
            .or_default()
            .push((id % PER_STEP) as i64);
    }
    let groups: Vec<DoneInStep> = steps
        .into_iter()
        // s = id / 2²⁰ < 2⁴⁴: it fits.
        .map(|(s, done)| DoneInStep { s: s as i64, done })
        .collect();
    let g = sql.var(groups);
    sql.push(&format!(
        "FOR $g IN {g} {{ UPDATE type::record('outbox_step', $g.s) \
         SET pending = array::complement(pending, $g.done) RETURN NONE }}"
    ));
}

/// Appends the statement that deletes the step records with nothing left pending.
pub(super) fn push_sweep(sql: &mut Sql) {
    sql.push("DELETE outbox_step WHERE pending = [] RETURN NONE");
}

impl SurrealStore {
    /// The outbox, oldest first.
    pub(super) async fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut sql = Sql::default();
        sql.push(
            "SELECT record::id(id) AS s, entries, pending FROM outbox_step WHERE pending != []",
        );
        let rows: Vec<StepRow> = self.read(sql).await?;
        let mut entries = Vec::new();
        for row in rows {
            let base = int::<u64>(row.s, "outbox step")?.saturating_mul(PER_STEP);
            let pending: std::collections::HashSet<i64> = row.pending.into_iter().collect();
            for entry in row.entries.into_iter().filter(|e| pending.contains(&e.i)) {
                entries.push(OutboxEntry {
                    id: base + int::<u64>(entry.i, "outbox entry")?,
                    effect: from_json::<EffectDoc>(&entry.doc)?.parse()?,
                });
            }
        }
        entries.sort_by_key(|e| e.id);
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use weshop_core::{domain::UserId, notify::Notification, store::OrderStore};

    use super::*;

    /// A welcome to user `n`: an effect that names its entry.
    fn effect(n: i64) -> Effect {
        Effect::Notify {
            user: UserId::new(n).unwrap(),
            notification: Notification::Welcome,
        }
    }

    /// A step whose effects were all performed stays, with none pending, until the sweep of
    /// every [`SWEEP_EVERY`]-th mark deletes it; marking effects already performed, or swept,
    /// changes nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn steps_performed_are_swept() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        let step = store
            .commit_step(weshop_core::store::StepCommit {
                effects: vec![effect(1), effect(2)],
                ..Default::default()
            })
            .await
            .unwrap();
        let ids: Vec<u64> = step.iter().map(|e| e.id).collect();
        let records = || async {
            let mut sql = Sql::default();
            sql.push("SELECT VALUE id FROM outbox_step");
            let ids: Vec<surrealdb::types::RecordId> = store.read(sql).await.unwrap();
            ids.len()
        };
        let mark = |done: Vec<u64>| {
            store.commit_step(weshop_core::store::StepCommit {
                done,
                ..Default::default()
            })
        };
        mark(ids[..1].to_vec()).await.unwrap();
        assert_eq!(store.outbox().await.unwrap(), step[1..].to_vec());
        for _ in 1..SWEEP_EVERY - 1 {
            mark(ids.clone()).await.unwrap();
        }
        assert!(store.outbox().await.unwrap().is_empty());
        assert_eq!(records().await, 1, "kept until the sweep");
        mark(ids.clone()).await.unwrap();
        assert_eq!(records().await, 0, "swept");
        mark(ids.clone()).await.unwrap();
        assert!(store.outbox().await.unwrap().is_empty());
    }

    /// An outbox written one record per entry (schema 13) keeps its entries and their ids
    /// through migration 14, beside steps written since; a later step gets larger ids.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migration_14_moves_the_outbox_keeping_ids() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        // Back to schema 13, with entries written the old way: two in the first step's id
        // range, one in the second's, and their sequence drawn past the first two.
        let mut sql = Sql::default();
        for id in [7_i64, 9, 1_048_576 + 3] {
            let doc = sql.var(to_json(&EffectDoc::from(&effect(id))));
            sql.push(&format!(
                "CREATE type::record('outbox', {id}) SET doc = {doc}"
            ));
        }
        sql.push("FOR $i IN 0..10 { sequence::nextval('outbox_seq') }");
        // What migration 16 defined goes too: migration 14 writes step records without it.
        sql.push("REMOVE FIELD IF EXISTS pending ON outbox_step");
        sql.push("UPSERT meta:schema SET version = 13");
        assert!(store.run(&sql).await.is_ok(), "schema 13 written");
        store.migrate().await.unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            SurrealStore::SCHEMA_VERSION
        );

        let moved = store.outbox().await.unwrap();
        let ids: Vec<u64> = moved.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![7, 9, 1_048_579]);
        for entry in &moved {
            assert_eq!(entry.effect, effect(entry.id as i64));
        }
        let mut sql = Sql::default();
        sql.push("SELECT VALUE id FROM outbox");
        let left: Vec<surrealdb::types::RecordId> = store.read(sql).await.unwrap();
        assert!(left.is_empty(), "the old records are gone");

        let later = store
            .commit_step(weshop_core::store::StepCommit {
                effects: vec![effect(1)],
                done: vec![7, 1_048_579],
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            later[0].id > 1_048_579,
            "a later step's id: {}",
            later[0].id
        );
        let ids: Vec<u64> = store.outbox().await.unwrap().iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![9, later[0].id]);
    }
}
