//! Fulfilment steps: all-or-nothing commits, the outbox and link states.

use std::sync::Arc;

use weshop_core::{
    domain::{OrderStatus, WarehouseId},
    store::{OutboxEntry, StepCommit, Store, StoreError},
};

use super::common::{
    at, counts, customer_role, delta, every_effect, order_of, place, product_with, seller_role,
    usd, user_with,
};

/// Fulfilment steps: all or nothing, with each order's version checked.
pub async fn commit_step<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let mug = product_with(&*store, seller.id, "Mug", usd(500)).await;
    let w = WarehouseId::new(1).unwrap();
    store
        .change_stock(&[delta(w, mug.id, 5, 0, 0)])
        .await
        .unwrap();
    let one = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    place(&*store, &one, "one").await;
    let two = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    place(&*store, &two, "two").await;
    let pack = delta(w, mug.id, -1, 0, -1);
    let effects = every_effect();
    let mut packing = one.clone();
    packing.advance(OrderStatus::Packing, at(50)).unwrap();
    let mut packing_two = two.clone();
    packing_two.advance(OrderStatus::Packing, at(50)).unwrap();

    let unchanged = |store: Arc<S>, why: &'static str| {
        let (one, two) = (one.clone(), two.clone());
        async move {
            assert_eq!(store.order(one.id()).await.unwrap(), Some(one), "{why}");
            assert_eq!(store.order(two.id()).await.unwrap(), Some(two), "{why}");
            let stock = store.stock(mug.id).await.unwrap();
            assert_eq!(counts(stock[0].1), (5, 0, 2), "{why}: stock");
            assert_eq!(store.outbox().await.unwrap(), vec![], "{why}: outbox");
            assert_eq!(
                store.link_state("world").await.unwrap(),
                None,
                "{why}: link"
            );
        }
    };

    // An order never placed: a step cannot write it into being.
    let never = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    for (orders, why) in [
        (
            vec![
                (packing.clone(), one.version()),
                (never.clone(), never.version()),
            ],
            "an order that was never placed",
        ),
        (
            vec![(packing.clone(), one.version() + 1)],
            "a version from the future",
        ),
        (
            vec![(packing.clone(), one.version() - 1)],
            "a stale version",
        ),
        (
            vec![
                (packing.clone(), one.version()),
                (packing_two.clone(), two.version() + 5),
            ],
            "a conflict on the second order",
        ),
    ] {
        let step = StepCommit {
            orders,
            stock: vec![pack],
            effects: effects.clone(),
            done: vec![],
            links: vec![("world".into(), vec![1, 2, 3])],
            fence: None,
        };
        match store.commit_step(step).await {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("{why}: expected Conflict, got {other:?}"),
        }
        unchanged(store.clone(), why).await;
    }

    let entries = store
        .commit_step(StepCommit {
            orders: vec![(packing.clone(), one.version())],
            stock: vec![pack],
            effects: effects[..2].to_vec(),
            done: vec![],
            links: vec![("world".into(), vec![1, 2, 3])],
            fence: None,
        })
        .await
        .expect("commit");
    assert_eq!(entries.len(), 2);
    assert!(entries[0].id < entries[1].id, "outbox ids increase");
    assert_eq!(
        entries.iter().map(|e| e.effect.clone()).collect::<Vec<_>>(),
        effects[..2].to_vec()
    );
    assert_eq!(store.order(one.id()).await.unwrap(), Some(packing.clone()));
    assert_eq!(store.order(two.id()).await.unwrap(), Some(two.clone()));
    assert_eq!(counts(store.stock(mug.id).await.unwrap()[0].1), (4, 0, 1));
    assert_eq!(store.outbox().await.unwrap(), entries);
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(vec![1, 2, 3])
    );

    // The same step again is now stale.
    match store
        .commit_step(StepCommit {
            orders: vec![(packing.clone(), one.version())],
            ..StepCommit::default()
        })
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a replayed step must conflict, got {other:?}"),
    }

    // A refused stock delta undoes the whole step, removals and link states included.
    match store
        .commit_step(StepCommit {
            orders: vec![(packing_two.clone(), two.version())],
            stock: vec![delta(w, mug.id, 0, 0, -1), delta(w, mug.id, -100, 0, 0)],
            effects: effects[2..4].to_vec(),
            done: vec![entries[0].id],
            links: vec![("world".into(), vec![9]), ("ups".into(), vec![9])],
            fence: None,
        })
        .await
    {
        Err(StoreError::OutOfStock {
            product,
            warehouse,
            available,
        }) => assert_eq!((product, warehouse, available), (mug.id, w, 4)),
        other => panic!("expected OutOfStock, got {other:?}"),
    }
    assert_eq!(store.order(two.id()).await.unwrap(), Some(two.clone()));
    assert_eq!(counts(store.stock(mug.id).await.unwrap()[0].1), (4, 0, 1));
    assert_eq!(
        store.outbox().await.unwrap(),
        entries,
        "nothing removed or added"
    );
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(vec![1, 2, 3])
    );
    assert_eq!(store.link_state("ups").await.unwrap(), None);

    // An empty step changes nothing.
    assert_eq!(
        store.commit_step(StepCommit::default()).await.unwrap(),
        vec![]
    );
    assert_eq!(store.outbox().await.unwrap(), entries);
}

