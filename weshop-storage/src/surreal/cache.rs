//! Records an embedded store keeps in memory after writing or reading them: carts, accounts,
//! login sessions, products and products' stock rows, read on every cart change and checkout
//! (per order, two cart reads, two session reads, one or two account reads, one or two product
//! reads and two stock reads, ~4–15 ms each under the orders bench's load). A placement returns
//! the stock it leaves, so its products' entries stay filled.
//!
//! Only for an embedded engine, whose database belongs to this process: every write goes
//! through this store, so the cache can follow them all. On a server, other processes write
//! too, and nothing is cached.
//!
//! Writes and reads can race, so each entry carries the version of the last write that
//! touched it, drawn from one counter for the whole cache (so an entry dropped and made
//! again never repeats a version a reader saw):
//! - a write marks the entry busy before it runs, and after it commits stores what it wrote,
//!   unless another write started after it or is still running (then the entry is forgotten:
//!   which committed last is not known). While it runs, reads are served the value as it was
//!   before: the write has not returned, so a reader may see either, and the store would answer
//!   the same until the commit. (Forgetting it instead made every checkout read its products'
//!   stock from the store: under load, some placement is nearly always writing a popular
//!   product's stock.)
//! - a read that missed stores what it read only if no write started on that entry while it
//!   read, and none was running when it started;
//! - a write to records it cannot name (`DELETE … WHERE`: a user's other sessions) forgets
//!   every entry when it starts and when it ends, and nothing is kept while it runs;
//! - a write that failed, or whose caller gave up on it, leaves the entry empty and
//!   *untrusted*: its transaction may still commit later (a query given up on after its
//!   patience; the query runs in a task of its own), so nothing read is stored until a write
//!   succeeds. A write that certainly changed nothing (its transaction threw) leaves the
//!   entry as it was, and trusted. Such a write to unnamed records turns the whole cache off.
//!
//! Checkout stays safe whatever this holds: its transaction compares the cart it priced with
//! the stored one and refuses a difference.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{Arc, Mutex, PoisonError},
};

/// What records are cached by: an id, a token.
pub(super) trait Key: Eq + Hash + Clone {}

impl<T: Eq + Hash + Clone> Key for T {}

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

struct Inner<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// The last version handed out.
    version: u64,
    /// Writes to any number of records running (see [`RecordCache::writing_all`]).
    writing_all: u32,
    /// A write to any number of records failed: nothing is kept any more.
    broken: bool,
}

impl<K: Key, V> Inner<K, V> {
    /// The record's entry, made (at the current version) if missing, dropping an idle one
    /// when full (not LRU: cheap and bounded; a busy or untrusted entry is never dropped, as
    /// one made again would forget what it knew).
    fn entry(&mut self, key: K) -> &mut Entry<V> {
        if self.entries.len() >= CAPACITY
            && !self.entries.contains_key(&key)
            && let Some(idle) = self
                .entries
                .iter()
                .find(|(_, e)| e.writing == 0 && !e.untrusted)
                .map(|(key, _)| key.clone())
        {
            self.entries.remove(&idle);
        }
        self.entries.entry(key).or_insert(Entry {
            value: None,
            version: self.version,
            writing: 0,
            untrusted: false,
        })
    }

    /// Every entry forgets its value and takes a new version, so no read that started before
    /// is kept.
    fn forget_all(&mut self) {
        self.version += 1;
        for entry in self.entries.values_mut() {
            entry.value = None;
            entry.version = self.version;
        }
    }
}

/// Records by key (see the [module docs](self)); a disabled cache holds nothing.
pub(super) struct RecordCache<K, V> {
    enabled: bool,
    inner: Mutex<Inner<K, V>>,
}

/// What a reader saw before it went to the store.
pub(super) struct Seen(Option<u64>);

/// A write in progress, ended by [`Writing::committed`], [`Writing::forgotten`] or
/// [`Writing::unchanged`]; dropped otherwise (it failed, or its caller gave up on it while the
/// transaction ran on), the record is not cached until a write succeeds.
pub(super) struct Writing<K: Key, V: Clone>(Option<Started<K, V>>);

/// Which write of which record a [`Writing`] is.
type Started<K, V> = (Arc<RecordCache<K, V>>, K, u64);

impl<K: Key, V: Clone> Writing<K, V> {
    /// It committed `value`: kept, unless another write started since.
    pub(super) fn committed(mut self, value: V) {
        if let Some((cache, key, version)) = self.0.take() {
            cache.end(key, version, Outcome::Committed(Some(value)));
        }
    }

    /// It committed, but what the record now holds is not at hand (it was removed, or the
    /// write does not return it): the next read fetches it, and may be kept.
    pub(super) fn forgotten(mut self) {
        if let Some((cache, key, version)) = self.0.take() {
            cache.end(key, version, Outcome::Committed(None));
        }
    }

    /// It certainly changed nothing (its transaction threw): reads may be kept again.
    pub(super) fn unchanged(mut self) {
        if let Some((cache, key, version)) = self.0.take() {
            cache.end(key, version, Outcome::Unchanged);
        }
    }
}

