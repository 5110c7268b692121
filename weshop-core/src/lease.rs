//! One node at a time: when several shops share one database, a lease kept in the store says
//! which of them plays a role that must have a single player — the fulfilment leader, the one
//! node that runs the driver, the outbox and the world and UPS links — and until when.
//!
//! A lease is claimed and renewed through the store ([`crate::store::LeaseStore`]); every
//! change of hands raises its term. The holder puts a [`Fence`] with its term on each of its
//! commits, and the store refuses a commit whose term is no longer the lease's
//! ([`crate::store::StoreError::Fenced`]): a leader that was paused past its lease (a long GC,
//! a frozen VM, a partition) and wakes up after another node took over cannot change anything,
//! whatever its clock says. Clocks matter only for *when* a lease may be taken over.
//!
//! [`LeaseKeeper`] is the loop a node runs: claim until granted, renew every third of the
//! lease's time, and say when the lease is lost (taken over, or not renewed in time).

use std::{sync::Arc, time::Duration};

use crate::domain::Timestamp;
use crate::ports::Clock;
use crate::store::{LeaseStore, StoreError};

/// The name of the fulfilment leader's lease.
pub const FULFILMENT: &str = "fulfilment";

/// A lease as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What it is for ([`FULFILMENT`]).
    pub name: String,
    /// Who holds it (a node's name and a per-process nonce: a restarted node is a new holder).
    pub holder: String,
    /// Raised each time the lease changes hands (1 for the first holder).
    pub term: u64,
    /// Held until then unless renewed; after it, another node may take it over.
    pub until: Timestamp,
}

impl Lease {
    /// The fence for commits made under this lease.
    pub fn fence(&self) -> Fence {
        Fence {
            lease: self.name.clone(),
            term: self.term,
        }
    }
}

/// What a claim got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    /// The claimant holds the lease now (a renewal keeps the term, a takeover raises it).
    Granted(Lease),
    /// Someone else holds it, until the time given.
    HeldBy(Lease),
}

/// A commit's proof that its maker holds lease `lease` at `term`: the store refuses the
/// commit once the lease has another term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name.
    pub lease: String,
    /// The term the committer holds.
    pub term: u64,
}

/// A claim, decided: what a store does with `current` (the stored lease, if any) when
/// `holder` claims `name` at `now` for `ttl`. Stores that keep leases as plain values run this
/// under their lock or transaction; the SurrealDB store says the same in SurrealQL.
pub fn decide(
    current: Option<&Lease>,
    name: &str,
    holder: &str,
    now: Timestamp,
    ttl: Duration,
) -> LeaseClaim {
    let until = Timestamp::from_millis(
        now.millis()
            .saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
    );
    let granted = |term| {
        LeaseClaim::Granted(Lease {
            name: name.to_string(),
            holder: holder.to_string(),
            term,
            until,
        })
    };
    match current {
        None => granted(1),
        Some(lease) if lease.holder == holder => granted(lease.term),
        Some(lease) if lease.until < now => granted(lease.term + 1),
        Some(lease) => LeaseClaim::HeldBy(lease.clone()),
    }
}

/// Why a node stopped holding a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lost {
    /// Another node holds it now.
    TakenOver(Lease),
    /// It could not be renewed before it ran out (the store failed every time).
    NotRenewed(String),
    /// The node is shutting down (still holding the lease: give it back once stopped).
    ShutDown,
}

/// Claims, renews and gives back one lease for one node.
pub struct LeaseKeeper<S: ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    name: String,
    holder: String,
    ttl: Duration,
}

