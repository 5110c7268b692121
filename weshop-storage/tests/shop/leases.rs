//! The fulfilment lease as nodes use it: a deposed leader's driver cannot commit, its
//! successor's can, and a keeper hands the lease over when its holder stops.

use std::{sync::Arc, time::Duration};

use weshop_core::{
    domain::{OrderStatus, Timestamp},
    fulfilment::{Effect, WarehouseCommand},
    lease::{FULFILMENT, Lease, LeaseClaim, LeaseKeeper, Lost},
    ports::Clock,
    shop::Shop,
    store::{LeaseStore, Store, StoreError},
};
use weshop_storage::MemoryStore;

use super::{Rig, at, checkout::checkout, q};

const TTL: Duration = Duration::from_secs(3);

fn granted(claim: LeaseClaim) -> Lease {
    match claim {
        LeaseClaim::Granted(lease) => lease,
        other => panic!("expected a grant, got {other:?}"),
    }
}

/// Node A leads (its driver fenced at term 1) and serves a checkout; node B takes the lease
/// over once it has run out. A's next serve is refused (`Fenced`) and changes nothing — the
/// order placed meanwhile waits, safe in the store — until B's driver, fenced at term 2,
/// serves it. Each order is packed once.
pub async fn deposed_leader<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let node_b = rig.other_node().await;
    let (driver_a, driver_b) = (rig.shop.fulfilment().clone(), node_b.driver().clone());
    let a = granted(
        store
            .claim_lease(FULFILMENT, "a", at(0), TTL)
            .await
            .unwrap(),
    );
    driver_a.fence_with(Some(a.fence()));
    let (customer, card) = rig.customer("lease@example.com", "4242424242424242").await;
    let mut orders = Vec::new();
    let buy = |key: &'static str| {
        let (shop, product, card) = (rig.shop.clone(), rig.product.id, card.clone());
        async move {
            shop.add_to_cart(customer, product, q(1)).await.unwrap();
            shop.checkout(customer, checkout(&card, key)).await.unwrap()
        }
    };
    orders.push(buy("lease-1").await);
    let first = store.order(orders[0].id()).await.unwrap().unwrap();
    assert_eq!(first.status(), OrderStatus::Packing, "the leader serves it");

    let b = granted(
        store
            .claim_lease(FULFILMENT, "b", at(TTL.as_millis() as u64 + 1), TTL)
            .await
            .unwrap(),
    );
    assert_eq!(b.term, a.term + 1);
    driver_b.fence_with(Some(b.fence()));
    // Placed through node A, whose driver is deposed: the placement commits (any node takes
    // orders), the serve does not.
    orders.push(buy("lease-2").await);
    let second = store.order(orders[1].id()).await.unwrap().unwrap();
    assert_eq!(
        second.status(),
        OrderStatus::Placed,
        "a deposed leader serves nothing"
    );
    match driver_a.serve(rig.warehouse.id).await {
        Err(StoreError::Fenced(_)) => {}
        other => panic!("a deposed leader's commit: expected Fenced, got {other:?}"),
    }
    assert_eq!(
        store.order(second.id()).await.unwrap(),
        Some(second.clone())
    );

    driver_b.serve(rig.warehouse.id).await.unwrap();
    let second = store.order(second.id()).await.unwrap().unwrap();
    assert_eq!(
        second.status(),
        OrderStatus::Packing,
        "the new leader serves it"
    );
    let packs = store
        .outbox()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| matches!(e.effect, Effect::Warehouse(WarehouseCommand::Pack { .. })))
        .count();
    assert_eq!(packs, 2, "each order packed once");
    rig.check_stock(&[first, second]).await;
}

/// Two nodes share the store; A leads (its serving loop runs), B follows. A checkout through
/// B commits the order and serves nothing; A's loop finds it in the store and serves it.
pub async fn follower_checkouts_reach_the_leader<S: Store + ?Sized + 'static>(store: Arc<S>) {
    const PICKUP: Duration = Duration::from_millis(50);
    let rig = Rig::new(store.clone(), 10).await;
    let leader = rig.shop.fulfilment().clone();
    leader.share_store(PICKUP);
    let follower = rig.other_node().await;
    follower.driver().share_store(PICKUP);
    let follower = follower.shop().clone();
    let (customer, card) = rig.customer("follow@example.com", "4242424242424242").await;
    follower
        .add_to_cart(customer, rig.product.id, q(1))
        .await
        .unwrap();
    let order = follower
        .checkout(customer, checkout(&card, "follow-1"))
        .await
        .unwrap();
    assert_eq!(
        store.order(order.id()).await.unwrap().unwrap().status(),
        OrderStatus::Placed,
        "a follower serves nothing"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(async move {
        leader
            .run_serving(Duration::from_millis(50), async move {
                let _ = stopped.await;
            })
            .await;
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = store.order(order.id()).await.unwrap().unwrap();
        if now.status() == OrderStatus::Packing {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the leader did not pick the order up: {:?}",
            now.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    serving.await.unwrap();
}

/// A clock that follows tokio's (paused) time.
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000 + self.0.elapsed().as_millis() as u64)
    }
}

