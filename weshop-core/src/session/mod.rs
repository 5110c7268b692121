//! Reliable sessions: at-least-once delivery and at-most-once processing over a lossy link.
//!
//! Every WeShop link (shop–world, shop–UPS, UPS–world) follows the same rules: each item a side
//! sends carries that side's seqnum; the receiver acks it; the sender resends until acked; the
//! receiver acts on each seqnum once and acks duplicates again. [`Session`] is that engine, free
//! of IO and of any wire format, in the style of quinn-proto: feed it with [`Session::send`] and
//! [`Session::handle_message`], drain it with [`Session::poll_transmit`] and
//! [`Session::poll_event`], and wake it at [`Session::poll_timeout`]. Time is always passed in.
//!
//! A wire protocol plugs in through [`Protocol`], which only says how items and acks are put
//! into, and taken out of, that protocol's messages.
//!
//! Crash safety is the owner's part of the contract: after handling a message, persist the
//! effects of the new items together with [`Session::state`] *before* transmitting (acks go out
//! in `poll_transmit`), and persist a request together with the state after [`Session::send`].
//! Then a restart from the saved state never acts twice, never reuses a seqnum and never loses
//! an unacked request.

pub mod seen;

use std::{
    collections::{BTreeMap, BTreeSet, VecDeque},
    fmt,
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
pub use seen::SeenSet;

/// A sequence number: unique per sender per world.
pub type Seqnum = i64;

/// How one wire protocol carries sequenced items and acks.
pub trait Protocol {
    /// What this side sends, without its seqnum (the session assigns it).
    type Request: Clone + fmt::Debug;
    /// One whole outgoing message.
    type Message;
    /// One whole incoming message.
    type Incoming;
    /// One item the peer sends, without its seqnum.
    type Item;

    /// Builds an outgoing message from numbered requests and acks.
    fn assemble(requests: Vec<(Seqnum, Self::Request)>, acks: Vec<Seqnum>) -> Self::Message;

    /// Splits an incoming message into numbered items and acks.
    fn disassemble(message: Self::Incoming) -> Inbound<Self::Item>;
}

/// The sequenced content of an incoming message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound<T> {
    /// Items with the peer's seqnums.
    pub items: Vec<(Seqnum, T)>,
    /// Our seqnums that the peer acknowledges.
    pub acks: Vec<Seqnum>,
}

impl<T> Default for Inbound<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            acks: Vec::new(),
        }
    }
}

/// Timing and batching of a session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Wait before the first resend.
    pub initial_resend: Duration,
    /// Longest wait between resends (the backoff doubles up to this).
    pub max_resend: Duration,
    /// Each wait is scaled by a random factor in `1 ± jitter`, so peers do not resend in step.
    pub jitter: f64,
    /// After this many sends without an ack an item is reported stuck (and still resent).
    pub stuck_after: u32,
    /// Most requests in one message.
    pub max_requests_per_message: usize,
    /// Most acks in one message.
    pub max_acks_per_message: usize,
    /// Seed of the jitter; the same seed and inputs give the same outputs.
    pub seed: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            initial_resend: Duration::from_millis(500),
            max_resend: Duration::from_secs(8),
            jitter: 0.2,
            stuck_after: 10,
            max_requests_per_message: 256,
            max_acks_per_message: 1024,
            seed: 0,
        }
    }
}

/// What a session reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A request was sent `attempts` times over `since` without an ack; it is still resent.
    Stuck {
        /// Its seqnum.
        seqnum: Seqnum,
        /// Sends so far.
        attempts: u32,
        /// Time since the first send.
        since: Duration,
    },
}

/// Everything a session must carry across a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionState<R> {
    /// The seqnum the next request gets.
    pub next_seqnum: Seqnum,
    /// Requests sent (or queued) and not yet acked.
    pub unacked: Vec<(Seqnum, R)>,
    /// Peer seqnums already acted on, as inclusive ranges.
    pub seen: Vec<(Seqnum, Seqnum)>,
}

/// Counters, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Requests queued by `send`.
    pub requests: u64,
    /// Requests sent again after a timeout.
    pub resends: u64,
    /// Requests acked by the peer.
    pub acked: u64,
    /// Items received and new.
    pub delivered: u64,
    /// Items received again (acked, not delivered).
    pub duplicates: u64,
}

#[derive(Debug, Clone)]
struct Pending<R> {
    request: R,
    attempts: u32,
    /// When to send next; `None` until first sent (due at once).
    due: Option<Instant>,
    first_sent: Option<Instant>,
    reported_stuck: bool,
}

impl<R> Pending<R> {
    /// A request not sent yet: due at once.
    fn new(request: R) -> Self {
        Self {
            request,
            attempts: 0,
            due: None,
            first_sent: None,
            reported_stuck: false,
        }
    }
}

/// One side of a reliable link. See the [module docs](self).
pub struct Session<P: Protocol> {
    config: SessionConfig,
    next_seqnum: Seqnum,
    unacked: BTreeMap<Seqnum, Pending<P::Request>>,
    seen: SeenSet,
    acks: BTreeSet<Seqnum>,
    events: VecDeque<SessionEvent>,
    rng: ChaCha8Rng,
    stats: SessionStats,
}

