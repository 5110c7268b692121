//! A watchdog that ends a wedged process, so whatever supervises it starts it afresh.
//!
//! A task on the async runtime runs a probe (a read of the store) over and over and records
//! when each finished; a plain thread, outside the runtime, checks the record. When no probe
//! has finished for the limit, the runtime or the store has stopped making progress, and the
//! thread calls the stall action (the `weshop` binary logs why and exits). This is the same
//! crash-only answer as a node that loses its lease: every acknowledged commit is on disk, and
//! a restarted shop resumes its outbox and links where they were.
//!
//! Why it exists: the embedded engine SurrealDB 3.3.5 uses, surrealkv 0.21.4, takes two of its
//! locks in opposite orders. A memtable flush holds the level manifest (write) and waits for the
//! immutable memtables (write), while a new snapshot holds the immutable memtables (read) and
//! waits for the level manifest (read): both wait forever. They are tokio workers, so with one
//! worker per core every task stops with them, HTTP included. The orders bench hung so once in
//! about forty runs of 2,000 orders. surrealkv 1.x takes the manifest first, but SurrealDB 3.3
//! cannot use it. A probe that reads the store also catches the case with more workers than
//! the deadlock holds, where `/health` still answers but no transaction can start.
//! On the durable memory store (`memory+surrealkv://`) reads need no disk, but its lease read
//! waits for every write sealed before it, so the probe still sees a journal writer that
//! stopped (stuck in that same engine).

use std::{
    future::Future,
    sync::{
        Arc, Condvar, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use weshop_core::store::Store;

/// How long the probe may go without finishing by default: far above any read under load
/// (milliseconds), far below a deadlock left alone.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// The lease [`exit_when_wedged`] reads to probe the store: never claimed, so the read is a
/// point lookup that finds nothing, through a transaction like any other.
const PROBE_LEASE: &str = "watchdog-probe";

/// Watches `store` as the binaries do: reads it every `limit`/12 (between 0.1 and 5 s) and,
/// when no read has finished for `limit`, logs why and exits the process with status 70, for
/// its supervisor to start it again.
pub fn exit_when_wedged(store: Arc<dyn Store>, limit: Duration) -> Watchdog {
    let period = (limit / 12).clamp(Duration::from_millis(100), Duration::from_secs(5));
    Watchdog::start(
        limit,
        period,
        move || {
            let store = store.clone();
            async move {
                // An error is an answer: a store that is down is the outbox's to retry.
                if let Err(error) = store.lease(PROBE_LEASE).await {
                    tracing::debug!("watchdog probe: {error}");
                }
            }
        },
        |since| {
            let why = format!(
                "weshop: the store has not answered for {} s (the process is wedged); exiting \
                 with status 70 for a restart, which resumes from what is on disk",
                since.as_secs()
            );
            tracing::error!("{why}");
            eprintln!("{why}");
            std::process::exit(70)
        },
    )
}

/// A running watchdog; dropping it (or [`Watchdog::stop`]) stops it.
pub struct Watchdog {
    stopped: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<thread::JoinHandle<()>>,
    probing: tokio::task::JoinHandle<()>,
}

impl Watchdog {
    /// Starts probing with `probe` on the current tokio runtime every `period`, and calls
    /// `on_stall` once, on the watchdog's own thread, with how long it has been, when no probe
    /// has finished for `limit`.
    pub fn start<P, F>(
        limit: Duration,
        period: Duration,
        mut probe: P,
        on_stall: impl FnOnce(Duration) + Send + 'static,
    ) -> Watchdog
    where
        P: FnMut() -> F + Send + 'static,
        F: Future<Output = ()> + Send,
    {
        let started = Instant::now();
        // Milliseconds since `started` at which the last probe finished.
        let beat = Arc::new(AtomicU64::new(0));
        let probing = tokio::spawn({
            let beat = beat.clone();
            async move {
                loop {
                    probe().await;
                    beat.store(millis(started.elapsed()), Ordering::Relaxed);
                    tokio::time::sleep(period).await;
                }
            }
        });
        let stopped = Arc::new((Mutex::new(false), Condvar::new()));
        let thread = thread::Builder::new()
            .name("weshop-watchdog".into())
            .spawn({
                let stopped = stopped.clone();
                move || {
                    let (lock, wake) = &*stopped;
                    let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    loop {
                        done = wake
                            .wait_timeout(done, period)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                        if *done {
                            return;
                        }
                        let last = Duration::from_millis(beat.load(Ordering::Relaxed));
                        let since = started.elapsed().saturating_sub(last);
                        if since >= limit {
                            drop(done);
                            on_stall(since);
                            return;
                        }
                    }
                }
            })
            .expect("spawn the watchdog thread");
        Watchdog {
            stopped,
            thread: Some(thread),
            probing,
        }
    }

    /// Stops probing and watching.
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.probing.abort();
        let (lock, wake) = &*self.stopped;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.halt();
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    /// A watchdog on a runtime of its own with one worker, whose probe runs `probe(n)` for the
    /// `n`th call (from 0); with the stall reports and the count of probes started.
    fn watched<F>(
        limit: Duration,
        period: Duration,
        probe: impl Fn(usize) -> F + Send + 'static,
    ) -> (
        tokio::runtime::Runtime,
        Watchdog,
        mpsc::Receiver<Duration>,
        Arc<AtomicUsize>,
    )
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (stalled, told) = mpsc::channel();
        let calls = Arc::new(AtomicUsize::new(0));
        let watchdog = runtime.block_on(async {
            let calls = calls.clone();
            Watchdog::start(
                limit,
                period,
                move || probe(calls.fetch_add(1, Ordering::SeqCst)),
                move |since| stalled.send(since).unwrap(),
            )
        });
        (runtime, watchdog, told, calls)
    }

    /// The stall action fires once a probe stops finishing: one that never returns (a store
    /// that does not answer), and one that blocks the only worker thread (a wedged runtime).
    #[test]
    fn a_probe_that_stops_finishing_is_a_stall() {
        for blocking in [false, true] {
            let (runtime, watchdog, told, calls) = watched(
                Duration::from_millis(300),
                Duration::from_millis(10),
                move |n| async move {
                    if n == 5 {
                        if blocking {
                            // Holds the runtime's only worker, as the engine's locks did.
                            thread::sleep(Duration::from_secs(3));
                        } else {
                            std::future::pending::<()>().await;
                        }
                    }
                },
            );
            let since = told
                .recv_timeout(Duration::from_secs(30))
                .expect("the watchdog saw the stall");
            assert!(since >= Duration::from_millis(300), "{since:?}");
            assert!(
                calls.load(Ordering::SeqCst) >= 6,
                "it stalled on the sixth probe"
            );
            drop(watchdog);
            runtime.shutdown_background();
        }
    }

    /// Probes that keep finishing keep it quiet, and stopping it ends its thread.
    #[test]
    fn probes_that_finish_keep_it_quiet() {
        let (_runtime, watchdog, told, calls) = watched(
            Duration::from_secs(5),
            Duration::from_millis(5),
            |_| async {},
        );
        while calls.load(Ordering::SeqCst) < 50 {
            thread::sleep(Duration::from_millis(5));
        }
        watchdog.stop();
        assert!(told.try_recv().is_err(), "no stall while probes finish");
    }
}