fn keeper(
    store: &Arc<MemoryStore>,
    clock: &Arc<TokioClock>,
    holder: &str,
) -> LeaseKeeper<MemoryStore> {
    LeaseKeeper::new(store.clone(), clock.clone(), FULFILMENT, holder, TTL)
}

/// A node that dies holding the lease (its keeper stops renewing) is replaced once the lease
/// runs out, not before; one that shuts down gives the lease back, and the next node takes it
/// at its next claim.
#[tokio::test(start_paused = true)]
async fn keepers_hand_the_lease_over() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(TokioClock(tokio::time::Instant::now()));
    let never = std::future::pending::<()>;

    let a = keeper(&store, &clock, "a");
    let lease_a = a.acquire(never()).await.expect("a free lease is granted");
    let held = tokio::spawn({
        let (store, clock, lease) = (store.clone(), clock.clone(), lease_a.clone());
        async move { keeper(&store, &clock, "a").hold(lease, never()).await }
    });
    // B waits while A renews.
    let b = keeper(&store, &clock, "b");
    let started = tokio::time::Instant::now();
    assert!(
        tokio::time::timeout(TTL * 4, b.acquire(never()))
            .await
            .is_err(),
        "B gets nothing while A renews"
    );
    // A dies: its keeper stops renewing. B takes over within a lease time and a claim period.
    held.abort();
    let died = tokio::time::Instant::now();
    let lease_b = b.acquire(never()).await.expect("granted");
    let waited = died.elapsed();
    assert!(started.elapsed() >= TTL * 4);
    assert!(waited <= TTL + b.period(), "took over after {waited:?}");
    assert_eq!(
        (lease_b.holder.as_str(), lease_b.term),
        ("b", lease_a.term + 1)
    );

    // A's keeper, back from the dead, finds it lost at its next renewal.
    assert_eq!(
        a.hold(lease_a, never()).await,
        Lost::TakenOver(store.lease(FULFILMENT).await.unwrap().unwrap())
    );

    // B shuts down: the lease is given back, and C gets it at its first claim.
    let lost = b.hold(lease_b.clone(), async {}).await;
    assert_eq!(lost, Lost::ShutDown);
    b.release(&lease_b).await;
    let c = keeper(&store, &clock, "c");
    let before = tokio::time::Instant::now();
    let lease_c = c.acquire(never()).await.expect("granted");
    assert_eq!(before.elapsed(), Duration::ZERO, "no wait after a release");
    assert_eq!(lease_c.term, lease_b.term + 1);
}

/// With several nodes, the leader releases a hold no order stands behind only once it has
/// stayed so for a grace period (it may be another node's checkout in flight): a hold left by
/// a node killed mid-checkout is released at the second look after it appeared, a checkout's
/// hold whose order is placed meanwhile never is.
#[tokio::test(start_paused = true)]
async fn the_leader_releases_holds_still_stray_after_a_grace_period() {
    use weshop_core::payments::{IdempotencyKey, Payments};
    let store = Arc::new(MemoryStore::new());
    let rig = Rig::new(store.clone(), 10).await;
    let grace = weshop_core::service::ShopConfig::default().stray_hold_grace;
    let (customer, card) = rig.customer("holds@example.com", "4242424242424242").await;
    let hold = |key: &'static str| {
        let (gateway, card) = (rig.gateway.clone(), card.clone());
        async move {
            gateway
                .authorize(&card, super::usd(500), &IdempotencyKey::parse(key).unwrap())
                .await
                .unwrap()
                .id
        }
    };
    let dead_node = hold("killed-mid-checkout").await;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shop = rig.shop.clone();
    let releasing = tokio::spawn(async move {
        shop.release_stray_holds_while_leading(async move {
            let _ = stopped.await;
        })
        .await;
    });
    // Half a grace period in: a checkout completes, another node's is still in flight.
    tokio::time::sleep(grace / 2).await;
    let order = rig.buy_one(customer, &card, "holds-1").await;
    let in_flight = hold("in-flight").await;
    let held = rig.gateway.held();
    assert!(held.contains(&dead_node) && held.contains(&in_flight));

    tokio::time::sleep(grace).await;
    let held = rig.gateway.held();
    assert!(
        !held.contains(&dead_node),
        "stray at two looks a grace period apart: released"
    );
    assert!(
        held.contains(&in_flight),
        "stray at one look only: kept (it may be a checkout in flight)"
    );
    assert!(held.contains(order.payment()), "an order stands behind it");

    tokio::time::sleep(grace).await;
    let held = rig.gateway.held();
    assert!(
        !held.contains(&in_flight),
        "still stray a grace period later"
    );
    assert!(held.contains(order.payment()));
    let _ = stop.send(());
    releasing.await.unwrap();
}
