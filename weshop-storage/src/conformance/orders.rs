//! Orders: round trips, placing with idempotency keys, ids and queries.

use std::sync::Arc;

use weshop_core::{
    domain::{
        Cart, Currency, DeliveryOption, Location, NewOrder, Order, OrderId, OrderLine, OrderStatus,
        ProductId, Quantity, TruckId, UpsAccount, WarehouseId,
    },
    fulfilment::ship_id_of,
    store::{PlaceOrder, Placed, StepCommit, Store, StoreError},
};

use super::common::{
    at, cart_of, counts, customer_role, delta, ids, money, order_of, place, product_with, q,
    reservations_of, seller_role, usd, user_with,
};

/// An order round-trips exactly through every change: fields, status and whole history.
pub async fn order_round_trip<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let mug = product_with(&*store, seller.id, "Mug", money(1999, Currency::EUR)).await;
    let teapot = product_with(
        &*store,
        seller.id,
        "Teapot – blue, \"large\" ✓",
        money(4550, Currency::EUR),
    )
    .await;
    let warehouse = WarehouseId::new(4).unwrap();
    let id = store.allocate_order_id().await.unwrap();
    let order = Order::place(
        NewOrder {
            id,
            customer: ada.id,
            lines: vec![
                OrderLine {
                    product: mug.id,
                    name: mug.name.clone(),
                    quantity: q(2),
                    unit_price: mug.price,
                },
                OrderLine {
                    product: teapot.id,
                    name: teapot.name.clone(),
                    quantity: q(1),
                    unit_price: teapot.price,
                },
            ],
            delivery: DeliveryOption::Express,
            destination: Location::new(-12, 40),
            ups_account: Some(UpsAccount::parse("ada_ups-42").unwrap()),
            payment: "auth_00000007".into(),
            shipping: money(1234, Currency::EUR),
        },
        at(123),
    )
    .unwrap();
    let placed = store
        .place_order(
            ada.id,
            PlaceOrder {
                order: order.clone(),
                cart: Cart::new(),
                reservations: vec![],
                idempotency_key: "round-trip".into(),
                fingerprint: "fp-round-trip".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(&placed, Placed::Created { order: o, stock } if o == &order && stock.is_empty()),
        "{placed:?}"
    );
    assert_eq!(store.order(id).await.unwrap(), Some(order.clone()));

    // Through the whole happy path, then failed at the last moment.
    let mut moved = order.clone();
    moved.assign(warehouse, ship_id_of(id), at(200));
    let statuses = [
        OrderStatus::Packing,
        OrderStatus::Packed,
        OrderStatus::TruckRequested,
    ];
    for (n, status) in (1..).zip(statuses) {
        moved.advance(status, at(200 + n)).unwrap();
    }
    moved.truck_arrived(TruckId::new(7).unwrap(), at(300));
    moved.advance(OrderStatus::Loading, at(301)).unwrap();
    moved.final_destination(Location::new(3, -4), at(302));
    moved.advance(OrderStatus::Loaded, at(303)).unwrap();
    moved.advance(OrderStatus::Delivering, at(304)).unwrap();
    moved
        .end(
            OrderStatus::Failed,
            "UPS could not deliver it: \"road closed\" ✗\nnext line",
            at(400),
        )
        .unwrap();
    let entries = store
        .commit_step(StepCommit {
            orders: vec![(moved.clone(), order.version())],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert!(entries.is_empty());
    let back = store.order(id).await.unwrap().expect("stored");
    assert_eq!(back.history(), moved.history(), "the whole history");
    assert_eq!(back, moved, "every field");
    assert_eq!(back.version(), moved.version());
    assert_eq!(back.status(), OrderStatus::Failed);
    assert_eq!(
        back.end_reason(),
        Some("UPS could not deliver it: \"road closed\" ✗\nnext line")
    );
    assert_eq!(
        (back.warehouse(), back.ship_id(), back.truck()),
        (
            Some(warehouse),
            Some(ship_id_of(id)),
            Some(TruckId::new(7).unwrap())
        )
    );
    assert_eq!(back.reported_destination(), Some(Location::new(3, -4)));
    assert_eq!(back.total(), money(2 * 1999 + 4550 + 1234, Currency::EUR));
    assert_eq!(back.placed_at(), at(123));
    assert_eq!(back.ups_account(), order.ups_account());
    assert_eq!(back.payment(), "auth_00000007");
    assert_eq!(back.delivery(), DeliveryOption::Express);

    // A plain order, cancelled before it was assigned.
    let id = store.allocate_order_id().await.unwrap();
    let mut plain = Order::place(
        NewOrder {
            id,
            customer: ada.id,
            lines: vec![OrderLine {
                product: mug.id,
                name: mug.name.clone(),
                quantity: q(Quantity::MAX),
                unit_price: money(0, Currency::EUR),
            }],
            delivery: DeliveryOption::Standard,
            destination: Location::new(0, 0),
            ups_account: None,
            payment: String::new(),
            shipping: money(0, Currency::EUR),
        },
        at(500),
    )
    .unwrap();
    let placed = store
        .place_order(
            ada.id,
            PlaceOrder {
                order: plain.clone(),
                cart: Cart::new(),
                reservations: vec![],
                idempotency_key: "plain".into(),
                fingerprint: "fp-plain".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        matches!(&placed, Placed::Created { order: o, stock } if o == &plain && stock.is_empty()),
        "{placed:?}"
    );
    let version = plain.version();
    plain
        .end(OrderStatus::Cancelled, "cancelled by the customer", at(501))
        .unwrap();
    store
        .commit_step(StepCommit {
            orders: vec![(plain.clone(), version)],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(store.order(id).await.unwrap(), Some(plain));
    assert_eq!(
        store.order(back.id()).await.unwrap(),
        Some(moved),
        "others unchanged"
    );
}

/// Placing orders: created atomically; a used key returns its order and changes nothing; a
/// shortage changes nothing (not the cart either) and leaves the key unused; keys are per user.
pub async fn place_order<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let mug = product_with(&*store, seller.id, "Mug", usd(500)).await;
    let pot = product_with(&*store, seller.id, "Teapot", usd(900)).await;
    let w = WarehouseId::new(1).unwrap();
    store
        .change_stock(&[delta(w, mug.id, 3, 0, 0), delta(w, pot.id, 1, 0, 0)])
        .await
        .unwrap();
    let at_w = |store: Arc<S>, product: ProductId| async move {
        let rows = store.stock(product).await.expect("stock");
        assert_eq!(rows.len(), 1, "one stock row");
        counts(rows[0].1)
    };

    store
        .save_cart(ada.id, &cart_of(&[(mug.id, 2)]))
        .await
        .unwrap();
    let first = order_of(&*store, ada.id, w, &[(&mug, 2)]).await;
    place(&*store, &first, "k1").await;
    assert_eq!(store.order(first.id()).await.unwrap(), Some(first.clone()));
    let missing = OrderId::new(first.id().get() + 1_000_000).unwrap();
    assert_eq!(
        store
            .orders_by_id(&[missing, first.id(), first.id()])
            .await
            .unwrap(),
        vec![first.clone()],
        "each order that exists, once"
    );
    assert_eq!(store.orders_by_id(&[]).await.unwrap(), vec![]);
    assert_eq!(
        store.cart(ada.id).await.unwrap(),
        Cart::new(),
        "cart emptied"
    );
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 2), "reserved");
    assert_eq!(
        store.order_for_key(ada.id, "k1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.order_for_key(ada.id, "k0").await.unwrap(), None);

    // The same key again: the first order, and nothing changes.
    let cart = cart_of(&[(mug.id, 1)]);
    store.save_cart(ada.id, &cart).await.unwrap();
    let second = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    let placed = store
        .place_order(
            ada.id,
            PlaceOrder {
                order: second.clone(),
                cart: cart.clone(),
                reservations: reservations_of(&second),
                idempotency_key: "k1".into(),
                fingerprint: "fp-another-request".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(placed, Placed::Existing(first.clone()));
    assert_eq!(
        store
            .key_fingerprint(ada.id, "k1")
            .await
            .unwrap()
            .as_deref(),
        Some("fp-k1"),
        "the key keeps the fingerprint it was first placed with"
    );
    assert_eq!(store.key_fingerprint(ada.id, "nope").await.unwrap(), None);
    assert_eq!(store.order(second.id()).await.unwrap(), None);
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 2));
    assert_eq!(store.cart(ada.id).await.unwrap(), cart, "cart kept");
    assert_eq!(
        ids(&store.orders_of(ada.id).await.unwrap()),
        vec![first.id()]
    );

    // Not enough of the second line: nothing at all changes.
    let third = order_of(&*store, ada.id, w, &[(&pot, 1), (&mug, 2)]).await;
    match store
        .place_order(
            ada.id,
            PlaceOrder {
                order: third.clone(),
                cart: cart.clone(),
                reservations: reservations_of(&third),
                idempotency_key: "k2".into(),
                fingerprint: "fp-k2".into(),
            },
        )
        .await
    {
        Err(StoreError::OutOfStock {
            product,
            warehouse,
            available,
        }) => assert_eq!((product, warehouse, available), (mug.id, w, 1)),
        other => panic!("expected OutOfStock, got {other:?}"),
    }
    assert_eq!(store.order(third.id()).await.unwrap(), None);
    assert_eq!(store.cart(ada.id).await.unwrap(), cart, "cart kept");
    assert_eq!(
        at_w(store.clone(), pot.id).await,
        (1, 0, 0),
        "first line undone"
    );
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 2));
    assert_eq!(store.order_for_key(ada.id, "k2").await.unwrap(), None);
    assert_eq!(
        store.orders_in(&OrderStatus::ALL).await.unwrap(),
        vec![first.clone()]
    );

    // A cart changed since the order was priced from it: refused, nothing changes.
    let priced = cart_of(&[(mug.id, 2)]);
    let stale = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    let changed = store
        .place_order(
            ada.id,
            PlaceOrder {
                order: stale.clone(),
                cart: priced,
                reservations: reservations_of(&stale),
                idempotency_key: "stale".into(),
                fingerprint: "fp-stale".into(),
            },
        )
        .await;
    assert!(
        matches!(changed, Err(StoreError::Conflict(_))),
        "{changed:?}"
    );
    assert_eq!(store.order(stale.id()).await.unwrap(), None);
    assert_eq!(store.order_for_key(ada.id, "stale").await.unwrap(), None);
    assert_eq!(store.cart(ada.id).await.unwrap(), cart, "cart kept");
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 2));

    // The key of a refused placement is still free.
    let fourth = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    place(&*store, &fourth, "k2").await;
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 3));
    assert_eq!(store.cart(ada.id).await.unwrap(), Cart::new());
    // The cart is gone with it: the same cart cannot be placed again under another key.
    let again = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    let twice = store
        .place_order(
            ada.id,
            PlaceOrder {
                order: again.clone(),
                cart: cart.clone(),
                reservations: reservations_of(&again),
                idempotency_key: "k3".into(),
                fingerprint: "fp-k3".into(),
            },
        )
        .await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    assert_eq!(at_w(store.clone(), mug.id).await, (3, 0, 3));

    // Keys are per user.
    let bobs = cart_of(&[(pot.id, 1)]);
    store.save_cart(bob.id, &bobs).await.unwrap();
    let fifth = order_of(&*store, bob.id, w, &[(&pot, 1)]).await;
    place(&*store, &fifth, "k1").await;
    assert_eq!(
        store.order_for_key(bob.id, "k1").await.unwrap(),
        Some(fifth.clone())
    );
    assert_eq!(
        store.order_for_key(ada.id, "k1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.cart(bob.id).await.unwrap(), Cart::new());
    assert_eq!(at_w(store.clone(), pot.id).await, (1, 0, 1));
    assert_eq!(
        ids(&store.orders_in(&OrderStatus::ALL).await.unwrap()),
        vec![first.id(), fourth.id(), fifth.id()]
    );
}

/// Order ids: fresh and increasing.
pub async fn order_ids<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let mut last = store.allocate_order_id().await.unwrap();
    for _ in 0..20 {
        let next = store.allocate_order_id().await.unwrap();
        assert!(next > last, "order ids increase: {next} after {last}");
        last = next;
    }
}