/// The outbox: every kind of effect round-trips; ids increase in commit order and are never
/// reused, even after the newest entries are removed.
pub async fn outbox_ids<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.outbox().await.unwrap(), vec![]);
    let effects = every_effect();
    let first = store
        .commit_step(StepCommit {
            effects: effects.clone(),
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        first.iter().map(|e| e.effect.clone()).collect::<Vec<_>>(),
        effects,
        "every effect round-trips"
    );
    assert!(
        first.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase: {:?}",
        first.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(store.outbox().await.unwrap(), first);

    let newest = first.last().expect("entries").id;
    let removed = store
        .commit_step(StepCommit {
            done: vec![newest, first[0].id],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert!(removed.is_empty());
    let rest = first[1..first.len() - 1].to_vec();
    assert_eq!(store.outbox().await.unwrap(), rest);

    // Removing and appending in one step; a removal of a missing entry is harmless.
    let more = store
        .commit_step(StepCommit {
            effects: effects[..2].to_vec(),
            done: vec![rest[0].id, newest],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(more.len(), 2);
    assert!(
        more[0].id > newest && more[1].id > more[0].id,
        "ids are not reused"
    );
    let mut expected = rest[1..].to_vec();
    expected.extend(more.clone());
    assert_eq!(store.outbox().await.unwrap(), expected);

    let all: Vec<u64> = expected.iter().map(|e| e.id).collect();
    store
        .commit_step(StepCommit {
            done: all,
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.outbox().await.unwrap(), vec![]);
    let last = store
        .commit_step(StepCommit {
            effects: effects[..1].to_vec(),
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert!(last[0].id > more[1].id, "not reused after emptying either");
    assert_eq!(
        store.outbox().await.unwrap(),
        vec![OutboxEntry {
            id: last[0].id,
            effect: effects[0].clone()
        }]
    );
}

/// Link states: arbitrary bytes round-trip, empty ones too; saving replaces.
pub async fn link_states<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.link_state("world").await.unwrap(), None);
    let every_byte: Vec<u8> = (0..=255).collect();
    store
        .commit_step(StepCommit {
            links: vec![
                ("world".into(), Vec::new()),
                ("ups".into(), every_byte.clone()),
            ],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(Vec::new()),
        "an empty state is a state"
    );
    assert_eq!(
        store.link_state("ups").await.unwrap(),
        Some(every_byte.clone())
    );
    assert_eq!(store.link_state("world ").await.unwrap(), None);

    // Larger, and not valid UTF-8 anywhere.
    let mut x: u32 = 0x9e37_79b9;
    let big: Vec<u8> = (0..65_536)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect();
    store
        .commit_step(StepCommit {
            links: vec![
                ("world".into(), vec![0, 255, 0]),
                ("world-7/ups".into(), big.clone()),
            ],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        store.link_state("world").await.unwrap(),
        Some(vec![0, 255, 0])
    );
    assert_eq!(store.link_state("world-7/ups").await.unwrap(), Some(big));
    assert_eq!(store.link_state("ups").await.unwrap(), Some(every_byte));
}
