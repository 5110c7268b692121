use std::collections::HashMap;

use proptest::prelude::*;
use rand::{Rng, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;

use super::*;

/// A toy protocol: requests and items are numbers; a message is numbered items plus acks.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    items: Vec<(Seqnum, u32)>,
    acks: Vec<Seqnum>,
}

struct Toy;
impl Protocol for Toy {
    type Request = u32;
    type Message = Msg;
    type Incoming = Msg;
    type Item = u32;
    fn assemble(items: Vec<(Seqnum, u32)>, acks: Vec<Seqnum>) -> Msg {
        Msg { items, acks }
    }
    fn disassemble(message: Msg) -> Inbound<u32> {
        Inbound {
            items: message.items,
            acks: message.acks,
        }
    }
}

fn t0() -> Instant {
    static T0: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *T0.get_or_init(Instant::now)
}

fn at(ms: u64) -> Instant {
    t0() + Duration::from_millis(ms)
}

#[test]
fn requests_and_acks_coalesce_into_one_message() {
    let mut s = Session::<Toy>::new(SessionConfig::default(), 1);
    assert_eq!(s.send(10), 1);
    assert_eq!(s.send(11), 2);
    assert_eq!(
        s.handle_message(Msg {
            items: vec![(7, 99)],
            acks: vec![]
        }),
        vec![(7, 99)]
    );
    let msg = s.poll_transmit(at(0)).unwrap();
    assert_eq!(
        msg,
        Msg {
            items: vec![(1, 10), (2, 11)],
            acks: vec![7]
        }
    );
    assert!(s.poll_transmit(at(0)).is_none(), "nothing more is due");
}

#[test]
fn duplicates_are_acked_again_but_delivered_once() {
    let mut s = Session::<Toy>::new(SessionConfig::default(), 0);
    let dup = Msg {
        items: vec![(3, 1), (3, 1)],
        acks: vec![],
    };
    assert_eq!(s.handle_message(dup.clone()), vec![(3, 1)]);
    assert_eq!(s.poll_transmit(at(0)).unwrap().acks, vec![3]);
    assert_eq!(s.handle_message(dup), vec![]);
    assert_eq!(s.poll_transmit(at(0)).unwrap().acks, vec![3]);
    assert_eq!(s.stats().duplicates, 3);
}

#[test]
fn unacked_requests_are_resent_with_backoff_until_acked() {
    let config = SessionConfig {
        jitter: 0.0,
        ..SessionConfig::default()
    };
    let mut s = Session::<Toy>::new(config, 1);
    s.send(5);
    assert!(s.poll_transmit(at(0)).is_some());
    assert_eq!(s.poll_timeout(), Some(at(500)));
    assert!(s.poll_transmit(at(499)).is_none());
    assert_eq!(s.poll_transmit(at(500)).unwrap().items, vec![(1, 5)]);
    assert_eq!(s.poll_timeout(), Some(at(1500)), "the wait doubled");
    s.handle_message(Msg {
        items: vec![],
        acks: vec![1],
    });
    assert_eq!(s.poll_timeout(), None);
    assert!(s.is_idle());
    assert_eq!(s.stats().resends, 1);
}

#[test]
fn backoff_is_capped_and_jittered_within_bounds() {
    let config = SessionConfig {
        jitter: 0.2,
        ..SessionConfig::default()
    };
    let mut s = Session::<Toy>::new(config, 1);
    s.send(5);
    let mut now = at(0);
    for attempt in 0..20 {
        s.poll_transmit(now).unwrap();
        let wait = s.poll_timeout().unwrap() - now;
        let base = Duration::from_millis(500)
            .saturating_mul(1 << attempt.min(16))
            .min(Duration::from_secs(8));
        assert!(
            wait >= base.mul_f64(0.8) && wait <= base.mul_f64(1.2),
            "attempt {attempt}: {wait:?}"
        );
        now += wait;
    }
}

#[test]
fn a_stuck_request_is_reported_once_and_still_resent() {
    let config = SessionConfig {
        stuck_after: 3,
        jitter: 0.0,
        ..SessionConfig::default()
    };
    let mut s = Session::<Toy>::new(config, 1);
    s.send(5);
    let mut now = at(0);
    for _ in 0..6 {
        assert!(s.poll_transmit(now).is_some());
        now = s.poll_timeout().unwrap();
    }
    assert_eq!(
        s.poll_event(),
        Some(SessionEvent::Stuck {
            seqnum: 1,
            attempts: 4,
            since: Duration::from_millis(3500)
        })
    );
    assert_eq!(s.poll_event(), None);
    assert!(s.is_unacked(1));
}

#[test]
fn batches_are_bounded() {
    let config = SessionConfig {
        max_requests_per_message: 3,
        max_acks_per_message: 2,
        ..SessionConfig::default()
    };
    let mut s = Session::<Toy>::new(config, 1);
    for i in 0..7 {
        s.send(i);
    }
    s.handle_message(Msg {
        items: (100..105).map(|q| (q, 0)).collect(),
        acks: vec![],
    });
    let sizes: Vec<(usize, usize)> = std::iter::from_fn(|| s.poll_transmit(at(0)))
        .map(|m| (m.items.len(), m.acks.len()))
        .collect();
    assert_eq!(sizes, vec![(3, 2), (3, 2), (1, 1)]);
}

