//! Records an embedded store keeps in memory after writing or reading them: carts and
//! accounts, read on every cart change and checkout (two cart reads and one account read per
//! order, ~9 and ~7 ms each under the orders bench's load).
//!
//! Only for an embedded engine, whose database belongs to this process: every write goes
//! through this store, so the cache can follow them all. On a server, other processes write
//! too, and nothing is cached.
//!
//! Writes and reads can race, so each entry carries the version of the last write that
//! touched it, drawn from one counter for the whole cache (so an entry dropped and made
//! again never repeats a version a reader saw):
//! - a write forgets the value and marks the entry busy before it runs, and after it commits
//!   stores what it wrote, unless another write started meanwhile;
//! - a read that missed stores what it read only if no write started on that entry while it
//!   read, and none is running;
//! - a write that failed, or whose caller gave up on it, leaves the entry empty and
//!   *untrusted*: its transaction may still commit later (a query given up on after its
//!   patience; the query runs in a task of its own), so nothing read is stored until a write
//!   succeeds. A write that certainly changed nothing (its transaction threw) leaves it
//!   empty but trusted.
//!
//! Checkout stays safe whatever this holds: its transaction compares the cart it priced with
//! the stored one and refuses a difference.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

/// At most this many records are kept; past it, an idle entry is dropped.
const CAPACITY: usize = 100_000;

struct Entry<V> {
    value: Option<V>,
    /// The version of the last write that started on it (or of its making).
    version: u64,
    /// Writes running.
    writing: u32,
    /// A write failed: what the store holds is not known until one succeeds.
    untrusted: bool,
}

struct Inner<V> {
    entries: HashMap<i64, Entry<V>>,
    /// The last version handed out.
    version: u64,
}

impl<V> Inner<V> {
    /// The record's entry, made (at the current version) if missing, dropping an idle one
    /// when full (not LRU: cheap and bounded; a busy entry is never dropped).
    fn entry(&mut self, id: i64) -> &mut Entry<V> {
        if self.entries.len() >= CAPACITY
            && !self.entries.contains_key(&id)
            && let Some(idle) = self
                .entries
                .iter()
                .find(|(_, e)| e.writing == 0)
                .map(|(id, _)| *id)
        {
            self.entries.remove(&idle);
        }
        self.entries.entry(id).or_insert(Entry {
            value: None,
            version: self.version,
            writing: 0,
            untrusted: false,
        })
    }
}

/// Records by id (see the [module docs](self)); a disabled cache holds nothing.
pub(super) struct RecordCache<V> {
    enabled: bool,
    inner: Mutex<Inner<V>>,
}

/// What a reader saw before it went to the store.
pub(super) struct Seen(Option<u64>);

/// A write in progress, ended by [`Writing::committed`] or [`Writing::unchanged`]; dropped
/// otherwise (it failed, or its caller gave up on it while the transaction ran on), the
/// record is not cached until a write succeeds.
pub(super) struct Writing<V: Clone>(Option<(Arc<RecordCache<V>>, i64, u64)>);

impl<V: Clone> Writing<V> {
    /// It committed `value`: kept, unless another write started since.
    pub(super) fn committed(mut self, value: V) {
        if let Some((cache, id, version)) = self.0.take() {
            cache.end(id, version, Outcome::Committed(value));
        }
    }

    /// It certainly changed nothing (its transaction threw): reads may be kept again.
    pub(super) fn unchanged(mut self) {
        if let Some((cache, id, version)) = self.0.take() {
            cache.end(id, version, Outcome::Unchanged);
        }
    }
}

impl<V: Clone> Drop for Writing<V> {
    fn drop(&mut self) {
        if let Some((cache, id, version)) = self.0.take() {
            cache.end(id, version, Outcome::Unknown);
        }
    }
}

enum Outcome<V> {
    Committed(V),
    Unchanged,
    Unknown,
}