/// Order queries: a customer's newest first, by status oldest first, always current.
pub async fn order_queries<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let mug = product_with(&*store, seller.id, "Mug", usd(500)).await;
    let w = WarehouseId::new(1).unwrap();
    store
        .change_stock(&[delta(w, mug.id, 100, 0, 0)])
        .await
        .unwrap();
    let mut placed = Vec::new();
    for (n, customer) in [ada.id, bob.id, ada.id, ada.id].into_iter().enumerate() {
        let order = order_of(&*store, customer, w, &[(&mug, 1)]).await;
        place(&*store, &order, &format!("key-{n}")).await;
        placed.push(order);
    }
    let [a1, b1, a2, a3] = &placed[..] else {
        unreachable!()
    };
    assert_eq!(
        ids(&store.orders_of(ada.id).await.unwrap()),
        vec![a3.id(), a2.id(), a1.id()]
    );
    assert_eq!(store.orders_of(bob.id).await.unwrap(), vec![b1.clone()]);
    assert_eq!(store.orders_of(seller.id).await.unwrap(), vec![]);
    assert_eq!(
        ids(&store.orders_in(&[OrderStatus::Placed]).await.unwrap()),
        vec![a1.id(), b1.id(), a2.id(), a3.id()]
    );

    let mut packing = a2.clone();
    packing.advance(OrderStatus::Packing, at(60)).unwrap();
    let mut cancelled = b1.clone();
    cancelled
        .end(OrderStatus::Cancelled, "cancelled by the customer", at(61))
        .unwrap();
    store
        .commit_step(StepCommit {
            orders: vec![
                (packing.clone(), a2.version()),
                (cancelled.clone(), b1.version()),
            ],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&store.orders_in(&[OrderStatus::Placed]).await.unwrap()),
        vec![a1.id(), a3.id()]
    );
    assert_eq!(
        store
            .orders_in(&[OrderStatus::Packing, OrderStatus::Cancelled])
            .await
            .unwrap(),
        vec![cancelled.clone(), packing.clone()]
    );
    assert_eq!(
        store
            .orders_in(&[OrderStatus::Cancelled, OrderStatus::Packing])
            .await
            .unwrap(),
        vec![cancelled.clone(), packing.clone()],
        "the order of the statuses asked for does not matter"
    );
    assert_eq!(
        store.orders_in(&[OrderStatus::Delivered]).await.unwrap(),
        vec![]
    );
    assert_eq!(store.orders_in(&[]).await.unwrap(), vec![]);
    assert_eq!(
        ids(&store.orders_in(&OrderStatus::ALL).await.unwrap()),
        vec![a1.id(), b1.id(), a2.id(), a3.id()]
    );
    assert_eq!(
        store.orders_of(ada.id).await.unwrap(),
        vec![a3.clone(), packing.clone(), a1.clone()],
        "current state"
    );

    // What a seller sold: orders with a line of any of the products, newest first.
    let pot = product_with(&*store, seller.id, "Pot", usd(900)).await;
    let cup = product_with(&*store, seller.id, "Cup", usd(300)).await;
    store
        .change_stock(&[delta(w, pot.id, 10, 0, 0)])
        .await
        .unwrap();
    let both = order_of(&*store, bob.id, w, &[(&pot, 2), (&mug, 1)]).await;
    place(&*store, &both, "key-both").await;
    let sold = |products: Vec<ProductId>, limit: usize| {
        let store = store.clone();
        async move { store.orders_with_products(&products, limit).await.unwrap() }
    };
    assert_eq!(
        ids(&sold(vec![mug.id], 10).await),
        vec![both.id(), a3.id(), a2.id(), b1.id(), a1.id()]
    );
    assert_eq!(sold(vec![pot.id], 10).await, vec![both.clone()]);
    assert_eq!(
        ids(&sold(vec![pot.id, mug.id], 2).await),
        vec![both.id(), a3.id()],
        "the newest, once each"
    );
    assert_eq!(sold(vec![mug.id], 10).await[2], packing, "current state");
    assert_eq!(sold(vec![cup.id], 10).await, vec![]);
    assert_eq!(sold(vec![], 10).await, vec![]);
}