impl<P: Protocol> fmt::Debug for Session<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("next_seqnum", &self.next_seqnum)
            .field("unacked", &self.unacked.len())
            .field("pending_acks", &self.acks.len())
            .field("seen_ranges", &self.seen.range_count())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<P: Protocol> Session<P> {
    /// A fresh session whose first request gets seqnum `first_seqnum`.
    pub fn new(config: SessionConfig, first_seqnum: Seqnum) -> Self {
        Self::restore(
            config,
            SessionState {
                next_seqnum: first_seqnum,
                unacked: Vec::new(),
                seen: Vec::new(),
            },
        )
    }

    /// A session resumed from saved state: unacked requests are sent again at once.
    pub fn restore(config: SessionConfig, state: SessionState<P::Request>) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        let unacked = state
            .unacked
            .into_iter()
            .map(|(seqnum, request)| (seqnum, Pending::new(request)))
            .collect();
        Self {
            config,
            next_seqnum: state.next_seqnum,
            unacked,
            seen: SeenSet::from_ranges(state.seen),
            acks: BTreeSet::new(),
            events: VecDeque::new(),
            rng,
            stats: SessionStats::default(),
        }
    }

    /// Queues a request; it goes out in the next [`Session::poll_transmit`]. Returns its seqnum.
    pub fn send(&mut self, request: P::Request) -> Seqnum {
        let seqnum = self.next_seqnum;
        self.next_seqnum += 1;
        self.unacked.insert(seqnum, Pending::new(request));
        self.stats.requests += 1;
        seqnum
    }

    /// Takes in a message from the peer: applies its acks, schedules acks for all its items, and
    /// returns the items not seen before, which the owner must act on.
    pub fn handle_message(&mut self, message: P::Incoming) -> Vec<(Seqnum, P::Item)> {
        let inbound = P::disassemble(message);
        self.handle_acks(inbound.acks);
        inbound
            .items
            .into_iter()
            .filter(|(seqnum, _)| self.receive_seqnum(*seqnum))
            .collect()
    }

    /// Applies the peer's acks of our requests (the half of [`Session::handle_message`] an
    /// owner that takes items one at a time with [`Session::receive_seqnum`] calls first).
    pub fn handle_acks(&mut self, acks: impl IntoIterator<Item = Seqnum>) {
        for ack in acks {
            if self.unacked.remove(&ack).is_some() {
                self.stats.acked += 1;
            }
        }
    }

    /// Acks a peer seqnum; returns true the first time it is seen, when the owner must act on
    /// its item (also for seqnums carried outside the usual messages, like `ConnectWorldId`).
    pub fn receive_seqnum(&mut self, seqnum: Seqnum) -> bool {
        self.acks.insert(seqnum);
        let fresh = self.seen.insert(seqnum);
        if fresh {
            self.stats.delivered += 1;
        } else {
            self.stats.duplicates += 1;
        }
        fresh
    }

    /// The next message to send, if anything is due: pending acks and requests never sent or
    /// whose resend time has come, coalesced. Call until it returns `None`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<P::Message> {
        let mut requests = Vec::new();
        let mut rescheduled = Vec::new();
        for (&seqnum, pending) in &self.unacked {
            if requests.len() >= self.config.max_requests_per_message {
                break;
            }
            if pending.due.is_none_or(|due| due <= now) {
                requests.push((seqnum, pending.request.clone()));
                rescheduled.push(seqnum);
            }
        }
        for seqnum in rescheduled {
            let wait = self.next_wait(self.unacked[&seqnum].attempts);
            let pending = self.unacked.get_mut(&seqnum).expect("listed above");
            if pending.attempts > 0 {
                self.stats.resends += 1;
            }
            pending.attempts += 1;
            pending.due = Some(now + wait);
            let first_sent = *pending.first_sent.get_or_insert(now);
            if pending.attempts > self.config.stuck_after && !pending.reported_stuck {
                pending.reported_stuck = true;
                self.events.push_back(SessionEvent::Stuck {
                    seqnum,
                    attempts: pending.attempts,
                    since: now.saturating_duration_since(first_sent),
                });
            }
        }
        let mut acks = Vec::new();
        while acks.len() < self.config.max_acks_per_message {
            match self.acks.pop_first() {
                Some(ack) => acks.push(ack),
                None => break,
            }
        }
        if requests.is_empty() && acks.is_empty() {
            return None;
        }
        Some(P::assemble(requests, acks))
    }

    /// When the next resend falls due (`None`: nothing is waiting for an ack).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.unacked.values().filter_map(|p| p.due).min()
    }

    /// The next event for the owner.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// Makes every unacked request due at once (after a reconnect, say).
    pub fn resend_all_now(&mut self) {
        for pending in self.unacked.values_mut() {
            pending.due = None;
        }
    }

    /// What must survive a restart.
    pub fn state(&self) -> SessionState<P::Request> {
        SessionState {
            next_seqnum: self.next_seqnum,
            unacked: self
                .unacked
                .iter()
                .map(|(&s, p)| (s, p.request.clone()))
                .collect(),
            seen: self.seen.ranges().collect(),
        }
    }

    /// True when nothing waits for an ack and no ack waits to be sent.
    pub fn is_idle(&self) -> bool {
        self.unacked.is_empty() && self.acks.is_empty()
    }

    /// Requests not yet acked.
    pub fn unacked_len(&self) -> usize {
        self.unacked.len()
    }

    /// True if `seqnum` is sent (or queued) and not yet acked.
    pub fn is_unacked(&self, seqnum: Seqnum) -> bool {
        self.unacked.contains_key(&seqnum)
    }

    /// The peer seqnums acted on.
    pub fn seen(&self) -> &SeenSet {
        &self.seen
    }

    /// The seqnum the next request will get.
    pub fn next_seqnum(&self) -> Seqnum {
        self.next_seqnum
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The wait before resending an item sent `attempts` times: doubling, capped, jittered.
    fn next_wait(&mut self, attempts: u32) -> Duration {
        let base = self
            .config
            .initial_resend
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.config.max_resend);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * self.rng.random_range(-1.0..=1.0);
        base.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests;
