//! Inboxes and the mail queue.

use std::sync::Arc;

use weshop_core::{
    domain::{Currency, Money, NotificationId, OrderId, OrderStatus, ProductId, UserId},
    inbox::{InboxEntry, MailState, NewNotification},
    notify::{Notification, SellerDay},
    store::{Store, StoreError},
};

use super::common::{at, customer_role, user_with};

fn new(key: &str, user: UserId, offset: u64, notification: Notification) -> NewNotification {
    NewNotification {
        key: key.into(),
        user,
        at: at(offset),
        notification,
        mail: MailState::NotMailed,
    }
}

/// Files one notification; the entry, if it was filed now.
async fn file<S: Store + ?Sized>(store: &S, new: NewNotification) -> Option<InboxEntry> {
    let mut filed = store.file_notifications(vec![new]).await.unwrap();
    assert!(filed.len() <= 1, "{filed:?}");
    filed.pop()
}

fn status(order: i64, status: OrderStatus) -> Notification {
    Notification::OrderStatus {
        order: OrderId::new(order).unwrap(),
        status,
    }
}

/// Filing: ids increase, a key is filed once, every kind of notification round-trips, an
/// unknown user's is skipped, and a batch files in order, each key once.
pub async fn inbox_filing<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let kinds = [
        status(7, OrderStatus::Delivered),
        Notification::LowStock {
            product: ProductId::new(3).unwrap(),
            available: 2,
        },
        Notification::Promotion {
            seller: ada.id,
            text: "10% off mugs\nthis week".into(),
        },
        Notification::Welcome,
        Notification::SellerSummary(SellerDay {
            day: at(0),
            orders: 3,
            units: 7,
            amount: Money::from_minor(4_250, Currency::USD).unwrap(),
            delivered: 2,
            low_stock: vec![(ProductId::new(3).unwrap(), "Blue mug — “large”".into(), 2)],
        }),
    ];
    let mut last: Option<NotificationId> = None;
    for (i, kind) in kinds.iter().enumerate() {
        let entry = file(
            &*store,
            new(&format!("k{i}"), ada.id, i as u64, kind.clone()),
        )
        .await
        .expect("filed");
        assert_eq!(entry.notification, *kind);
        assert_eq!(entry.user, ada.id);
        assert_eq!(entry.at, at(i as u64));
        assert!(!entry.read);
        assert_eq!(entry.mail, MailState::NotMailed);
        assert!(last.is_none_or(|l| entry.id > l), "ids increase");
        last = Some(entry.id);
    }
    let first = store.notifications(ada.id, None, 10).await.unwrap();
    assert_eq!(first.len(), kinds.len());
    let again = file(
        &*store,
        NewNotification {
            mail: MailState::Pending,
            ..new("k0", ada.id, 99, Notification::Welcome)
        },
    )
    .await;
    assert_eq!(again, None, "a key is filed once");
    assert_eq!(store.notifications(ada.id, None, 10).await.unwrap(), first);
    let stranger = UserId::new(ada.id.get() + 1000).unwrap();
    assert_eq!(
        file(&*store, new("k9", stranger, 0, Notification::Welcome)).await,
        None
    );

    // A batch: in order, one id each, its own repeated key and a stranger skipped.
    let batch = vec![
        new("b1", ada.id, 10, Notification::Welcome),
        new("b2", stranger, 11, Notification::Welcome),
        new("b1", ada.id, 12, Notification::Welcome),
        new("k1", ada.id, 13, Notification::Welcome),
        new("b3", ada.id, 14, status(9, OrderStatus::Packing)),
    ];
    let filed = store.file_notifications(batch).await.unwrap();
    let ats: Vec<_> = filed.iter().map(|e| e.at).collect();
    assert_eq!(ats, [at(10), at(14)]);
    assert!(filed[0].id > last.unwrap() && filed[1].id > filed[0].id);
    let newest = store.notifications(ada.id, None, 2).await.unwrap();
    assert_eq!(newest, [filed[1].clone(), filed[0].clone()], "as returned");
    assert!(
        store
            .file_notifications(Vec::new())
            .await
            .unwrap()
            .is_empty()
    );
}

/// Filings of the same keys at once: each key is filed once in all, whichever call files it,
/// and none fails.
pub async fn inbox_racing<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let batch: Vec<_> = (0..6)
        .map(|i| {
            new(
                &format!("r{i}"),
                ada.id,
                i,
                status(i as i64 + 1, OrderStatus::Packing),
            )
        })
        .collect();
    let calls = (0..4).map(|call| {
        let store = Arc::clone(&store);
        // Each call its own overlapping slice, so blocks share some keys and not others.
        let mine = batch[call..call + 3].to_vec();
        async move { store.file_notifications(mine).await.unwrap() }
    });
    let filed: Vec<InboxEntry> = futures::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut ats: Vec<_> = filed.iter().map(|e| e.at).collect();
    ats.sort();
    assert_eq!(
        ats,
        (0..6).map(at).collect::<Vec<_>>(),
        "each key filed once"
    );
    let mut stored = store.notifications(ada.id, None, 10).await.unwrap();
    stored.sort_by_key(|e| e.at);
    let mut filed = filed;
    filed.sort_by_key(|e| e.at);
    assert_eq!(stored, filed, "what was returned is what was stored");
}

