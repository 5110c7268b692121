//! Outbox entries performed and not yet marked done in the store.
//!
//! A pass of the outbox marked what it performed in a commit of its own: on surrealkv one
//! write transaction (and disk sync) in three of the driver's, in the orders bench. The marks
//! now wait here and ride in the driver's next commit, which the ports' answers to those very
//! effects soon cause; the outbox commits them itself only when none comes within
//! [`MARK_WITHIN`] (or the driver's `mark_within`). Until a commit carrying them lands, the
//! outbox skips those entries (they were performed). A crash before it performs them again,
//! as a crash before the pass's own commit did: performing is idempotent.

use std::{
    collections::BTreeSet,
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

/// How long performed entries wait for a driver commit to carry their marks, by default.
pub const MARK_WITHIN: Duration = Duration::from_millis(20);

/// The entries performed and not marked: waiting for a commit, or in one not landed yet.
#[derive(Default)]
pub(super) struct Marks {
    inner: Mutex<Inner>,
}

struct Inner {
    waiting: BTreeSet<u64>,
    riding: BTreeSet<u64>,
    within: Duration,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            waiting: BTreeSet::new(),
            riding: BTreeSet::new(),
            within: MARK_WITHIN,
        }
    }
}

impl Marks {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Entries a pass performed.
    pub(super) fn performed(&self, ids: impl IntoIterator<Item = u64>) {
        self.inner().waiting.extend(ids);
    }

    /// The waiting marks, for a commit to carry: [`Marks::landed`] or [`Marks::failed`]
    /// must follow with them.
    pub(super) fn take(&self) -> Vec<u64> {
        let mut inner = self.inner();
        let taken = std::mem::take(&mut inner.waiting);
        inner.riding.extend(&taken);
        taken.into_iter().collect()
    }

    /// The commit carrying `ids` landed: they are marked in the store.
    pub(super) fn landed(&self, ids: &[u64]) {
        let mut inner = self.inner();
        for id in ids {
            inner.riding.remove(id);
        }
    }

    /// The commit carrying `ids` failed (or its outcome is unknown): they wait again
    /// (marking twice changes nothing).
    pub(super) fn failed(&self, ids: &[u64]) {
        let mut inner = self.inner();
        for id in ids {
            if inner.riding.remove(id) {
                inner.waiting.insert(*id);
            }
        }
    }

    /// Whether entry `id` was performed and is not marked in the store yet.
    pub(super) fn unmarked(&self, id: u64) -> bool {
        let inner = self.inner();
        inner.waiting.contains(&id) || inner.riding.contains(&id)
    }

    /// How long marks may still wait, if any do.
    pub(super) fn deadline(&self) -> Option<Duration> {
        let inner = self.inner();
        (!inner.waiting.is_empty()).then_some(inner.within)
    }

    /// How long marks wait for a commit to carry them before the outbox commits them.
    pub(super) fn wait_within(&self, within: Duration) {
        self.inner().within = within;
    }
}

#[cfg(test)]
mod tests {
    use super::Marks;

    /// Performed entries stay unmarked until the commit carrying them lands; a failed commit
    /// hands them to the next one; marks added meanwhile wait for a later commit.
    #[test]
    fn marks_ride_until_a_commit_lands() {
        let marks = Marks::default();
        assert_eq!(marks.deadline(), None);
        marks.performed([3, 1]);
        assert_eq!(marks.deadline(), Some(super::MARK_WITHIN));
        assert!(marks.unmarked(1) && marks.unmarked(3));
        let first = marks.take();
        assert_eq!(first, vec![1, 3]);
        assert_eq!(marks.deadline(), None);
        assert!(marks.unmarked(1), "riding, not landed");
        marks.performed([5]);
        marks.failed(&first);
        assert_eq!(marks.take(), vec![1, 3, 5]);
        marks.landed(&[1, 3, 5]);
        assert!(!marks.unmarked(1) && !marks.unmarked(3) && !marks.unmarked(5));
        assert!(marks.take().is_empty());
    }
}
