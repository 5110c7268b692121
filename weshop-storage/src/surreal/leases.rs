//! Leases: one `lease` record per name (holder, term, until) and one `lease_term` record
//! (term, commits). A claim reads the lease, decides as [`weshop_core::lease::decide`] says,
//! and writes the outcome in a transaction that first checks the record is still what was
//! read (else it reads and decides again), so of two racing claims one wins.
//!
//! A fenced commit checks the term *and writes the `lease_term` record* (`commits += 1`) in
//! its own transaction: a takeover, which writes that record too, then conflicts with it
//! instead of slipping past a read-only check. A renewal writes only `lease`: were the term on
//! the record renewals write, every commit running longer than the renewal period would lose
//! to a renewal, every time (found with 200 orders in flight: an outbox pass marking 350
//! entries done took 4 s on a debug-built server and was retried for minutes).

use async_trait::async_trait;
use surrealdb::types::SurrealValue;
use weshop_core::{
    domain::Timestamp,
    lease::{Fence, Lease, LeaseClaim, decide},
    store::{LeaseStore, StoreError},
};

use super::{SurrealStore, TxError, backend, message, query::Sql};
use crate::corrupt;

/// How often a claim reads and decides again after the record changed under it.
const CLAIM_ATTEMPTS: usize = 20;

#[derive(SurrealValue)]
struct LeaseRow {
    holder: String,
    term: i64,
    until: i64,
}

fn lease_of(name: &str, row: LeaseRow) -> Result<Lease, StoreError> {
    Ok(Lease {
        name: name.to_string(),
        holder: row.holder,
        term: u64::try_from(row.term).map_err(corrupt)?,
        until: Timestamp::from_millis(row.until.max(0) as u64),
    })
}

fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Adds to `sql` the statements that refuse (THROW `fenced:…`) unless the lease `fence` names
/// is at its term, and that write the lease record (see the module's doc).
pub(super) fn push_fence(sql: &mut Sql, fence: &Fence) {
    let n = sql.var(fence.lease.clone());
    let t = sql.var(int(fence.term));
    sql.push(&format!(
        "LET $fence = type::record('lease_term', {n}).term"
    ));
    sql.push(&format!(
        "IF $fence != {t} {{ THROW 'fenced:lease ' + {n} + ' is at term ' + <string>$fence + ', not ' + <string>{t} }}"
    ));
    sql.push(&format!(
        "UPDATE type::record('lease_term', {n}) SET commits += 1 RETURN NONE"
    ));
}

/// The `fenced:` message of a failed block, if that is why it failed.
pub(super) fn fenced(error: &TxError) -> Option<StoreError> {
    match error {
        TxError::Thrown(text) => text
            .find("fenced:")
            .map(|at| StoreError::Fenced(text[at + "fenced:".len()..].to_string())),
        _ => None,
    }
}

#[async_trait]
impl LeaseStore for SurrealStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<LeaseClaim, StoreError> {
        for _ in 0..CLAIM_ATTEMPTS {
            let current = self.lease(name).await?;
            let claim = decide(current.as_ref(), name, holder, now, ttl);
            let LeaseClaim::Granted(granted) = &claim else {
                return Ok(claim);
            };
            let mut sql = Sql::default();
            let n = sql.var(name.to_string());
            sql.push("BEGIN TRANSACTION");
            sql.push(&format!("LET $l = type::record('lease', {n}).*"));
            match &current {
                None => sql.push("IF $l != NONE { THROW 'changed' }"),
                Some(seen) => {
                    let h = sql.var(seen.holder.clone());
                    let t = sql.var(int(seen.term));
                    let u = sql.var(int(seen.until.millis()));
                    sql.push(&format!(
                        "IF $l = NONE OR $l.holder != {h} OR $l.term != {t} OR $l.until != {u} \
                         {{ THROW 'changed' }}"
                    ))
                }
            };
            let h = sql.var(granted.holder.clone());
            let t = sql.var(int(granted.term));
            let u = sql.var(int(granted.until.millis()));
            sql.push(&format!(
                "UPSERT type::record('lease', {n}) SET holder = {h}, term = {t}, until = {u} \
                 RETURN NONE"
            ));
            // A new term (not a renewal): fenced commits of the old one conflict with this.
            if current
                .as_ref()
                .is_none_or(|seen| seen.term != granted.term)
            {
                sql.push(&format!(
                    "UPSERT type::record('lease_term', {n}) SET term = {t} RETURN NONE"
                ));
            }
            sql.push("COMMIT TRANSACTION");
            match self.transact(|| sql.clone()).await {
                Ok(_) => return Ok(claim),
                Err(TxError::Thrown(text)) if text.contains("changed") => continue,
                Err(e) => return Err(backend(message(e))),
            }
        }
        Err(StoreError::Conflict(format!(
            "lease {name:?} kept changing while it was claimed"
        )))
    }

    async fn release_lease(&self, name: &str, holder: &str, term: u64) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let n = sql.var(name.to_string());
        let h = sql.var(holder.to_string());
        let t = sql.var(int(term));
        sql.push(&format!(
            "UPDATE type::record('lease', {n}) SET until = 0 WHERE holder = {h} AND term = {t} \
             RETURN NONE"
        ));
        self.transact(|| sql.clone())
            .await
            .map(|_| ())
            .map_err(|e| backend(message(e)))
    }

    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        let mut sql = Sql::default();
        let n = sql.var(name.to_string());
        sql.push(&format!(
            "SELECT holder, term, until FROM type::record('lease', {n})"
        ));
        let rows: Vec<LeaseRow> = self.read(sql).await?;
        rows.into_iter()
            .next()
            .map(|r| lease_of(name, r))
            .transpose()
    }
}
