//! Leases in memory: claimed, released and checked (the commit fence) under the one lock, so
//! several shops sharing one `MemoryStore` in a process elect one leader as nodes would.

use async_trait::async_trait;
use weshop_core::{
    domain::Timestamp,
    lease::{Fence, Lease, LeaseClaim, decide},
    store::{LeaseStore, StoreError},
};

use super::{MemoryStore, State, records::Record};

impl State {
    /// `Ok` while `fence` (if any) names the lease's current term.
    pub(super) fn check_fence(&self, fence: Option<&Fence>) -> Result<(), StoreError> {
        let Some(fence) = fence else {
            return Ok(());
        };
        match self.leases.get(&fence.lease) {
            Some(lease) if lease.term == fence.term => Ok(()),
            Some(lease) => Err(StoreError::Fenced(format!(
                "lease {:?} is at term {} (held by {}), not {}",
                fence.lease, lease.term, lease.holder, fence.term
            ))),
            None => Err(StoreError::Fenced(format!(
                "lease {:?} was never claimed",
                fence.lease
            ))),
        }
    }
}

#[async_trait]
impl LeaseStore for MemoryStore {
    async fn claim_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: std::time::Duration,
    ) -> Result<LeaseClaim, StoreError> {
        self.write(|state| {
            let claim = decide(state.leases.get(name), name, holder, now, ttl);
            if let LeaseClaim::Granted(lease) = &claim {
                state.leases.insert(name.to_string(), lease.clone());
                state.touch(Record::Lease(name.to_string()));
            }
            Ok(claim)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str, term: u64) -> Result<(), StoreError> {
        self.write(|state| {
            if let Some(lease) = state.leases.get_mut(name)
                && lease.holder == holder
                && lease.term == term
            {
                lease.until = Timestamp::from_millis(0);
                state.touch(Record::Lease(name.to_string()));
            }
            Ok(())
        })
        .await
    }

    async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        // Waits for every write sealed so far, not only this lease's: the watchdog probes a
        // store by reading a lease, and so learns when the journal's writer stops making
        // progress (writes waiting on it) even though reads need no disk.
        self.read(|state| state.leases.get(name).cloned()).await
    }
}
