//! Leases and the commits they fence.

use std::{sync::Arc, time::Duration};

use weshop_core::{
    lease::{FULFILMENT, Lease, LeaseClaim},
    store::{StepCommit, Store, StoreError},
};

use super::common::at;

const TTL: Duration = Duration::from_secs(3);

fn granted(claim: LeaseClaim) -> Lease {
    match claim {
        LeaseClaim::Granted(lease) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// A step that saves link state `state`, fenced by `lease`.
fn fenced_step(lease: &Lease, state: u8) -> StepCommit {
    StepCommit {
        links: vec![("world".into(), vec![state])],
        fence: Some(lease.fence()),
        ..StepCommit::default()
    }
}

/// The first claim gets term 1 and a renewal keeps it; another holder is refused until the
/// lease has run out, then takes it at the next term; a step fenced by the old term is then
/// refused with nothing changed (and retrying cannot help), one fenced by the current term
/// commits; a release by its holder lets another take it at once (a release by anyone else
/// does nothing); names are independent; of racing claims exactly one is granted.
pub async fn leases<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.lease(FULFILMENT).await.unwrap(), None);
    let a = granted(
        store
            .claim_lease(FULFILMENT, "a", at(1_000), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(
        (a.name.as_str(), a.holder.as_str(), a.term, a.until),
        (FULFILMENT, "a", 1, at(4_000))
    );
    assert_eq!(store.lease(FULFILMENT).await.unwrap(), Some(a.clone()));
    let a = granted(
        store
            .claim_lease(FULFILMENT, "a", at(2_000), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(
        (a.term, a.until),
        (1, at(5_000)),
        "a renewal keeps the term"
    );
    store.commit_step(fenced_step(&a, 1)).await.unwrap();
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(vec![1]),
        "a step fenced by the current term commits"
    );

    assert_eq!(
        store
            .claim_lease(FULFILMENT, "b", at(5_000), TTL)
            .await
            .unwrap(),
        LeaseClaim::HeldBy(a.clone()),
        "held up to its last millisecond"
    );
    let b = granted(
        store
            .claim_lease(FULFILMENT, "b", at(5_001), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(
        (b.holder.as_str(), b.term),
        ("b", 2),
        "a takeover raises the term"
    );
    assert_eq!(
        store
            .claim_lease(FULFILMENT, "a", at(5_002), TTL)
            .await
            .unwrap(),
        LeaseClaim::HeldBy(b.clone()),
        "the old holder is refused too"
    );

    match store.commit_step(fenced_step(&a, 2)).await {
        Err(StoreError::Fenced(_)) => {}
        other => panic!("a step fenced by a deposed term: expected Fenced, got {other:?}"),
    }
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(vec![1]),
        "a fenced-off step changes nothing"
    );
    store.commit_step(fenced_step(&b, 3)).await.unwrap();
    assert_eq!(store.link_state("world").await.unwrap(), Some(vec![3]));

    store.release_lease(FULFILMENT, "a", 1).await.unwrap();
    store.release_lease(FULFILMENT, "b", 1).await.unwrap();
    assert_eq!(
        store.lease(FULFILMENT).await.unwrap(),
        Some(b.clone()),
        "a release by someone else, or for another term, does nothing"
    );
    store.release_lease(FULFILMENT, "b", 2).await.unwrap();
    let c = granted(
        store
            .claim_lease(FULFILMENT, "c", at(5_003), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(
        c.term, 3,
        "a released lease is taken at once, at the next term"
    );

    let other = granted(
        store
            .claim_lease("reports", "b", at(5_004), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(other.term, 1, "another name is another lease");
    assert_eq!(store.lease(FULFILMENT).await.unwrap(), Some(c));

    // Eight nodes claim one lease at once: one gets it.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .claim_lease("race", &format!("node-{i}"), at(6_000 + i), TTL)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = Vec::new();
    for racer in racers {
        if let LeaseClaim::Granted(lease) = racer.await.unwrap() {
            winners.push(lease);
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one of the racing claims is granted"
    );
    assert_eq!(store.lease("race").await.unwrap(), winners.pop());
}
