//! The mailer: sends the inbox's pending mails over SMTP, oldest first, and records each one's
//! fate on its entry.
//!
//! A server that is down or answers 4xx is retried with backoff (1 s doubling to a minute),
//! and the mails wait in the store meanwhile, so nothing is lost across a restart. A 5xx is
//! final: recorded on the entry (the inbox shows it) and never retried. A mail is marked sent
//! only after the server took it, so a crash in between sends it again, with the same
//! Message-ID, which is the best SMTP allows.

use std::{
    collections::{HashMap, hash_map::Entry},
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;

use tokio::sync::Notify;
use weshop_core::{
    domain::{Order, OrderId, User},
    inbox::{InboxEntry, MailState},
    notify::Notification,
    ports::Clock,
    shop::Shop,
    store::{Store, StoreError},
};

use super::{
    compose::{Composer, Facts},
    settings::SmtpSettings,
    smtp::SmtpClient,
};

/// Mails taken from the queue at a time.
const BATCH: usize = 50;
/// Mails sent at once (over as many pooled connections).
const IN_FLIGHT: usize = 8;
/// The longest wait between tries while the server fails.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often the queue is looked at without being woken.
const IDLE_LOOK: Duration = Duration::from_secs(30);

/// Why a pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The SMTP server is unreachable or said "later".
    #[error("smtp server: {0}")]
    Unavailable(String),
}

/// Sends the mail queue.
pub struct Mailer {
    store: Arc<dyn Store>,
    composer: Composer,
    transport: SmtpClient,
    clock: Arc<dyn Clock>,
    queued: Arc<Notify>,
    /// Signs promotions' unsubscribe links and estimates deliveries; without it promotions go
    /// out with no link and order mails with no estimate.
    shop: Option<Arc<dyn Shop>>,
}

/// The SMTP client for `settings`.
pub fn transport(settings: &SmtpSettings) -> Result<SmtpClient, String> {
    SmtpClient::new(settings)
}

impl Mailer {
    /// A mailer over `store`'s queue, woken by `queued`.
    pub fn new(
        store: Arc<dyn Store>,
        composer: Composer,
        transport: SmtpClient,
        clock: Arc<dyn Clock>,
        queued: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            composer,
            transport,
            clock,
            queued,
            shop: None,
        }
    }

    /// Gives promotions an unsubscribe link (and `List-Unsubscribe`) signed by `shop`, and
    /// order mails `shop`'s delivery estimate.
    pub fn with_shop(mut self, shop: Arc<dyn Shop>) -> Self {
        self.shop = Some(shop);
        self
    }

    /// Sends until the queue is empty or the server fails; how many it sent or recorded.
    pub async fn pass(&self) -> Result<usize, MailError> {
        let mut handled = 0;
        loop {
            let queue = self.store.mail_queue(BATCH).await?;
            if queue.is_empty() {
                return Ok(handled);
            }
            // Each recipient read once for the batch: a customer's mails come in runs (an
            // order placed, packed, shipped, delivered).
            let mut users = HashMap::new();
            for entry in &queue {
                if let Entry::Vacant(slot) = users.entry(entry.user) {
                    slot.insert(self.store.user(entry.user).await?);
                }
            }
            let users = &users;
            // The orders of the batch's order mails, in one read.
            let order_ids: Vec<OrderId> = queue
                .iter()
                .filter_map(|entry| match entry.notification {
                    Notification::OrderStatus { order, .. } => Some(order),
                    _ => None,
                })
                .collect();
            let orders: HashMap<OrderId, Order> = self
                .store
                .orders_by_id(&order_ids)
                .await?
                .into_iter()
                .map(|order| (order.id(), order))
                .collect();
            let orders = &orders;
            // Several at once: each mail costs the server's round trips, not our CPU.
            let sent: Vec<_> = futures::stream::iter(queue)
                .map(|entry| async move {
                    let user = users.get(&entry.user).cloned().flatten();
                    (entry.id, self.send(&entry, user, orders).await)
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            let mut unavailable = None;
            let mut states = Vec::with_capacity(sent.len());
            for (id, state) in sent {
                match state {
                    Ok(state) => states.push((id, state)),
                    Err(error) => unavailable = Some(error),
                }
            }
            // One write for the batch. A crash before it sends these mails again, as a crash
            // between a send and its own record did.
            self.store.record_mails(&states).await?;
            handled += states.len();
            if let Some(error) = unavailable {
                return Err(error);
            }
        }
    }

    /// Sends one entry's mail (its order, if any, is among `orders`); its new state, or
    /// `Unavailable` to try again later.
    async fn send(
        &self,
        entry: &InboxEntry,
        user: Option<User>,
        orders: &HashMap<OrderId, Order>,
    ) -> Result<MailState, MailError> {
        let Some(facts) = self.facts(entry, user, orders).await? else {
            return Ok(MailState::Failed {
                reason: "the recipient's account is gone".into(),
            });
        };
        let message = match self.composer.compose(entry, &facts) {
            Ok(message) => message,
            Err(reason) => return Ok(MailState::Failed { reason }),
        };
        match self.transport.send(&message).await {
            Ok(_) => Ok(MailState::Sent {
                at: self.clock.now(),
            }),
            Err(error) if error.is_permanent() => {
                tracing::warn!(notification = %entry.id, "mail refused for good: {error}");
                Ok(MailState::Failed {
                    reason: error.to_string(),
                })
            }
            Err(error) => Err(MailError::Unavailable(error.to_string())),
        }
    }

    /// What the entry's mail needs from the store, for `user` (its recipient) and from
    /// `orders`, as read for the batch; `None` if the recipient is gone.
    async fn facts(
        &self,
        entry: &InboxEntry,
        user: Option<User>,
        orders: &HashMap<OrderId, Order>,
    ) -> Result<Option<Facts>, StoreError> {
        let Some(user) = user else {
            return Ok(None);
        };
        let mut facts = Facts {
            user,
            order: None,
            product: None,
            seller: None,
            unsubscribe: None,
            estimate: None,
        };
        match &entry.notification {
            Notification::OrderStatus { order, .. } => {
                facts.order = orders.get(order).cloned();
                if let (Some(shop), Some(order)) = (&self.shop, &facts.order) {
                    facts.estimate = shop.delivery_estimate(order).map(|e| e.in_words());
                }
            }
            Notification::LowStock { product, .. } => {
                facts.product = self.store.product(*product).await?;
            }
            Notification::Promotion { seller, .. } => {
                facts.seller = self
                    .store
                    .user(*seller)
                    .await?
                    .map(|s| s.name.as_str().to_string());
                if let Some(shop) = &self.shop {
                    let token = shop
                        .unsubscribe_token(entry.user)
                        .await
                        .map_err(|e| StoreError::Backend(e.to_string()))?;
                    facts.unsubscribe = Some(self.composer.url(&format!("/unsubscribe/{token}")));
                }
            }
            Notification::Welcome | Notification::SellerSummary(_) => {}
        }
        Ok(Some(facts))
    }

    /// Sends whenever a mail is queued (and every so often), backing off while the server
    /// fails, until `shutdown` completes.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_secs(1);
        loop {
            let wait = match self.pass().await {
                Ok(_) => {
                    backoff = Duration::from_secs(1);
                    IDLE_LOOK
                }
                Err(error) => {
                    tracing::warn!("mail waits: {error}; trying again in {backoff:?}");
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.queued.notified(), if wait == IDLE_LOOK => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}
