//! Sellers' campaigns and their rate limit.

use std::{sync::Arc, time::Duration};

use weshop_core::{
    domain::{Campaign, CampaignId, PromotionText},
    store::{CampaignStart, Store, StoreError},
};

use super::common::{at, seller_role, user_with};

const INTERVAL: Duration = Duration::from_secs(600);

fn started(start: CampaignStart) -> Campaign {
    match start {
        CampaignStart::Started(campaign) => campaign,
        other => panic!("expected a started campaign, got {other:?}"),
    }
}

/// A campaign is recorded unsent with its text, time and recipients; a seller's next one is
/// refused until the interval has passed (naming the last one's time), other sellers are not
/// held up; finishing marks it sent; withdrawing an unsent one gives the slot back, a sent one
/// stays; listing is newest first, per seller or for all; of racing starts exactly one wins.
pub async fn campaigns<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", seller_role())
        .await
        .id;
    let bob = user_with(&*store, "bob@example.com", seller_role())
        .await
        .id;
    let text = PromotionText::parse("10 % off mugs\nthis week — only").unwrap();
    let interval_ms = INTERVAL.as_millis() as u64;

    let first = started(
        store
            .start_campaign(ada, &text, at(0), 3, INTERVAL)
            .await
            .unwrap(),
    );
    assert_eq!(
        (
            first.seller,
            &first.text,
            first.at,
            first.recipients,
            first.sent
        ),
        (ada, &text, at(0), 3, false)
    );
    assert_eq!(
        store
            .start_campaign(ada, &text, at(interval_ms - 1), 3, INTERVAL)
            .await
            .unwrap(),
        CampaignStart::TooSoon { last: at(0) }
    );
    let other = started(
        store
            .start_campaign(bob, &text, at(1), 0, INTERVAL)
            .await
            .unwrap(),
    );
    assert!(
        other.id > first.id,
        "ids increase: {other:?} after {first:?}"
    );
    let unsent: Vec<CampaignId> = store
        .unsent_campaigns()
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(unsent, vec![first.id, other.id], "unsent, oldest first");

    store.finish_campaign(first.id, 5).await.unwrap();
    let mine = store.campaigns(Some(ada), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert!(mine[0].sent && mine[0].recipients == 5, "{mine:?}");
    assert!(matches!(
        store.withdraw_campaign(first.id).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .finish_campaign(CampaignId::new(999_999).unwrap(), 1)
            .await,
        Err(StoreError::NotFound(_))
    ));
    store
        .withdraw_campaign(CampaignId::new(999_999).unwrap())
        .await
        .expect("withdrawing an unknown campaign is fine");

    // Bob's unsent campaign withdrawn: his slot is free again at once.
    store.withdraw_campaign(other.id).await.unwrap();
    assert!(store.campaigns(Some(bob), 10).await.unwrap().is_empty());
    let again = started(
        store
            .start_campaign(bob, &text, at(2), 1, INTERVAL)
            .await
            .unwrap(),
    );
    let later = started(
        store
            .start_campaign(ada, &text, at(interval_ms), 2, INTERVAL)
            .await
            .unwrap(),
    );
    let all: Vec<CampaignId> = store
        .campaigns(None, 10)
        .await
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(all, vec![later.id, again.id, first.id], "newest first");
    assert_eq!(store.campaigns(None, 2).await.unwrap().len(), 2, "limit");
    assert_eq!(
        store.unsent_campaigns().await.unwrap().len(),
        2,
        "the two new ones are unsent"
    );

    // Eight starts race for one seller's slot: one wins.
    let carol = user_with(&*store, "carol@example.com", seller_role())
        .await
        .id;
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let (store, text) = (store.clone(), text.clone());
            tokio::spawn(async move {
                store
                    .start_campaign(carol, &text, at(10 + i), 0, INTERVAL)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        if matches!(racer.await.unwrap(), CampaignStart::Started(_)) {
            won += 1;
        }
    }
    assert_eq!(won, 1, "exactly one of the racing starts is recorded");
    assert_eq!(store.campaigns(Some(carol), 10).await.unwrap().len(), 1);
}
