//! The notifier port: how the shop tells a user something (order progress, low stock,
//! promotions), and an in-memory implementation for tests and the demo.

use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{OrderId, OrderStatus, ProductId, UserId};

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
}

/// Why a notification could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification not sent: {0}")]
pub struct NotifyError(pub String);

/// Sends notifications to users.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Sends one notification to one user.
    async fn notify(&self, user: UserId, notification: Notification) -> Result<(), NotifyError>;
}

/// Keeps every notification in memory, in order.
#[derive(Debug, Default)]
pub struct InMemoryNotifier {
    sent: Mutex<Vec<(UserId, Notification)>>,
}

impl InMemoryNotifier {
    /// A notifier that has sent nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything sent so far.
    pub fn sent(&self) -> Vec<(UserId, Notification)> {
        self.sent.lock().expect("notifier lock").clone()
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
    async fn notify(&self, user: UserId, notification: Notification) -> Result<(), NotifyError> {
        self.sent
            .lock()
            .expect("notifier lock")
            .push((user, notification));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;

    #[test]
    fn keeps_what_was_sent_per_user() {
        let notifier = InMemoryNotifier::new();
        let (ada, bob) = (UserId::new(1).unwrap(), UserId::new(2).unwrap());
        let delivered = Notification::OrderStatus {
            order: OrderId::new(9).unwrap(),
            status: OrderStatus::Delivered,
        };
        block_on(notifier.notify(ada, delivered.clone())).unwrap();
        block_on(notifier.notify(
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
