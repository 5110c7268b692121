//! The notifier port: how the shop tells a user something (order progress, low stock,
//! promotions, a seller's day), and an in-memory implementation for tests and the demo.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{Money, OrderId, OrderStatus, ProductId, Timestamp, UserId};

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// An order of theirs changed status.
    OrderStatus {
        /// The order.
        order: OrderId,
        /// Its new status.
        status: OrderStatus,
    },
    /// A product of theirs (a seller's) is running low.
    LowStock {
        /// The product.
        product: ProductId,
        /// Units that can still be sold.
        available: u64,
    },
    /// A seller's promotion.
    Promotion {
        /// Who sends it.
        seller: UserId,
        /// The text.
        text: String,
    },
    /// A new account: hello, and what the shop will send them.
    Welcome,
    /// A seller's day in one notice rather than one per sale (see [`SellerDay`]).
    SellerSummary(SellerDay),
}

/// What a seller's products did in one day (UTC), and which of them run low: sent once a
/// day at most, and only for a day with something sold or delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SellerDay {
    /// The day's first moment (midnight UTC).
    pub day: Timestamp,
    /// Orders placed that day with the seller's products (cancelled ones not counted).
    pub orders: u64,
    /// The seller's units in them.
    pub units: u64,
    /// What the seller's lines of them come to.
    pub amount: Money,
    /// Orders with the seller's products delivered that day.
    pub delivered: u64,
    /// The seller's products under the low-stock threshold now: id, name, units left.
    pub low_stock: Vec<(ProductId, String, u64)>,
}

impl Notification {
    /// Whether it is worth a mail as well as an inbox entry: an order's milestones
    /// ([`OrderStatus::is_milestone`], the only statuses the fulfilment files), a seller's
    /// low stock, promotions and the welcome.
    pub fn deserves_mail(&self) -> bool {
        match self {
            Notification::OrderStatus { status, .. } => status.is_milestone(),
            Notification::LowStock { .. }
            | Notification::Promotion { .. }
            | Notification::Welcome
            | Notification::SellerSummary(_) => true,
        }
    }
}

/// Why a notification could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    /// Nothing was done and a later try may work (the store is down): the outbox retries.
    #[error("notification not sent yet: {0}")]
    Unavailable(String),
    /// It will never go (no such user): the outbox logs it and moves on.
    #[error("notification refused: {0}")]
    Refused(String),
}

/// Sends notifications to users.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends one notification to one user. `key` names it for good (an outbox entry, a
    /// registration): a notifier that keeps notifications files one key once, so a notify
    /// retried after a crash does not tell the user twice.
    async fn notify(
        &self,
        key: &str,
        user: UserId,
        notification: Notification,
    ) -> Result<(), NotifyError>;

    /// Sends many, each `(key, user, notification)`; a notifier that keeps them overrides
    /// this to keep them in one write. `Unavailable` means none need be taken as sent.
    async fn notify_all(
        &self,
        batch: Vec<(String, UserId, Notification)>,
    ) -> Result<(), NotifyError> {
        for (key, user, notification) in batch {
            match self.notify(&key, user, notification).await {
                Err(error @ NotifyError::Unavailable(_)) => return Err(error),
                Err(error) => tracing::warn!(%user, "notification dropped: {error}"),
                Ok(()) => {}
            }
        }
        Ok(())
    }
}

/// Keeps every notification in memory, in order, each key once.
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<Sent>,
}

#[derive(Debug, Default)]
struct Sent {
    /// In order.
    notifications: Vec<(UserId, Notification)>,
    /// The keys seen.
    keys: std::collections::HashSet<String>,
}

impl InMemoryNotifier {
    /// A notifier that has sent nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<(UserId, Notification)> {
        self.sent
            .lock()
            .expect("notifier lock")
            .notifications
            .clone()
    }

    /// What `user` was sent.
    pub fn sent_to(&self, user: UserId) -> Vec<Notification> {
        self.sent()
            .into_iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, n)| n)
            .collect()
    }
}

#[async_trait]
impl Notifier for InMemoryNotifier {
    async fn notify(
        &self,
        key: &str,
        user: UserId,
        notification: Notification,
    ) -> Result<(), NotifyError> {
        let mut sent = self.sent.lock().expect("notifier lock");
        if sent.keys.insert(key.to_string()) {
            sent.notifications.push((user, notification));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn keeps_what_was_sent_per_user_each_key_once() {
        let notifier = InMemoryNotifier::new();
        let (ada, bob) = (UserId::new(1).unwrap(), UserId::new(2).unwrap());
        let delivered = Notification::OrderStatus {
            order: OrderId::new(9).unwrap(),
            status: OrderStatus::Delivered,
        };
        block_on(notifier.notify("a", ada, delivered.clone())).unwrap();
        block_on(notifier.notify("a", ada, delivered.clone())).unwrap();
        block_on(notifier.notify(
            "b",
            bob,
            Notification::Promotion {
                seller: ada,
                text: "10% off mugs".into(),
            },
        ))
        .unwrap();
        assert_eq!(notifier.sent_to(ada), vec![delivered]);
        assert_eq!(notifier.sent().len(), 2);
    }
}