impl<K: Key, V: Clone> Drop for Writing<K, V> {
    fn drop(&mut self) {
        if let Some((cache, key, version)) = self.0.take() {
            cache.end(key, version, Outcome::Unknown);
        }
    }
}

/// A write to records the cache cannot name (e.g. `DELETE … WHERE`), in progress: nothing is
/// kept while it runs, and reads that overlapped it are not kept after. Ended by
/// [`WritingAll::done`]; dropped otherwise, the cache keeps nothing any more (the write may
/// still commit, and which records it touches is not known).
pub(super) struct WritingAll<K: Key, V: Clone>(Option<Arc<RecordCache<K, V>>>);

impl<K: Key, V: Clone> WritingAll<K, V> {
    /// It committed, or certainly changed nothing.
    pub(super) fn done(mut self) {
        if let Some(cache) = self.0.take() {
            cache.end_all(true);
        }
    }
}

impl<K: Key, V: Clone> Drop for WritingAll<K, V> {
    fn drop(&mut self) {
        if let Some(cache) = self.0.take() {
            cache.end_all(false);
        }
    }
}

enum Outcome<V> {
    Committed(Option<V>),
    Unchanged,
    Unknown,
}

impl<K: Key, V: Clone> RecordCache<K, V> {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                version: 0,
                writing_all: 0,
                broken: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached record (during a write, as it was before it), or what to hand to
    /// [`Self::fill`] with what the store returns. A read that misses while the record is
    /// being written may see it before or after that write: it is served and never kept.
    pub(super) fn get(&self, key: K) -> Result<V, Seen> {
        if !self.enabled {
            return Err(Seen(None));
        }
        let mut inner = self.lock();
        if inner.broken || inner.writing_all > 0 {
            return Err(Seen(None));
        }
        let entry = inner.entry(key);
        match &entry.value {
            Some(value) => Ok(value.clone()),
            None if entry.writing > 0 => Err(Seen(None)),
            None => Err(Seen(Some(entry.version))),
        }
    }

    /// Keeps what a read that missed returned, if nothing wrote the record meanwhile.
    pub(super) fn fill(&self, key: K, seen: Seen, value: V) {
        let Seen(Some(version)) = seen else { return };
        let mut inner = self.lock();
        if inner.writing_all > 0 {
            return;
        }
        if let Some(entry) = inner.entries.get_mut(&key)
            && entry.version == version
            && entry.writing == 0
            && !entry.untrusted
        {
            entry.value = Some(value);
        }
    }

    /// Starts a write of the record: until it ends, the value as it was is served, and no
    /// read is kept.
    pub(super) fn writing(self: &Arc<Self>, key: K) -> Writing<K, V> {
        if !self.enabled {
            return Writing(None);
        }
        let mut inner = self.lock();
        inner.version += 1;
        let version = inner.version;
        let entry = inner.entry(key.clone());
        if entry.writing > 0 {
            // Overlapping writes: whichever commits last, the value before both is stale
            // once either returns.
            entry.value = None;
        }
        entry.version = version;
        entry.writing += 1;
        Writing(Some((Arc::clone(self), key, version)))
    }

    /// Starts a write of records the caller cannot name: forgets them all.
    pub(super) fn writing_all(self: &Arc<Self>) -> WritingAll<K, V> {
        if !self.enabled {
            return WritingAll(None);
        }
        let mut inner = self.lock();
        inner.writing_all += 1;
        inner.forget_all();
        WritingAll(Some(Arc::clone(self)))
    }

    fn end(&self, key: K, version: u64, outcome: Outcome<V>) {
        let mut inner = self.lock();
        let Some(entry) = inner.entries.get_mut(&key) else {
            return;
        };
        entry.writing -= 1;
        // Another write started after this one, or is still running: which of them the
        // store holds last is not known.
        let alone = entry.version == version && entry.writing == 0;
        match outcome {
            Outcome::Committed(value) => {
                if entry.version == version {
                    entry.untrusted = false;
                }
                entry.value = if alone { value } else { None };
            }
            Outcome::Unchanged => {
                if !alone {
                    entry.value = None;
                }
            }
            Outcome::Unknown => {
                entry.value = None;
                entry.untrusted = true;
            }
        }
    }

