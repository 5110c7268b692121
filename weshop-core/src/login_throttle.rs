//! Login throttling: after a few wrong passwords, each further attempt must wait, twice as
//! long each time, up to a cap; a success (or an hour without failures) forgets the count.
//!
//! Keyed by whatever the caller throttles on: the shop keys it by account (so guessing one
//! account's password from many addresses is slow), the server by client address (so one
//! address cannot try many accounts fast). The wait is bounded (the cap), so an attacker can
//! slow a real user's logins down but never lock them out for good. Sans-IO: the caller
//! passes `now`.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::domain::Timestamp;

/// How throttling counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before any wait.
    pub free: u32,
    /// The first wait; each failure after doubles it.
    pub first_wait: Duration,
    /// The longest wait.
    pub max_wait: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
    /// Most keys tracked (the oldest are dropped past it), a bound on memory.
    pub max_keys: usize,
}

impl Default for ThrottlePolicy {
    /// 5 free tries, then 1 s, 2 s, 4 s… up to 15 minutes; forgotten after an hour.
    fn default() -> Self {
        Self {
            free: 5,
            first_wait: Duration::from_secs(1),
            max_wait: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
            max_keys: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Timestamp,
}

/// Counts failed logins per key.
#[derive(Debug)]
pub struct LoginThrottle<K> {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<K, Failures>>,
}

impl<K: Eq + Hash + Clone> LoginThrottle<K> {
    /// A throttle with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` when `key` must wait before trying again, else `Ok`.
    pub fn check(&self, key: &K, now: Timestamp) -> Result<(), Duration> {
        let failures = self.lock();
        let Some(f) = failures.get(key) else {
            return Ok(());
        };
        let since = Duration::from_millis(now.millis().saturating_sub(f.last.millis()));
        if since >= self.policy.forget_after {
            return Ok(());
        }
        let wait = self.wait_after(f.count);
        if since >= wait {
            Ok(())
        } else {
            Err(wait - since)
        }
    }

    /// Records a failed attempt of `key` (a wrong password).
    pub fn failed(&self, key: &K, now: Timestamp) {
        let mut failures = self.lock();
        let forget = self.policy.forget_after;
        let entry = failures.entry(key.clone()).or_insert(Failures {
            count: 0,
            last: now,
        });
        let since = Duration::from_millis(now.millis().saturating_sub(entry.last.millis()));
        if since >= forget {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        if failures.len() > self.policy.max_keys {
            // Past the bound: drop what is forgotten anyway, then the oldest.
            failures.retain(|_, f| {
                Duration::from_millis(now.millis().saturating_sub(f.last.millis())) < forget
            });
            while failures.len() > self.policy.max_keys {
                let Some(oldest) = failures
                    .iter()
                    .min_by_key(|(_, f)| f.last)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                failures.remove(&oldest);
            }
        }
    }

    /// Forgets `key`'s failures (it logged in).
    pub fn succeeded(&self, key: &K) {
        self.lock().remove(key);
    }

    /// The wait after `count` failures.
    fn wait_after(&self, count: u32) -> Duration {
        if count < self.policy.free {
            return Duration::ZERO;
        }
        let doublings = (count - self.policy.free).min(30);
        self.policy
            .first_wait
            .saturating_mul(1u32 << doublings)
            .min(self.policy.max_wait)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Failures>> {
        self.failures.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(1_000_000_000 + secs * 1000)
    }

    #[test]
    fn waits_double_after_the_free_tries_and_are_capped() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        let key = "ann@example.com".to_string();
        for n in 0..5 {
            assert_eq!(throttle.check(&key, at(n)), Ok(()));
            throttle.failed(&key, at(n));
        }
        // Five wrong: one second to wait.
        assert_eq!(throttle.check(&key, at(4)), Err(Duration::from_secs(1)));
        assert_eq!(throttle.check(&key, at(5)), Ok(()));
        throttle.failed(&key, at(5));
        assert_eq!(throttle.check(&key, at(6)), Err(Duration::from_secs(1)));
        assert_eq!(throttle.check(&key, at(7)), Ok(()));
        let mut t = 7;
        for _ in 0..40 {
            throttle.failed(&key, at(t));
            t += 1;
        }
        // Capped: never more than 15 minutes.
        assert_eq!(
            throttle.check(&key, at(t - 1)),
            Err(Duration::from_secs(15 * 60))
        );
        assert_eq!(throttle.check(&key, at(t - 1 + 15 * 60)), Ok(()));
        // Other keys are not affected.
        assert_eq!(
            throttle.check(&"bob@example.com".to_string(), at(t)),
            Ok(())
        );
    }

    #[test]
    fn a_success_or_an_hour_forgets() {
        let throttle = LoginThrottle::new(ThrottlePolicy::default());
        let key = 7u32;
        for n in 0..8 {
            throttle.failed(&key, at(n));
        }
        assert!(throttle.check(&key, at(8)).is_err());
        throttle.succeeded(&key);
        assert_eq!(throttle.check(&key, at(8)), Ok(()));
        for n in 0..8 {
            throttle.failed(&key, at(n));
        }
        assert_eq!(throttle.check(&key, at(7 + 3600)), Ok(()));
        throttle.failed(&key, at(7 + 3600));
        assert_eq!(
            throttle.check(&key, at(7 + 3600)),
            Ok(()),
            "the count started again"
        );
    }

    #[test]
    fn it_tracks_a_bounded_number_of_keys() {
        let throttle = LoginThrottle::new(ThrottlePolicy {
            max_keys: 3,
            ..ThrottlePolicy::default()
        });
        for key in 0..10u32 {
            throttle.failed(&key, at(u64::from(key)));
            assert!(throttle.lock().len() <= 3);
        }
    }
}
