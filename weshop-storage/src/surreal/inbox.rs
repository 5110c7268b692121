//! Inboxes: one `notification` record per entry (queryable `user`, `read` and `pending`
//! columns, the rest as documents) and one `notification_key` record per key, written in the
//! same block, so a key is filed once even when two notifies race.

use std::collections::{BTreeSet, HashSet};

use async_trait::async_trait;
use surrealdb::types::{RecordId, SurrealValue};
use weshop_core::{
    domain::{NotificationId, UserId},
    inbox::{InboxEntry, MailState, NewNotification},
    store::{InboxStore, StoreError},
};

use super::{SurrealStore, TxError, backend, message, query::Sql};
use crate::{
    corrupt,
    documents::{MailDoc, NotificationDoc, from_json, to_json},
};

#[derive(SurrealValue)]
struct EntryRow {
    nid: i64,
    read: bool,
    doc: String,
    mail: String,
}

const COLUMNS: &str = "record::id(id) AS nid, read, doc, mail";

fn entry_of(row: EntryRow) -> Result<InboxEntry, StoreError> {
    let id = NotificationId::new(row.nid).map_err(corrupt)?;
    let mail = from_json::<MailDoc>(&row.mail)?.into();
    from_json::<NotificationDoc>(&row.doc)?.parse(id, row.read, mail)
}

fn entries_of(rows: Vec<EntryRow>) -> Result<Vec<InboxEntry>, StoreError> {
    rows.into_iter().map(entry_of).collect()
}

/// One notification filed, as `file_notifications` binds it.
#[derive(Clone)]
struct FilingRow {
    key: String,
    id: i64,
    user: i64,
    pending: bool,
    doc: String,
    mail: String,
}

/// A `notification_key` record as the filing block inserts it.
#[derive(SurrealValue)]
struct KeyInsert {
    id: RecordId,
    notification: RecordId,
}

/// A `notification` record as the filing block inserts it.
#[derive(SurrealValue)]
struct NotificationInsert {
    id: RecordId,
    user: i64,
    read: bool,
    pending: bool,
    doc: String,
    mail: String,
}

#[derive(SurrealValue)]
struct KeyRow {
    key: String,
}

/// Most tries of a batch that keeps racing another filing of the same keys.
const MAX_TRIES: usize = 5;

/// What a filing block knows of its batch.
#[derive(Clone, Copy)]
enum Filing {
    /// Nothing: it refuses itself if a key is filed or a user unknown. Reading first cost a
    /// query per batch (~119 per orders bench run, ~90 ms each under its load), to learn what
    /// nearly always holds.
    Unread,
    /// Its keys were unfiled and its users known when `fileable` read them.
    Read,
}

/// The batch with only the first notification of each key (a key is filed once).
fn first_of_each_key(batch: Vec<NewNotification>) -> Vec<NewNotification> {
    let mut seen = HashSet::new();
    batch
        .into_iter()
        .filter(|n| seen.insert(n.key.clone()))
        .collect()
}

/// Binds the accounts of these users, each once (a batch holds runs of one customer's
/// notices); their `$name`.
fn bind_users(sql: &mut Sql, users: impl Iterator<Item = i64>) -> String {
    let users: BTreeSet<i64> = users.collect();
    sql.var(
        users
            .into_iter()
            .map(|user| RecordId::new("account", user))
            .collect::<Vec<_>>(),
    )
}

