//! The driver's commits: group commit of a link's events (a crash between the commits of one
//! message loses nothing and applies nothing twice), its own copies of the orders it committed,
//! serving a long queue in chunks, and several warehouses in one commit.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use weshop_core::{
    domain::{Category, Description, OrderStatus, ProductName, TruckId, WarehouseId, Weight},
    fulfilment::{FulfilmentEvent, ship_id_of},
    shop::{ProductDraft, Shop},
    store::Store,
};

use super::{Interleaved, Rig, buy, delta, q};

/// Two packages' events and a purchase's arrival come in one message. The store "crashes"
/// after the first commit (the two `packed` events and the link state after them): the batch
/// reports one commit's worth of events, the store holds exactly that, and when the peer sends
/// the message again after the restart, the events already committed change nothing and the
/// rest are applied once.
pub async fn batch_crash<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let (customer, card) = rig.customer("batch@example.com", "4242424242424242").await;
    let mut orders = Vec::new();
    for key in ["batch-1", "batch-2"] {
        orders.push(rig.buy_one(customer, &card, key).await.id());
    }
    for id in &orders {
        let order = rig.store.order(*id).await.unwrap().unwrap();
        assert_eq!(order.status(), OrderStatus::Packing, "served at checkout");
    }
    let outbox_before = rig.store.outbox().await.unwrap().len();

    // A driver over a store that fails every commit after the first.
    let crashing = Arc::new(Interleaved::crashing_after(store.clone(), 1));
    let assembled = rig.node_over(crashing.clone(), &[rig.warehouse]).await;
    let driver = assembled.driver().clone();
    let link = |n: u8| Some(("world".to_string(), vec![n].into()));
    let message = vec![
        (
            FulfilmentEvent::Packed {
                ship_id: ship_id_of(orders[0]),
            },
            link(1),
        ),
        (
            FulfilmentEvent::Packed {
                ship_id: ship_id_of(orders[1]),
            },
            link(2),
        ),
        (
            FulfilmentEvent::Arrived {
                warehouse: rig.warehouse.id,
                items: vec![(rig.product.id, q(5))],
            },
            link(3),
        ),
        (
            FulfilmentEvent::TruckArrived {
                ship_id: ship_id_of(orders[0]),
                truck: TruckId::new(7).unwrap(),
            },
            link(4),
        ),
    ];
    let failed = driver
        .handle_batch(message.clone())
        .await
        .expect_err("the store crashed after one commit");
    assert_eq!(
        failed.committed, 2,
        "both packed events went in the first commit"
    );
    assert_eq!(rig.store.link_state("world").await.unwrap(), Some(vec![2]));
    let packed = || async {
        let mut statuses = Vec::new();
        for id in &orders {
            statuses.push(rig.store.order(*id).await.unwrap().unwrap().status());
        }
        statuses
    };
    for status in packed().await {
        assert!(
            matches!(status, OrderStatus::Packed | OrderStatus::TruckRequested),
            "{status:?}"
        );
    }
    let stock_after_crash = rig.stock().await;
    let outbox_after_crash = rig.store.outbox().await.unwrap().len();
    assert!(
        outbox_after_crash > outbox_before,
        "the packed events' effects are queued"
    );

    // The restart: the link resends what it had not marked seen (from the third event); a
    // confused peer even resends the whole message.
    crashing.restart();
    driver
        .handle_batch(message[failed.committed..].to_vec())
        .await
        .unwrap();
    let (on_hand, incoming, reserved) = rig.stock().await;
    assert_eq!(
        on_hand,
        stock_after_crash.0 + 5,
        "the arrival counted once (before: {stock_after_crash:?})"
    );
    assert_eq!(
        (incoming, reserved),
        (stock_after_crash.1, stock_after_crash.2)
    );
    let first = rig.store.order(orders[0]).await.unwrap().unwrap();
    assert_eq!(first.status(), OrderStatus::Loading);
    let settled = (first.version(), rig.store.outbox().await.unwrap().len());
    assert_eq!(rig.store.link_state("world").await.unwrap(), Some(vec![4]));

    // Package events seen again change nothing: no order moves, no effect is queued twice.
    let package_events: Vec<_> = message
        .iter()
        .filter(|(e, _)| !matches!(e, FulfilmentEvent::Arrived { .. }))
        .cloned()
        .collect();
    driver.handle_batch(package_events).await.unwrap();
    let first = rig.store.order(orders[0]).await.unwrap().unwrap();
    assert_eq!(
        (first.version(), rig.store.outbox().await.unwrap().len()),
        settled
    );
}

