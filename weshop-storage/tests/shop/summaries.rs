//! Sellers' daily summaries through the shop: one notice per seller per day with what sold
//! and what runs low, filed once however often the day is summarized.

use std::sync::Arc;

use weshop_core::{
    domain::{Currency, Money, Timestamp},
    notify::{Notification, SellerDay},
    service::{DAY_MS, day_of},
    shop::Shop,
    store::Store,
};

use super::checkout::checkout;
use super::q;
use super::rig::Rig;

pub async fn seller_summaries<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let rig = Rig::new(store.clone(), 10).await;
    let seller = rig.product.seller;
    let (ada, card) = rig.customer("ada@example.com", "4242424242424242").await;
    for (units, key) in [(2, "day-1"), (4, "day-2")] {
        rig.shop
            .add_to_cart(ada, rig.product.id, q(units))
            .await
            .unwrap();
        rig.shop.checkout(ada, checkout(&card, key)).await.unwrap();
    }
    let summaries = || async {
        store
            .notifications(seller, None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.notification {
                Notification::SellerSummary(day) => Some(day),
                _ => None,
            })
            .collect::<Vec<_>>()
    };

    let today = day_of(Timestamp::now());
    assert_eq!(rig.shop.summarize_day(today).await.unwrap(), 1);
    assert_eq!(
        summaries().await,
        vec![SellerDay {
            day: today,
            orders: 2,
            units: 6,
            amount: Money::from_minor(3_000, Currency::USD).unwrap(),
            delivered: 0,
            // 4 of 10 left: under the threshold of 5.
            low_stock: vec![(rig.product.id, "Mug".into(), 4)],
        }]
    );
    // Summarized again (a restart, another node): nobody is told twice.
    assert_eq!(rig.shop.summarize_day(today).await.unwrap(), 1);
    assert_eq!(summaries().await.len(), 1, "filed once");
    // A day without sales says nothing.
    let yesterday = Timestamp::from_millis(today.millis() - DAY_MS);
    assert_eq!(rig.shop.summarize_day(yesterday).await.unwrap(), 0);
    assert_eq!(summaries().await.len(), 1);
    assert!(
        rig.shop
            .notifications(ada, None, 100)
            .await
            .unwrap()
            .entries
            .iter()
            .all(|e| !matches!(e.notification, Notification::SellerSummary(_))),
        "customers get no summary"
    );
}