impl<S: LeaseStore + ?Sized> LeaseKeeper<S> {
    /// A keeper of lease `name` for `holder`, held `ttl` at a time.
    pub fn new(
        store: Arc<S>,
        clock: Arc<dyn Clock>,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            name: name.to_string(),
            holder: holder.to_string(),
            ttl,
        }
    }

    /// Who this keeper claims for.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// How often the lease is renewed (and claimed while someone else holds it).
    pub fn period(&self) -> Duration {
        self.ttl / 3
    }

    /// One claim (or renewal).
    pub async fn claim(&self) -> Result<LeaseClaim, StoreError> {
        self.store
            .claim_lease(&self.name, &self.holder, self.clock.now(), self.ttl)
            .await
    }

    /// Claims every [`Self::period`] until the lease is granted (then returns it) or
    /// `shutdown` completes (then `None`).
    pub async fn acquire(&self, shutdown: impl std::future::Future<Output = ()>) -> Option<Lease> {
        tokio::pin!(shutdown);
        let mut told = None;
        loop {
            match self.claim().await {
                Ok(LeaseClaim::Granted(lease)) => return Some(lease),
                Ok(LeaseClaim::HeldBy(other)) => {
                    if told.as_ref() != Some(&other.holder) {
                        tracing::info!(
                            lease = %self.name, holder = %other.holder, term = other.term,
                            "another node holds the lease; waiting to take over"
                        );
                        told = Some(other.holder);
                    }
                }
                Err(error) => tracing::warn!(lease = %self.name, "cannot claim the lease: {error}"),
            }
            tokio::select! {
                _ = &mut shutdown => return None,
                _ = tokio::time::sleep(self.period()) => {}
            }
        }
    }

    /// Renews `lease` every [`Self::period`] until it is lost or `shutdown` completes (then the
    /// caller stops what it ran under the lease and gives it back with [`Self::release`], so
    /// another node need not wait for it to run out). A renewal that fails is
    /// retried; once the lease would run out before the next try, it counts as lost: the
    /// caller must stop acting on it (its commits would be refused anyway once another node
    /// takes over).
    pub async fn hold(
        &self,
        mut lease: Lease,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Lost {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return Lost::ShutDown,
                _ = tokio::time::sleep(self.period()) => {}
            }
            match self.claim().await {
                Ok(LeaseClaim::Granted(renewed)) if renewed.term == lease.term => lease = renewed,
                // Granted at another term: it was taken over and given back in between, so
                // commits under the old term are refused already. Lost all the same.
                Ok(LeaseClaim::Granted(other)) | Ok(LeaseClaim::HeldBy(other)) => {
                    return Lost::TakenOver(other);
                }
                Err(error) => {
                    let next = self.clock.now().millis() + self.period().as_millis() as u64;
                    if next >= lease.until.millis() {
                        return Lost::NotRenewed(error.to_string());
                    }
                    tracing::warn!(lease = %self.name, "lease not renewed (trying again): {error}");
                }
            }
        }
    }

    /// Gives `lease` back (if still held at its term), so another node may take it at once.
    pub async fn release(&self, lease: &Lease) {
        if let Err(error) = self
            .store
            .release_lease(&self.name, &self.holder, lease.term)
            .await
        {
            tracing::warn!(lease = %self.name, "lease not given back (it runs out by itself): {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3);

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn granted(claim: LeaseClaim) -> Lease {
        match claim {
            LeaseClaim::Granted(lease) => lease,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn the_first_claim_gets_term_one_and_renewals_keep_it() {
        let first = granted(decide(None, FULFILMENT, "a", at(1_000), TTL));
        assert_eq!((first.term, first.until), (1, at(4_000)));
        let renewed = granted(decide(Some(&first), FULFILMENT, "a", at(2_000), TTL));
        assert_eq!((renewed.term, renewed.until), (1, at(5_000)));
        // Its own lease, even run out, is renewed at the same term: nobody took it meanwhile.
        let late = granted(decide(Some(&first), FULFILMENT, "a", at(9_000), TTL));
        assert_eq!(late.term, 1);
    }

    #[test]
    fn another_node_waits_until_the_lease_runs_out_then_raises_the_term() {
        let first = granted(decide(None, FULFILMENT, "a", at(1_000), TTL));
        assert_eq!(
            decide(Some(&first), FULFILMENT, "b", at(4_000), TTL),
            LeaseClaim::HeldBy(first.clone()),
            "held up to and including its last millisecond"
        );
        let taken = granted(decide(Some(&first), FULFILMENT, "b", at(4_001), TTL));
        assert_eq!((taken.holder.as_str(), taken.term), ("b", 2));
        assert_eq!(
            taken.fence(),
            Fence {
                lease: FULFILMENT.into(),
                term: 2
            }
        );
    }
}
