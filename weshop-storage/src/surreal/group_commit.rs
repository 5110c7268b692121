//! Group commit: writes that arrive while a block commits wait, and then commit together in
//! the next block, which pays a transaction's fixed cost once for all of them.
//!
//! On surrealkv a write transaction costs ~0.3 ms of CPU more than its statements (beginning,
//! the commit and its fsync), and one statement in a `FOR` over bound rows ~0.1 ms, so under
//! concurrent checkouts a batch is several times cheaper per write than blocks of their own.
//!
//! Each queue's blocks run in a task of their own, started by the first write that finds none
//! running: a write given up on (its request dropped) does not cancel a block that other
//! writes are part of.

use std::{
    future::Future,
    mem,
    sync::{Mutex, MutexGuard, PoisonError},
};

/// Writes waiting to be committed, and whether a task is committing them.
pub(super) struct GroupCommit<W> {
    queue: Mutex<Queue<W>>,
}

struct Queue<W> {
    waiting: Vec<W>,
    committing: bool,
}

impl<W> Default for GroupCommit<W> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                committing: false,
            }),
        }
    }
}

impl<W> GroupCommit<W> {
    fn queue(&self) -> MutexGuard<'_, Queue<W>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `write`: true if no task is committing the queue, so the caller must start one,
    /// which runs [`GroupCommit::drain`].
    pub(super) fn push(&self, write: W) -> bool {
        let mut queue = self.queue();
        queue.waiting.push(write);
        !mem::replace(&mut queue.committing, true)
    }

    /// Commits the waiting writes with `commit`, at most `max` at a time in arrival order,
    /// until none are left (then the task's turn ends). Each write carries its own way to
    /// answer its caller; `commit` answers them.
    pub(super) async fn drain<F, Fut>(&self, max: usize, mut commit: F)
    where
        F: FnMut(Vec<W>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let _turn = Committing(self);
        loop {
            let batch: Vec<W> = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    queue.committing = false;
                    return;
                }
                let take = queue.waiting.len().min(max.max(1));
                queue.waiting.drain(..take).collect()
            };
            commit(batch).await;
        }
    }
}

/// Ends the committing task's turn if it panics, so the next write starts another instead
/// of waiting for answers nobody will send.
struct Committing<'a, W>(&'a GroupCommit<W>);

impl<W> Drop for Committing<'_, W> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut queue = self.0.queue();
            queue.committing = false;
            // Their answers are dropped: each caller is told its write was abandoned.
            queue.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::oneshot;

    use super::GroupCommit;

    type Write = (u32, oneshot::Sender<usize>);

    /// Writes queued while a batch commits go in the next one, in arrival order, at most
    /// `max` at a time; each is answered once.
    #[tokio::test]
    async fn writes_queued_meanwhile_commit_together() {
        let group = Arc::new(GroupCommit::<Write>::default());
        let (tx, first) = oneshot::channel();
        assert!(group.push((0, tx)), "the first write starts the task");
        let mut answers = Vec::new();
        for n in 1..6 {
            let (tx, rx) = oneshot::channel();
            assert!(!group.push((n, tx)), "a task is already committing");
            answers.push(rx);
        }
        let mut batches = Vec::new();
        group
            .drain(3, |batch: Vec<Write>| {
                batches.push(batch.iter().map(|(n, _)| *n).collect::<Vec<_>>());
                let size = batch.len();
                for (_, answer) in batch {
                    let _ = answer.send(size);
                }
                async {}
            })
            .await;
        assert_eq!(batches, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert_eq!(first.await.unwrap(), 3);
        for rx in answers {
            assert_eq!(rx.await.unwrap(), 3);
        }
        let (tx, _rx) = oneshot::channel();
        assert!(group.push((9, tx)), "the turn ended with the queue empty");
    }

    /// A committing task that panics ends its turn and drops the waiting writes, so their
    /// callers hear their write was abandoned and the next write starts a task again.
    #[tokio::test]
    async fn a_panicking_commit_abandons_the_waiting() {
        let group = Arc::new(GroupCommit::<Write>::default());
        let (tx, first) = oneshot::channel();
        group.push((0, tx));
        let (tx, second) = oneshot::channel();
        group.push((1, tx));
        let task = {
            let group = Arc::clone(&group);
            tokio::spawn(async move {
                group
                    .drain(1, |_batch: Vec<Write>| async { panic!("commit failed") })
                    .await
            })
        };
        assert!(task.await.is_err());
        assert!(first.await.is_err());
        assert!(second.await.is_err());
        let (tx, _rx) = oneshot::channel();
        assert!(group.push((2, tx)));
    }
}