/// The payment journal: lines come back exactly, in the order they were appended (one by
/// one or several at once, waited for or only sequenced), whole or from a position on.
pub async fn payment_journal<S: Store + ?Sized + 'static>(store: Arc<S>) {
    assert_eq!(store.payment_records().await.unwrap(), Vec::<String>::new());
    let lines: Vec<String> = (0..25)
        .map(|n| format!("authorize\tkey-{n}\ttok_{n:08}\t{}\tUSD ✓ \"q\"", n * 100))
        .collect();
    store
        .append_payment_records(&[])
        .await
        .expect("append nothing");
    for line in &lines[..5] {
        store
            .append_payment_records(std::slice::from_ref(line))
            .await
            .expect("append");
    }
    store
        .append_payment_records(&lines[5..20])
        .await
        .expect("append several");
    store
        .sequence_payment_records(&lines[20..23])
        .await
        .expect("sequence several");
    store
        .append_payment_records(&lines[23..])
        .await
        .expect("append the rest");
    assert_eq!(store.payment_records().await.unwrap(), lines);
    // Read from a position on: positions grow in journal order, and reading after the last
    // one read gives exactly the rest.
    let all = store.payment_records_after(0).await.unwrap();
    assert_eq!(
        all.iter().map(|(_, l)| l.clone()).collect::<Vec<_>>(),
        lines
    );
    assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "positions grow");
    let (tenth, _) = all[9];
    let rest = store.payment_records_after(tenth).await.unwrap();
    assert_eq!(rest, all[10..].to_vec());
    let (last, _) = all[24];
    assert_eq!(store.payment_records_after(last).await.unwrap(), vec![]);
}
