//! Placements at once: each gets the answer it would get alone, whether the store commits
//! them one by one or together.

use std::sync::Arc;

use futures::future::join_all;
use weshop_core::{
    domain::{Cart, OrderStatus, Product, UserId, WarehouseId},
    store::{PlaceOrder, Placed, Store, StoreError},
};

use super::common::{
    cart_of, counts, customer_role, ids, mug_in_stock, order_of, reservations_of, user_with,
};

/// Customers checking out the same product at once: each unit is sold once, the placements
/// past the stock are refused as out of stock, and every one gets an answer (none is lost to
/// a write conflict it did not retry).
pub async fn concurrent_placements<S: Store + ?Sized + 'static>(store: Arc<S>) {
    const STOCK: usize = 10;
    const CUSTOMERS: usize = 14;
    let (mug, w) = mug_in_stock(&*store, STOCK as i64).await;
    let mut orders = Vec::new();
    for i in 0..CUSTOMERS {
        let customer = user_with(&*store, &format!("c{i}@example.com"), customer_role()).await;
        store
            .save_cart(customer.id, &cart_of(&[(mug.id, 1)]))
            .await
            .unwrap();
        orders.push(order_of(&*store, customer.id, w, &[(&mug, 1)]).await);
    }
    let tasks: Vec<_> = orders
        .iter()
        .map(|order| {
            let (store, order) = (store.clone(), order.clone());
            tokio::spawn(async move {
                store
                    .place_order(
                        order.customer(),
                        PlaceOrder {
                            cart: cart_of(&[(order.lines()[0].product, 1)]),
                            reservations: reservations_of(&order),
                            idempotency_key: "at-once".into(),
                            fingerprint: "fp-at-once".into(),
                            order,
                        },
                    )
                    .await
            })
        })
        .collect();
    let (mut created, mut refused) = (Vec::new(), 0);
    for task in tasks {
        match task.await.expect("placement task") {
            Ok(Placed::Created { order, .. }) => created.push(order.id()),
            Err(StoreError::OutOfStock { product, .. }) if product == mug.id => refused += 1,
            other => panic!("expected a placement or out of stock, got {other:?}"),
        }
    }
    assert_eq!((created.len(), refused), (STOCK, CUSTOMERS - STOCK));
    let rows = store.stock(mug.id).await.unwrap();
    assert_eq!(
        counts(rows[0].1),
        (STOCK as u64, 0, STOCK as u64),
        "all sold, none twice"
    );
    created.sort();
    assert_eq!(
        ids(&store.orders_in(&OrderStatus::ALL).await.unwrap()),
        created
    );
}

/// Clean placements at once all commit, and each reports its product's stock as its own
/// write left it: with one unit each on one row, the reserved counts reported are 1, 2, … N,
/// each once (a store committing them together must not report what the last one left).
/// Then a round mixing refusals: a key used twice at once places one order and returns it to
/// the other, a cart changed since pricing is refused, and the clean ones beside them still
/// commit.
pub async fn placements_at_once<S: Store + ?Sized + 'static>(store: Arc<S>) {
    const CUSTOMERS: usize = 12;
    let (mug, w) = mug_in_stock(&*store, 100).await;
    let mut customers = Vec::new();
    for i in 0..CUSTOMERS {
        customers.push(user_with(&*store, &format!("c{i}@example.com"), customer_role()).await);
    }
    let mut clean = Vec::new();
    for customer in &customers {
        clean.push(priced(&*store, customer.id, w, &mug, 1, "clean").await);
    }
    let placed = join_all(clean.iter().map(|(u, p)| store.place_order(*u, p.clone()))).await;
    let mut reported = Vec::new();
    for placed in placed {
        let Ok(Placed::Created { order, stock }) = placed else {
            panic!("a clean placement: {placed:?}");
        };
        let rows = &stock[&mug.id];
        assert_eq!(rows.len(), 1, "order {}: one stock row", order.id());
        reported.push(counts(rows[0].1).2);
    }
    reported.sort_unstable();
    assert_eq!(
        reported,
        (1..=CUSTOMERS as u64).collect::<Vec<_>>(),
        "each placement's stock as its own write left it"
    );

    // Refusals among clean placements.
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let twice = priced(&*store, ada.id, w, &mug, 2, "twice").await;
    let again = {
        let (user, mut again) = priced(&*store, ada.id, w, &mug, 2, "twice").await;
        again.idempotency_key = twice.1.idempotency_key.clone();
        (user, again)
    };
    let stale = {
        let (user, mut stale) = priced(&*store, bob.id, w, &mug, 1, "stale").await;
        stale.cart = cart_of(&[(mug.id, 3)]);
        (user, stale)
    };
    let mut round = vec![twice, stale, again];
    for customer in &customers[..3] {
        round.push(priced(&*store, customer.id, w, &mug, 1, "second").await);
    }
    let placed = join_all(round.iter().map(|(u, p)| store.place_order(*u, p.clone()))).await;
    let mut ada_orders = Vec::new();
    for ((user, placement), placed) in round.iter().zip(placed) {
        match placed {
            Ok(Placed::Created { order, .. }) => {
                assert_eq!(order, placement.order);
                if *user == ada.id {
                    ada_orders.push(order);
                }
            }
            Ok(Placed::Existing(order)) if *user == ada.id => ada_orders.push(order),
            Err(StoreError::Conflict(_)) if *user == bob.id => {}
            other => panic!("user {user}: {other:?}"),
        }
    }
    assert_eq!(ada_orders.len(), 2, "both of ada's placements answered");
    assert_eq!(
        ada_orders[0], ada_orders[1],
        "one order for the key used twice"
    );
    assert_eq!(store.cart(ada.id).await.unwrap(), Cart::new());
    assert_eq!(
        store.cart(bob.id).await.unwrap(),
        cart_of(&[(mug.id, 1)]),
        "the stale placement kept its cart"
    );
    let rows = store.stock(mug.id).await.unwrap();
    let reserved = CUSTOMERS as u64 + 2 + 3;
    assert_eq!(counts(rows[0].1), (100, 0, reserved), "reserved once each");
    assert_eq!(
        store.orders_in(&OrderStatus::ALL).await.unwrap().len(),
        CUSTOMERS + 1 + 3
    );
    assert!(store.orders_of(bob.id).await.unwrap().is_empty());
}

/// A placement of `units` of `product` for `user`, priced from the cart it saves.
async fn priced<S: Store + ?Sized>(
    store: &S,
    user: UserId,
    w: WarehouseId,
    product: &Product,
    units: u32,
    key: &str,
) -> (UserId, PlaceOrder) {
    let cart = cart_of(&[(product.id, units)]);
    store.save_cart(user, &cart).await.unwrap();
    let order = order_of(store, user, w, &[(product, units)]).await;
    let key = format!("{key}-{}", order.id());
    (
        user,
        PlaceOrder {
            reservations: reservations_of(&order),
            fingerprint: format!("fp-{key}"),
            idempotency_key: key,
            cart,
            order,
        },
    )
}