/// Reading: newest first, per user, paged with `before`; unread counts; marking read by ids
/// (another user's ids are ignored) or all.
pub async fn inbox_reading<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let bob = user_with(&*store, "bob@example.com", customer_role()).await;
    let mut adas = Vec::new();
    for i in 0..5 {
        let packing = status(i as i64 + 1, OrderStatus::Packing);
        let entry = file(&*store, new(&format!("a{i}"), ada.id, i, packing))
            .await
            .unwrap();
        adas.push(entry.id);
        file(
            &*store,
            new(&format!("b{i}"), bob.id, i, Notification::Welcome),
        )
        .await
        .unwrap();
    }
    let page = store.notifications(ada.id, None, 3).await.unwrap();
    let ids: Vec<_> = page.iter().map(|e| e.id).collect();
    assert_eq!(ids, [adas[4], adas[3], adas[2]], "newest first");
    assert!(page.iter().all(|e| e.user == ada.id));
    let older = store.notifications(ada.id, Some(adas[2]), 3).await.unwrap();
    let ids: Vec<_> = older.iter().map(|e| e.id).collect();
    assert_eq!(ids, [adas[1], adas[0]]);
    assert!(
        store
            .notifications(ada.id, Some(adas[0]), 3)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(store.unread_notifications(ada.id).await.unwrap(), 5);
    let bobs_first = store.notifications(bob.id, None, 1).await.unwrap()[0].id;
    let changed = store
        .mark_notifications_read(ada.id, Some(&[adas[0], adas[1], bobs_first]))
        .await
        .unwrap();
    assert_eq!(changed, 2, "bob's id is not ada's to mark");
    assert_eq!(store.unread_notifications(ada.id).await.unwrap(), 3);
    assert_eq!(store.unread_notifications(bob.id).await.unwrap(), 5);
    let again = store
        .mark_notifications_read(ada.id, Some(&[adas[0]]))
        .await
        .unwrap();
    assert_eq!(again, 0, "already read");
    let read: Vec<bool> = store
        .notifications(ada.id, None, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.read)
        .collect();
    assert_eq!(read, [false, false, false, true, true]);
    assert_eq!(
        store.mark_notifications_read(ada.id, None).await.unwrap(),
        3
    );
    assert_eq!(store.unread_notifications(ada.id).await.unwrap(), 0);
    assert_eq!(store.unread_notifications(bob.id).await.unwrap(), 5);
}

/// The ids of the first `limit` entries of the mail queue.
async fn queued<S: Store + ?Sized>(store: &S, limit: usize) -> Vec<NotificationId> {
    let queue = store.mail_queue(limit).await.unwrap();
    queue.iter().map(|e| e.id).collect()
}

/// The mail queue: pending entries only, oldest first, bounded; recording a mail's state takes
/// it off the queue (one at a time or several at once), and a failure keeps its reason.
pub async fn mail_queue<S: Store + ?Sized + 'static>(store: Arc<S>) {
    let ada = user_with(&*store, "ada@example.com", customer_role()).await;
    let mut pending = Vec::new();
    for i in 0..4 {
        let mail = if i == 1 {
            MailState::NotMailed
        } else {
            MailState::Pending
        };
        let entry = file(
            &*store,
            NewNotification {
                mail,
                ..new(&format!("m{i}"), ada.id, i, Notification::Welcome)
            },
        )
        .await
        .unwrap();
        if i != 1 {
            pending.push(entry.id);
        }
    }
    assert_eq!(
        queued(&*store, 10).await,
        pending,
        "pending only, oldest first"
    );
    assert_eq!(
        queued(&*store, 2).await,
        pending[..2],
        "the oldest, when bounded"
    );
    store
        .record_mail(pending[0], MailState::Sent { at: at(50) })
        .await
        .unwrap();
    let refused = MailState::Failed {
        reason: "550 mailbox unavailable".into(),
    };
    store
        .record_mail(pending[1], refused.clone())
        .await
        .unwrap();
    assert_eq!(queued(&*store, 10).await, [pending[2]]);
    let entries = store.notifications(ada.id, None, 10).await.unwrap();
    let mail_of = |id| entries.iter().find(|e| e.id == id).unwrap().mail.clone();
    assert_eq!(mail_of(pending[0]), MailState::Sent { at: at(50) });
    assert_eq!(mail_of(pending[1]), refused);
    let missing = NotificationId::new(pending[2].get() + 1000).unwrap();
    assert!(matches!(
        store.record_mail(missing, MailState::Pending).await,
        Err(StoreError::NotFound(_))
    ));

    // Several at once: each recorded, one that is gone skipped (and not created).
    let sent = MailState::Sent { at: at(60) };
    store
        .record_mails(&[
            (pending[2], sent.clone()),
            (missing, MailState::Pending),
            (pending[1], MailState::Pending),
        ])
        .await
        .unwrap();
    assert_eq!(queued(&*store, 10).await, [pending[1]], "back on the queue");
    let entries = store.notifications(ada.id, None, 10).await.unwrap();
    assert_eq!(entries.len(), 4, "nothing created for the missing entry");
    let mail_of = |id| entries.iter().find(|e| e.id == id).unwrap().mail.clone();
    assert_eq!(mail_of(pending[2]), sent);
    store.record_mails(&[]).await.unwrap();
}