/// The driver decides package events from its own copies of the orders it committed, which
/// are right only while no other node changes them: a new lease term drops them. Here node A
/// serves an order, node B (leading meanwhile) takes its `packed` event, and A, leading again,
/// takes the truck's arrival: decided on A's copy (still packing) it would be ignored and the
/// order stuck; A decides it against the store's order and loads it.
pub async fn copies_dropped_at_a_new_term<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let (customer, card) = rig.customer("term@example.com", "4242424242424242").await;
    let id = rig.buy_one(customer, &card, "term-1").await.id();
    let served = rig.store.order(id).await.unwrap().unwrap();
    assert_eq!(served.status(), OrderStatus::Packing, "served at checkout");

    let other = rig.other_node().await;
    let packed = FulfilmentEvent::Packed {
        ship_id: ship_id_of(id),
    };
    other
        .driver()
        .handle_batch(vec![(packed, None)])
        .await
        .unwrap();
    let moved = rig.store.order(id).await.unwrap().unwrap();
    assert!(moved.version() > served.version());

    let driver = rig.shop.fulfilment();
    driver.fence_with(None);
    let truck = FulfilmentEvent::TruckArrived {
        ship_id: ship_id_of(id),
        truck: TruckId::new(7).unwrap(),
    };
    driver.handle_batch(vec![(truck, None)]).await.unwrap();
    let loading = rig.store.order(id).await.unwrap().unwrap();
    assert_eq!(loading.status(), OrderStatus::Loading, "{loading:?}");
    assert!(loading.version() > moved.version());
}

/// Serving a long queue commits it in chunks, with the outcome of one step over the whole
/// queue: oldest first, and an order left waiting keeps every later order of its product
/// waiting, across chunks too. Here the 64th order (the last of the first chunk) wants two
/// units when one is left: it waits, and so do the later orders, which would each fit.
pub async fn serving_in_chunks<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 64).await;
    // Units on their way, so that checkouts may reserve more than is on hand.
    rig.store
        .change_stock(&[delta(rig.warehouse.id, rig.product.id, 0, 100, 0)])
        .await
        .unwrap();
    let (customer, card) = rig.customer("chunks@example.com", "4242424242424242").await;
    // Another node's shop places the orders and leaves them to this one's driver to serve.
    let other = rig.other_node().await;
    other.driver().share_store(Duration::from_secs(3600));
    let mut orders = Vec::new();
    for n in 1..=70 {
        let units = if n == 64 { 2 } else { 1 };
        let key = format!("chunk-{n}");
        let order = buy(
            &**other.shop(),
            customer,
            rig.product.id,
            q(units),
            &card,
            &key,
        )
        .await;
        assert_eq!(
            order.status(),
            OrderStatus::Placed,
            "not served where placed"
        );
        orders.push(order.id());
    }

    rig.shop.fulfilment().serve(rig.warehouse.id).await.unwrap();
    let mut statuses = Vec::new();
    for id in &orders {
        statuses.push(rig.store.order(*id).await.unwrap().unwrap().status());
    }
    let packing = statuses
        .iter()
        .take_while(|s| **s == OrderStatus::Packing)
        .count();
    assert_eq!(packing, 63, "{statuses:?}");
    assert!(
        statuses[63..]
            .iter()
            .all(|s| *s == OrderStatus::WaitingForStock),
        "{statuses:?}"
    );
    let (on_hand, incoming, reserved) = rig.stock().await;
    assert_eq!((on_hand, incoming, reserved), (1, 100, 2 + 6));

    // Units put on hand outside the driver: a queue of waiting orders alone is served too
    // (as at a restart), all seven now.
    rig.store
        .change_stock(&[delta(rig.warehouse.id, rig.product.id, 7, 0, 0)])
        .await
        .unwrap();
    rig.shop.fulfilment().serve(rig.warehouse.id).await.unwrap();
    for id in &orders[63..] {
        let order = rig.store.order(*id).await.unwrap().unwrap();
        assert_eq!(order.status(), OrderStatus::Packing, "{order:?}");
    }
    assert_eq!(rig.stock().await, (0, 100, 0));
}

/// The serving loop serves every warehouse named since its last pass in one commit: here two
/// orders wait at two warehouses (placed through a node that leaves serving to another), and a
/// driver whose store takes a single commit packs both.
pub async fn serving_warehouses_together<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let second = super::site(2, 50, 50);
    let draft = ProductDraft {
        name: ProductName::parse("Bowl").unwrap(),
        description: Description::parse("A bowl").unwrap(),
        category: Category::parse("kitchen").unwrap(),
        price: super::usd(700),
        weight: Weight::grams(400).unwrap(),
        images: vec![],
    };
    let bowl = rig
        .shop
        .create_product(rig.product.seller, draft)
        .await
        .unwrap();
    rig.store
        .change_stock(&[delta(second.id, bowl.id, 5, 0, 0)])
        .await
        .unwrap();
    let placing = rig.node_over(store.clone(), &[rig.warehouse, second]).await;
    placing.driver().share_store(Duration::from_secs(3600));
    let (customer, card) = rig.customer("two@example.com", "4242424242424242").await;
    let mut orders = Vec::new();
    for (n, product) in [rig.product.id, bowl.id].into_iter().enumerate() {
        let key = format!("two-{n}");
        let order = buy(&**placing.shop(), customer, product, q(1), &card, &key).await;
        assert_eq!(order.status(), OrderStatus::Placed);
        orders.push(order);
    }
    let warehouses: BTreeSet<WarehouseId> = orders.iter().filter_map(|o| o.warehouse()).collect();
    assert_eq!(warehouses.len(), 2, "one order at each warehouse");

    let fused = Arc::new(Interleaved::crashing_after(store.clone(), 1));
    let serving = rig.node_over(fused, &[rig.warehouse, second]).await;
    serving.driver().serve_all(&warehouses).await.unwrap();
    for order in &orders {
        let order = rig.store.order(order.id()).await.unwrap().unwrap();
        assert_eq!(order.status(), OrderStatus::Packing, "{order:?}");
    }
}