#[test]
fn restored_state_resends_and_never_reuses_or_redelivers() {
    let mut s = Session::<Toy>::new(SessionConfig::default(), 1);
    s.send(1);
    s.send(2);
    s.handle_message(Msg {
        items: vec![(40, 0), (41, 0)],
        acks: vec![1],
    });
    let state = s.state();
    assert_eq!(
        state,
        SessionState {
            next_seqnum: 3,
            unacked: vec![(2, 2)],
            seen: vec![(40, 41)]
        }
    );

    let mut r = Session::<Toy>::restore(SessionConfig::default(), state);
    assert_eq!(
        r.poll_transmit(at(0)).unwrap().items,
        vec![(2, 2)],
        "unacked resent at once"
    );
    assert_eq!(r.send(3), 3, "no seqnum reused");
    assert_eq!(
        r.handle_message(Msg {
            items: vec![(41, 0), (42, 0)],
            acks: vec![]
        }),
        vec![(42, 0)]
    );
}

/// A lossy, duplicating, reordering link in one direction.
struct Link {
    in_flight: Vec<(Instant, Msg)>,
    drop: f64,
    duplicate: f64,
    max_delay_ms: u64,
}

impl Link {
    fn push(&mut self, now: Instant, msg: Msg, rng: &mut ChaCha8Rng) {
        let copies = if rng.random_bool(self.duplicate) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            if !rng.random_bool(self.drop) {
                let delay = Duration::from_millis(rng.random_range(0..=self.max_delay_ms));
                self.in_flight.push((now + delay, msg.clone()));
            }
        }
    }

    fn take_due(&mut self, now: Instant, rng: &mut ChaCha8Rng) -> Vec<Msg> {
        let (mut due, rest): (Vec<_>, Vec<_>) =
            self.in_flight.drain(..).partition(|(t, _)| *t <= now);
        self.in_flight = rest;
        due.shuffle(rng);
        due.into_iter().map(|(_, m)| m).collect()
    }
}

/// A side of the simulated link: its session and what it has acted on (persisted together).
struct Peer {
    session: Session<Toy>,
    acted: HashMap<u32, u32>,
}

impl Peer {
    fn crash_and_restore(&mut self, seed: u64) {
        let config = SessionConfig {
            seed,
            ..fast_config(seed)
        };
        self.session = Session::restore(config, self.session.state());
    }
}

fn fast_config(seed: u64) -> SessionConfig {
    SessionConfig {
        initial_resend: Duration::from_millis(100),
        max_resend: Duration::from_millis(800),
        seed,
        ..SessionConfig::default()
    }
}

/// A sends `n` requests to B; B answers each with an item of its own. Both directions drop,
/// duplicate and reorder; both sides may crash and resume from saved state between steps.
fn run_lossy(seed: u64, n: u32, drop: f64, duplicate: f64, crash: f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let link = |rng: &mut ChaCha8Rng| Link {
        in_flight: vec![],
        drop,
        duplicate,
        max_delay_ms: rng.random_range(0..300),
    };
    let (mut a_to_b, mut b_to_a) = (link(&mut rng), link(&mut rng));
    let mut a = Peer {
        session: Session::new(fast_config(seed), 1),
        acted: HashMap::new(),
    };
    let mut b = Peer {
        session: Session::new(fast_config(seed ^ 1), 1000),
        acted: HashMap::new(),
    };
    for request in 0..n {
        a.session.send(request);
    }
    let mut now = at(0);
    let deadline = at(10 * 60 * 1000);
    loop {
        for msg in a_to_b.take_due(now, &mut rng) {
            for (_, request) in b.session.handle_message(msg) {
                *b.acted.entry(request).or_default() += 1;
                b.session.send(request + 1_000_000);
            }
        }
        for msg in b_to_a.take_due(now, &mut rng) {
            for (_, answer) in a.session.handle_message(msg) {
                *a.acted.entry(answer).or_default() += 1;
            }
        }
        // State and effects are "persisted" here, before anything is transmitted.
        if rng.random_bool(crash) {
            a.crash_and_restore(rng.random());
        }
        if rng.random_bool(crash) {
            b.crash_and_restore(rng.random());
        }
        while let Some(msg) = a.session.poll_transmit(now) {
            a_to_b.push(now, msg, &mut rng);
        }
        while let Some(msg) = b.session.poll_transmit(now) {
            b_to_a.push(now, msg, &mut rng);
        }
        let done = a.session.is_idle()
            && b.session.is_idle()
            && a_to_b.in_flight.is_empty()
            && b_to_a.in_flight.is_empty();
        if done {
            break;
        }
        assert!(
            now < deadline,
            "no quiescence after 10 simulated minutes: a {:?}, b {:?}",
            a.session,
            b.session
        );
        now += Duration::from_millis(rng.random_range(1..50));
    }
    for request in 0..n {
        assert_eq!(
            b.acted.get(&request),
            Some(&1),
            "request {request} acted on {:?} times",
            b.acted.get(&request)
        );
        assert_eq!(
            a.acted.get(&(request + 1_000_000)),
            Some(&1),
            "answer to {request}"
        );
    }
    assert_eq!(b.acted.len(), n as usize);
    assert_eq!(a.acted.len(), n as usize);
}

#[test]
fn a_perfect_link_delivers_everything_once() {
    run_lossy(1, 100, 0.0, 0.0, 0.0);
}

#[test]
fn a_very_lossy_link_still_delivers_everything_once() {
    run_lossy(2, 200, 0.5, 0.3, 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn exactly_once_under_drop_duplication_reordering_and_crashes(
        seed in any::<u64>(),
        n in 1u32..60,
        drop in 0.0f64..0.6,
        duplicate in 0.0f64..0.5,
        crash in prop_oneof![Just(0.0), 0.0f64..0.05],
    ) {
        run_lossy(seed, n, drop, duplicate, crash);
    }
}
