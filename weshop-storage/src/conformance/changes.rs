//! The change feed: what a node sharing the store hears of other nodes' commits.

use std::{sync::Arc, time::Duration};

use tokio::sync::broadcast;
use weshop_core::{
    changes::Change,
    domain::{OrderStatus, WarehouseId},
    store::{StepCommit, Store},
};

use super::common::{
    at, customer_role, delta, order_of, place, product_with, seller_role, usd, user_with,
};

/// How long a change may take to arrive (a server pushes it over the network).
const WITHIN: Duration = Duration::from_secs(10);

/// A follower of the feed that remembers what it heard, in any order.
struct Heard {
    feed: broadcast::Receiver<Change>,
    seen: Vec<Change>,
}

impl Heard {
    fn new(feed: broadcast::Receiver<Change>) -> Self {
        Self {
            feed,
            seen: Vec::new(),
        }
    }

    /// Waits until `change` was heard (changes of different tables may come in any order).
    async fn expect(&mut self, change: Change, why: &str) {
        let deadline = tokio::time::Instant::now() + WITHIN;
        while !self.seen.contains(&change) {
            match tokio::time::timeout_at(deadline, self.feed.recv()).await {
                Ok(Ok(heard)) => self.seen.push(heard),
                Ok(Err(error)) => panic!("{why}: the feed failed ({error}); heard {:?}", self.seen),
                Err(_) => panic!(
                    "{why}: {change:?} not heard within {WITHIN:?}; heard {:?}",
                    self.seen
                ),
            }
        }
    }
}

/// Every commit through `store` that touches a product, stock or an order is reported to
/// every follower of `follower`, another handle on the same data (another process's
/// connection; for a store shared within one process, the same one): a product listed, edited
/// and withdrawn; stock changed; an order placed (with the stock it reserved) and moved on by
/// a fulfilment step, each with its version after the change. A commit that was refused
/// reports nothing.
///
/// Not part of [`run_all`](super::run_all), whose stores are each opened once: a backend's
/// tests call it with two handles on one database.
pub async fn changes<S: Store + ?Sized + 'static>(store: Arc<S>, follower: Arc<S>) {
    let mut heard = Heard::new(follower.changes().await.expect("the store reports changes"));
    let mut second = Heard::new(follower.changes().await.expect("a second follower"));
    let seller = user_with(&*store, "seller@example.com", seller_role()).await;
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;

    let mut mug = product_with(&*store, seller.id, "Mug", usd(500)).await;
    heard
        .expect(Change::Product(mug.id), "a product listed")
        .await;
    second
        .expect(Change::Product(mug.id), "a second follower")
        .await;
    mug.price = usd(600);
    store.update_product(&mug).await.unwrap();
    heard.seen.clear();
    heard
        .expect(Change::Product(mug.id), "a product edited")
        .await;

    let w = WarehouseId::new(1).unwrap();
    store
        .change_stock(&[delta(w, mug.id, 5, 0, 0)])
        .await
        .unwrap();
    heard.expect(Change::Stock(mug.id), "stock changed").await;
    heard.seen.clear();

    let order = order_of(&*store, ada.id, w, &[(&mug, 1)]).await;
    place(&*store, &order, "key").await;
    let placed = Change::Order {
        id: order.id(),
        version: order.version() as u64,
    };
    heard.expect(placed, "an order placed").await;
    heard
        .expect(Change::Stock(mug.id), "stock reserved by a checkout")
        .await;

    let mut packing = order.clone();
    packing.advance(OrderStatus::Packing, at(50)).unwrap();
    let refused = StepCommit {
        orders: vec![(packing.clone(), order.version() + 3)],
        ..StepCommit::default()
    };
    assert!(store.commit_step(refused).await.is_err(), "a stale version");
    store
        .commit_step(StepCommit {
            orders: vec![(packing.clone(), order.version())],
            stock: vec![delta(w, mug.id, -1, 0, -1)],
            ..StepCommit::default()
        })
        .await
        .unwrap();
    let moved = Change::Order {
        id: order.id(),
        version: packing.version() as u64,
    };
    heard.expect(moved, "an order moved on").await;
    second
        .expect(moved, "an order moved on, to the second follower")
        .await;
    let orders: Vec<&Change> = heard
        .seen
        .iter()
        .filter(|c| matches!(c, Change::Order { .. }))
        .collect();
    assert_eq!(
        orders,
        [&placed, &moved],
        "the refused step reported nothing"
    );

    store.delete_product(mug.id).await.unwrap();
    heard.seen.clear();
    heard
        .expect(Change::Product(mug.id), "a product withdrawn")
        .await;
}
