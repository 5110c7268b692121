//! Promotion campaigns through the shop: a campaign nobody could be told about gives the
//! seller's slot back; one cut off by a crash is finished once at the next start; the limit
//! is the store's, so a second shop over the same store (a restart, another node) keeps it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_trait::async_trait;
use weshop_core::{
    assembly::ShopBuilder,
    domain::{Password, PersonName, PromotionText, Timestamp, UserId},
    notify::{InMemoryNotifier, Notification, Notifier, NotifyError},
    ports::SystemClock,
    service::ShopService,
    shop::{ProfilePatch, Registration, Shop, ShopError},
    store::{CampaignStart, Store},
};

use super::{customer_role, email, seller_role};

/// Keeps what it is sent, or refuses everything while `down`.
#[derive(Default)]
struct SwitchedNotifier {
    inner: InMemoryNotifier,
    down: AtomicBool,
}

#[async_trait]
impl Notifier for SwitchedNotifier {
    async fn notify(
        &self,
        key: &str,
        user: UserId,
        notification: Notification,
    ) -> Result<(), NotifyError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(NotifyError::Unavailable("the inbox is down".into()));
        }
        self.inner.notify(key, user, notification).await
    }
}

/// How many of `seller`'s promotions `customer` was sent.
fn promotions(notifier: &SwitchedNotifier, customer: UserId, seller: UserId) -> usize {
    notifier
        .inner
        .sent_to(customer)
        .iter()
        .filter(|n| matches!(n, Notification::Promotion { seller: s, .. } if *s == seller))
        .count()
}

async fn shop_over<S: Store + ?Sized + 'static>(
    store: &Arc<S>,
    notifier: &Arc<SwitchedNotifier>,
) -> Arc<ShopService<S>> {
    ShopBuilder::new(store.clone())
        .notifier(notifier.clone())
        .clock(Arc::new(SystemClock))
        .build()
        .await
        .expect("assemble the shop")
        .shop()
        .clone()
}

async fn register<S: Store + ?Sized + 'static>(
    shop: &ShopService<S>,
    address: &str,
    seller: bool,
) -> UserId {
    shop.register(Registration {
        email: email(address),
        password: Password::new("correct horse battery").unwrap(),
        name: PersonName::parse("Someone").unwrap(),
        roles: if seller {
            seller_role()
        } else {
            customer_role()
        },
    })
    .await
    .expect("register")
    .id
}

pub async fn promotion_campaigns<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let notifier = Arc::new(SwitchedNotifier::default());
    let shop = shop_over(&store, &notifier).await;
    let seller = register(&shop, "seller@example.com", true).await;
    let keen = register(&shop, "keen@example.com", false).await;
    let shy = register(&shop, "shy@example.com", false).await;
    shop.update_profile(
        keen,
        ProfilePatch {
            promotions: Some(true),
            ..ProfilePatch::default()
        },
    )
    .await
    .expect("opt in");

    // The inbox down: nobody is told, the campaign is not kept, and the seller may retry.
    notifier.down.store(true, Ordering::SeqCst);
    assert!(matches!(
        shop.promote(seller, "Mugs half price").await,
        Err(ShopError::Unavailable(_))
    ));
    assert!(shop.campaigns(seller, 10).await.unwrap().is_empty());
    notifier.down.store(false, Ordering::SeqCst);
    assert_eq!(shop.promote(seller, "Mugs half price").await.unwrap(), 1);
    let listed = shop.campaigns(seller, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].sent && listed[0].recipients == 1, "{listed:?}");
    assert_eq!(promotions(&notifier, keen, seller), 1);
    assert_eq!(promotions(&notifier, shy, seller), 0, "did not opt in");

    // Another shop over the same store (a restart, another node) keeps the limit.
    let other = shop_over(&store, &notifier).await;
    assert!(matches!(
        other.promote(seller, "Teapots too").await,
        Err(ShopError::TooMany { .. })
    ));

    // A campaign recorded and then cut off (as by a crash) is finished at the next start,
    // once, however often the start is repeated.
    let rival = register(&shop, "rival@example.com", true).await;
    let text = PromotionText::parse("Teapots, today only").unwrap();
    let CampaignStart::Started(cut_off) = store
        .start_campaign(
            rival,
            &text,
            Timestamp::now(),
            1,
            std::time::Duration::from_secs(600),
        )
        .await
        .unwrap()
    else {
        panic!("the rival's first campaign starts");
    };
    assert_eq!(other.resume_campaigns().await.unwrap(), 1);
    assert_eq!(other.resume_campaigns().await.unwrap(), 0);
    let finished = other.campaigns(rival, 10).await.unwrap();
    assert_eq!(finished[0].id, cut_off.id);
    assert!(
        finished[0].sent && finished[0].recipients == 1,
        "{finished:?}"
    );
    assert_eq!(promotions(&notifier, keen, rival), 1, "told once");

    // Only sellers have campaigns.
    assert!(matches!(
        shop.campaigns(keen, 10).await,
        Err(ShopError::Forbidden(_))
    ));
}