impl<V: Clone> RecordCache<V> {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                version: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached record, or what to hand to [`Self::fill`] with what the store returns.
    pub(super) fn get(&self, id: i64) -> Result<V, Seen> {
        if !self.enabled {
            return Err(Seen(None));
        }
        let mut inner = self.lock();
        let entry = inner.entry(id);
        match &entry.value {
            Some(value) if entry.writing == 0 => Ok(value.clone()),
            _ => Err(Seen(Some(entry.version))),
        }
    }

    /// Keeps what a read that missed returned, if nothing wrote the record meanwhile.
    pub(super) fn fill(&self, id: i64, seen: Seen, value: V) {
        let Seen(Some(version)) = seen else { return };
        let mut inner = self.lock();
        if let Some(entry) = inner.entries.get_mut(&id)
            && entry.version == version
            && entry.writing == 0
            && !entry.untrusted
        {
            entry.value = Some(value);
        }
    }

    /// Starts a write of the record: forgets it until the write ends.
    pub(super) fn writing(self: &Arc<Self>, id: i64) -> Writing<V> {
        if !self.enabled {
            return Writing(None);
        }
        let mut inner = self.lock();
        inner.version += 1;
        let version = inner.version;
        let entry = inner.entry(id);
        entry.value = None;
        entry.version = version;
        entry.writing += 1;
        Writing(Some((Arc::clone(self), id, version)))
    }

    fn end(&self, id: i64, version: u64, outcome: Outcome<V>) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(&id) else {
            return;
        };
        entry.writing -= 1;
        match outcome {
            Outcome::Committed(value) => {
                if entry.version == version {
                    entry.untrusted = false;
                    if entry.writing == 0 {
                        entry.value = Some(value);
                    }
                }
            }
            Outcome::Unchanged => {}
            Outcome::Unknown => {
                entry.value = None;
                entry.untrusted = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = Arc::new(RecordCache::new(true));
        let seen = cache.get(1).unwrap_err();
        let write = cache.writing(1);
        write.committed("new");
        cache.fill(1, seen, "old");
        assert_eq!(cache.get(1).ok(), Some("new"));
    }

    #[test]
    fn a_read_during_a_write_is_not_kept_and_misses() {
        let cache = Arc::new(RecordCache::new(true));
        let write = cache.writing(1);
        let seen = cache.get(1).unwrap_err();
        cache.fill(1, seen, "old");
        assert!(cache.get(1).is_err(), "still writing");
        write.committed("new");
        assert_eq!(cache.get(1).ok(), Some("new"));
    }

    #[test]
    fn the_later_of_two_writes_wins_whatever_order_they_end_in() {
        let cache = Arc::new(RecordCache::new(true));
        let first = cache.writing(1);
        let second = cache.writing(1);
        second.committed("second");
        first.committed("first");
        // Which committed last is not known here: nothing is kept, the next read fills.
        let seen = cache.get(1).unwrap_err();
        cache.fill(1, seen, "stored");
        assert_eq!(cache.get(1).ok(), Some("stored"));
    }

    #[test]
    fn a_failed_write_keeps_reads_out_until_a_write_succeeds() {
        let cache = Arc::new(RecordCache::new(true));
        let write = cache.writing(1);
        drop(write);
        let seen = cache.get(1).unwrap_err();
        cache.fill(1, seen, "maybe stale");
        assert!(cache.get(1).is_err());
        let write = cache.writing(1);
        write.committed("known");
        assert_eq!(cache.get(1).ok(), Some("known"));
    }

    #[test]
    fn a_write_that_changed_nothing_lets_reads_in_again() {
        let cache = Arc::new(RecordCache::new(true));
        let write = cache.writing(1);
        let seen = cache.get(1).unwrap_err();
        write.unchanged();
        cache.fill(1, seen, "as it was");
        assert_eq!(cache.get(1).ok(), Some("as it was"));
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = Arc::new(RecordCache::new(false));
        let write = cache.writing(1);
        write.committed("x");
        let seen = cache.get(1).unwrap_err();
        cache.fill(1, seen, "y");
        assert!(cache.get(1).is_err());
    }
}