impl SurrealStore {
    /// The batch without keys already filed or users that do not exist (read outside any
    /// transaction; the filing block checks the keys again).
    async fn fileable(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<NewNotification>, StoreError> {
        let mut sql = Sql::default();
        let keys = sql.var(
            batch
                .iter()
                .map(|n| RecordId::new("notification_key", n.key.clone()))
                .collect::<Vec<_>>(),
        );
        let users = bind_users(&mut sql, batch.iter().map(|n| n.user.get()));
        sql.push(&format!("SELECT record::id(id) AS key FROM {keys}"));
        sql.push(&format!("SELECT VALUE record::id(id) FROM {users}"));
        let mut response = self.run(&sql).await.map_err(|e| backend(message(e)))?;
        let filed: Vec<KeyRow> = response.take(0).map_err(backend)?;
        let users: Vec<i64> = response.take(1).map_err(backend)?;
        let filed: HashSet<String> = filed.into_iter().map(|r| r.key).collect();
        let users: HashSet<i64> = users.into_iter().collect();
        Ok(batch
            .into_iter()
            .filter(|n| users.contains(&n.user.get()) && !filed.contains(&n.key))
            .collect())
    }

    /// The entries `batch` files, with fresh ids, and their rows as the filing block binds
    /// them.
    async fn entries(
        &self,
        batch: &[NewNotification],
    ) -> Result<(Vec<InboxEntry>, Vec<FilingRow>), StoreError> {
        let ids = self.next_ids("notification_seq", batch.len()).await?;
        let mut entries = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        for (new, id) in batch.iter().zip(ids) {
            let entry = InboxEntry {
                id: NotificationId::new(id).map_err(corrupt)?,
                user: new.user,
                at: new.at,
                notification: new.notification.clone(),
                read: false,
                mail: new.mail.clone(),
            };
            rows.push(FilingRow {
                key: new.key.clone(),
                id,
                user: entry.user.get(),
                pending: entry.mail == MailState::Pending,
                doc: to_json(&NotificationDoc::new(
                    entry.user,
                    entry.at,
                    &entry.notification,
                )),
                mail: to_json(&MailDoc::from(&entry.mail)),
            });
            entries.push(entry);
        }
        Ok((entries, rows))
    }

    /// Files `rows` (distinct keys) in one block. `Filing::Unread` refuses the whole block
    /// when a user does not exist or a key is filed (inserting its key fails);
    /// `Filing::Read` throws `filed` for a key filed since `fileable` read it.
    async fn file(&self, rows: Vec<FilingRow>, filing: Filing) -> Result<(), TxError> {
        // Two bulk `INSERT`s over bound arrays: a `FOR` running two `CREATE`s per entry cost
        // ~115 µs of the engine's CPU per entry on surrealkv, the inserts ~60 µs (and
        // statements and variables per entry cost their product: SurrealDB copies every
        // variable into each statement it runs).
        let mut sql = Sql::default();
        sql.push("BEGIN TRANSACTION");
        let key_ids: Vec<RecordId> = rows
            .iter()
            .map(|r| RecordId::new("notification_key", r.key.clone()))
            .collect();
        match filing {
            Filing::Unread => {
                let users = bind_users(&mut sql, rows.iter().map(|r| r.user));
                sql.push(&format!(
                    "IF array::len((SELECT VALUE id FROM {users})) != array::len({users}) \
                     {{ THROW 'unknown user' }}"
                ));
            }
            Filing::Read => {
                let keys = sql.var(key_ids.clone());
                sql.push(&format!(
                    "IF (SELECT VALUE id FROM {keys}) != [] {{ THROW 'filed' }}"
                ));
            }
        }
        let mut keys = Vec::with_capacity(rows.len());
        let mut notifications = Vec::with_capacity(rows.len());
        for (row, key) in rows.into_iter().zip(key_ids) {
            let id = RecordId::new("notification", row.id);
            keys.push(KeyInsert {
                id: key,
                notification: id.clone(),
            });
            notifications.push(NotificationInsert {
                id,
                user: row.user,
                read: false,
                pending: row.pending,
                doc: row.doc,
                mail: row.mail,
            });
        }
        let keys = sql.var(keys);
        let notifications = sql.var(notifications);
        sql.push(&format!("INSERT INTO notification_key {keys} RETURN NONE"));
        sql.push(&format!(
            "INSERT INTO notification {notifications} RETURN NONE"
        ));
        sql.push("COMMIT TRANSACTION");
        self.transact(|| sql.clone()).await.map(|_| ())
    }

    /// Runs an update whose first statement returns the ids it changed; those ids.
    pub(super) async fn changed(&self, sql: Sql) -> Result<Vec<i64>, StoreError> {
        let mut response = self
            .transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        response.take(0).map_err(backend)
    }
}

#[async_trait]
impl InboxStore for SurrealStore {
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let batch = first_of_each_key(batch);
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        // Nearly always every key is new and every user exists: filed at once, without
        // reading first. Otherwise (or when the block fails for any reason) the batch is read
        // and filed below, which tells a race from a failure.
        let (entries, rows) = self.entries(&batch).await?;
        match self.file(rows, Filing::Unread).await {
            Ok(()) => return Ok(entries),
            Err(e) => tracing::debug!("filing read first: {}", message(e)),
        }
        let mut batch = batch;
        for _ in 0..MAX_TRIES {
            let fresh = self.fileable(batch.clone()).await?;
            if fresh.is_empty() {
                return Ok(Vec::new());
            }
            let (entries, rows) = self.entries(&fresh).await?;
            match self.file(rows, Filing::Read).await {
                Ok(()) => return Ok(entries),
                Err(TxError::Thrown(text)) if text.contains("filed") => batch = fresh,
                Err(e) => return Err(backend(message(e))),
            }
        }
        Err(StoreError::Conflict(
            "notifications kept being filed by another call".into(),
        ))
    }

    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        let before = sql.var(before.map_or(i64::MAX, |b| b.get()));
        let limit = sql.var(limit as i64);
        sql.push(&format!(
            "SELECT {COLUMNS} FROM notification WHERE user = {u} AND record::id(id) < {before} \
             ORDER BY nid DESC LIMIT {limit}"
        ));
        entries_of(self.read(sql).await?)
    }

    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        sql.push(&format!(
            "RETURN count(SELECT id FROM notification WHERE user = {u} AND read = false)"
        ));
        let counts: Vec<i64> = self.read(sql).await?;
        Ok(counts.first().copied().unwrap_or(0).max(0) as u64)
    }

    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::default();
        let u = sql.var(user.get());
        let only = match ids {
            Some(ids) => {
                let ids = sql.var(ids.iter().map(|i| i.get()).collect::<Vec<i64>>());
                format!(" AND record::id(id) IN {ids}")
            }
            None => String::new(),
        };
        sql.push(&format!(
            "UPDATE notification SET read = true WHERE user = {u} AND read = false{only} \
             RETURN VALUE record::id(id)"
        ));
        Ok(self.changed(sql).await?.len() as u64)
    }

    /// Ordered by the record id, not by the `nid` it is projected as: then the planner walks
    /// the `pending` index (whose keys end in the record id) forward and stops at `limit`,
    /// ~1.4 ms a read with 2,000 or 32,000 waiting; ordered by `nid` it read and sorted every
    /// pending entry (4 and 54 ms), so a backlog after an SMTP outage cost its square to
    /// drain. (A queue table of its own, each mail's record deleted once sent, read as fast,
    /// but SurrealDB 3.3 walks every table's field definitions for each record deleted:
    /// 15% of the CPU of 2,000 orders.)
    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        let mut sql = Sql::default();
        let limit = sql.var(limit as i64);
        sql.push(&queue_read(&limit));
        entries_of(self.read(sql).await?)
    }

    async fn record_mail(&self, id: NotificationId, state: MailState) -> Result<(), StoreError> {
        let mut sql = Sql::default();
        let nid = sql.var(id.get());
        let pending = sql.var(state == MailState::Pending);
        let mail = sql.var(to_json(&MailDoc::from(&state)));
        sql.push(&format!(
            "UPDATE type::record('notification', {nid}) SET pending = {pending}, mail = {mail} \
             RETURN VALUE record::id(id)"
        ));
        if self.changed(sql).await?.is_empty() {
            return Err(StoreError::NotFound(format!("notification {id}")));
        }
        Ok(())
    }

    /// One statement over one bound array, in one transaction: UPDATE leaves a missing
    /// record missing, so an entry that is gone is skipped.
    async fn record_mails(&self, states: &[(NotificationId, MailState)]) -> Result<(), StoreError> {
        if states.is_empty() {
            return Ok(());
        }
        let rows: Vec<MailRow> = states
            .iter()
            .map(|(id, state)| MailRow {
                id: id.get(),
                pending: *state == MailState::Pending,
                mail: to_json(&MailDoc::from(state)),
            })
            .collect();
        let mut sql = Sql::default();
        let rows = sql.var(rows);
        sql.push("BEGIN TRANSACTION");
        sql.push(&format!(
            "FOR $m IN {rows} {{ UPDATE type::record('notification', $m.id) \
             SET pending = $m.pending, mail = $m.mail RETURN NONE }}"
        ));
        sql.push("COMMIT TRANSACTION");
        self.transact(|| sql.clone())
            .await
            .map_err(|e| backend(message(e)))?;
        Ok(())
    }
}

/// The statement that reads the oldest `limit` (a bound variable or a number) entries of the
/// mail queue.
fn queue_read(limit: &str) -> String {
    format!("SELECT {COLUMNS} FROM notification WHERE pending = true ORDER BY id LIMIT {limit}")
}

/// One mail's state, as [`InboxStore::record_mails`] binds it.
#[derive(Clone, SurrealValue)]
struct MailRow {
    id: i64,
    pending: bool,
    mail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mail queue's read walks the `pending` index and stops at its limit (see
    /// `mail_queue`): the plan names the index scan with the limit pushed into it, rather
    /// than a read of every pending entry and a sort.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_mail_queue_read_stops_at_its_limit() {
        let store = SurrealStore::connect("mem://").await.unwrap();
        let plan = store.plan(&queue_read("50")).await;
        assert!(plan.contains("IndexScan"), "{plan}");
        assert!(plan.contains("notification_pending"), "{plan}");
        assert!(plan.contains("\"limit\": String(\"50\")"), "{plan}");
        assert!(!plan.contains("Sort"), "{plan}");
    }
}