    fn end_all(&self, known: bool) {
        let mut inner = self.lock();
        inner.writing_all -= 1;
        // Values committed by writes that overlapped it may predate it in the store's order.
        inner.forget_all();
        if !known && !inner.broken {
            inner.broken = true;
            inner.entries.clear();
            tracing::warn!(
                "a write to unnamed records failed and may still commit: \
                 this record cache is off until the store is opened again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read that missed and went to the store, which had `value`.
    fn read(cache: &RecordCache<i64, &'static str>, id: i64, value: &'static str) {
        let seen = cache.get(id).unwrap_err();
        cache.fill(id, seen, value);
    }

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
        read(&cache, 1, "old");
        assert!(cache.get(1).is_err(), "still writing");
        write.committed("new");
        assert_eq!(cache.get(1).ok(), Some("new"));
    }

    #[test]
    fn a_read_during_a_write_is_served_the_value_before_it_until_it_returns() {
        let cache = Arc::new(RecordCache::new(true));
        cache.writing(1).committed("before");
        let write = cache.writing(1);
        assert_eq!(cache.get(1).ok(), Some("before"));
        write.committed("after");
        assert_eq!(cache.get(1).ok(), Some("after"));
        let write = cache.writing(1);
        write.unchanged();
        assert_eq!(cache.get(1).ok(), Some("after"), "a write that threw");
        let write = cache.writing(1);
        drop(write);
        assert!(cache.get(1).is_err(), "a write that may still commit");
    }

    #[test]
    fn overlapping_writes_forget_the_value_before_them() {
        let cache = Arc::new(RecordCache::new(true));
        cache.writing(1).committed("before");
        let first = cache.writing(1);
        let second = cache.writing(1);
        assert!(cache.get(1).is_err(), "either may have committed");
        first.committed("first");
        assert!(
            cache.get(1).is_err(),
            "the second may commit after or before"
        );
        second.committed("second");
        assert_eq!(
            cache.get(1).ok(),
            Some("second"),
            "the later one, ending alone"
        );
        let first = cache.writing(1);
        let second = cache.writing(1);
        second.unchanged();
        assert!(cache.get(1).is_err(), "the first is still running");
        first.unchanged();
        read(&cache, 1, "stored");
        assert_eq!(cache.get(1).ok(), Some("stored"));
    }

    #[test]
    fn the_later_of_two_writes_wins_whatever_order_they_end_in() {
        let cache = Arc::new(RecordCache::new(true));
        let first = cache.writing(1);
        let second = cache.writing(1);
        second.committed("second");
        first.committed("first");
        // Which committed last is not known here: nothing is kept, the next read fills.
        read(&cache, 1, "stored");
        assert_eq!(cache.get(1).ok(), Some("stored"));
    }

    #[test]
    fn a_failed_write_keeps_reads_out_until_a_write_succeeds() {
        let cache = Arc::new(RecordCache::new(true));
        let write = cache.writing(1);
        drop(write);
        read(&cache, 1, "maybe stale");
        assert!(cache.get(1).is_err());
        let write = cache.writing(1);
        write.committed("known");
        assert_eq!(cache.get(1).ok(), Some("known"));
    }

    #[test]
    fn a_write_that_changed_nothing_lets_reads_in_again() {
        let cache = Arc::new(RecordCache::new(true));
        let seen = cache.get(1).unwrap_err();
        let write = cache.writing(1);
        let during = cache.get(1).unwrap_err();
        write.unchanged();
        cache.fill(1, seen, "read before it");
        cache.fill(1, during, "read during it");
        assert!(
            cache.get(1).is_err(),
            "reads that overlapped it are not kept"
        );
        read(&cache, 1, "as it was");
        assert_eq!(cache.get(1).ok(), Some("as it was"));
    }

    #[test]
    fn a_read_that_started_during_a_write_is_not_kept_after_it() {
        let cache = Arc::new(RecordCache::new(true));
        let write = cache.writing(1);
        let seen = cache.get(1).unwrap_err();
        write.committed("new");
        cache.fill(1, seen, "old");
        assert_eq!(cache.get(1).ok(), Some("new"));
    }

    #[test]
    fn a_removal_is_not_undone_by_a_read_that_raced_it() {
        let cache = Arc::new(RecordCache::new(true));
        let seen = cache.get(1).unwrap_err();
        cache.writing(1).forgotten();
        cache.fill(1, seen, "gone");
        read(&cache, 1, "made again");
        assert_eq!(cache.get(1).ok(), Some("made again"));
    }

    #[test]
    fn a_write_to_all_forgets_everything_and_keeps_no_read_that_overlapped_it() {
        let cache = Arc::new(RecordCache::new(true));
        cache.writing(1).committed("one");
        let before = cache.get(2).unwrap_err();
        let all = cache.writing_all();
        assert!(cache.get(1).is_err(), "forgotten while it runs");
        let during = cache.get(2).unwrap_err();
        cache.writing(3).committed("three");
        all.done();
        cache.fill(2, before, "stale");
        cache.fill(2, during, "stale");
        assert!(cache.get(2).is_err());
        assert!(
            cache.get(3).is_err(),
            "a write that overlapped it is not kept"
        );
        read(&cache, 1, "read after");
        assert_eq!(cache.get(1).ok(), Some("read after"));
    }

    #[test]
    fn a_failed_write_to_all_keeps_nothing_from_then_on() {
        let cache = Arc::new(RecordCache::new(true));
        drop(cache.writing_all());
        read(&cache, 1, "maybe stale");
        cache.writing(2).committed("two");
        assert!(cache.get(1).is_err());
        assert!(cache.get(2).is_err());
    }

    #[test]
    fn a_disabled_cache_keeps_nothing() {
        let cache = Arc::new(RecordCache::new(false));
        let write = cache.writing(1);
        write.committed("x");
        read(&cache, 1, "y");
        assert!(cache.get(1).is_err());
    }
}
