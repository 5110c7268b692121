//! The inbox: every notification a user gets, kept in the store, read in the app and, when
//! mail is set up, mailed from there.
//!
//! [`InboxNotifier`] is the [`Notifier`] that files notifications. Filing is idempotent by key
//! (the outbox entry that caused it), so a notify retried after a crash files it once; the
//! entry's id then names it for good (the mail's Message-ID is made from it), so a mail sent
//! again after a crash is the same mail. Mail is its own queue (entries whose [`MailState`] is
//! pending), so an SMTP server that is down never holds up the world's commands in the outbox.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::domain::{NotificationId, Timestamp, UserId};
use crate::notify::{Notification, Notifier, NotifyError};
use crate::ports::Clock;
use crate::store::InboxStore;

/// Where a notification's mail stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailState {
    /// Not to be mailed (mail is not set up, or it is not worth a mail).
    NotMailed,
    /// Waiting to be mailed.
    Pending,
    /// The mail server took it.
    Sent {
        /// When.
        at: Timestamp,
    },
    /// The mail server refused it for good (a 5xx); not retried.
    Failed {
        /// The server's answer.
        reason: String,
    },
}

/// A notification to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// Names it for good: filing the same key twice files it once.
    pub key: String,
    /// Whose inbox.
    pub user: UserId,
    /// When it happened.
    pub at: Timestamp,
    /// What.
    pub notification: Notification,
    /// Whether to mail it.
    pub mail: MailState,
}

/// A notification in a user's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Its id (increasing).
    pub id: NotificationId,
    /// Whose.
    pub user: UserId,
    /// When it happened.
    pub at: Timestamp,
    /// What.
    pub notification: Notification,
    /// Whether the user has seen it.
    pub read: bool,
    /// Where its mail stands.
    pub mail: MailState,
}

/// Files notifications in the store's inbox, marking those worth a mail as pending when mail
/// is on, and wakes whoever sends mail.
pub struct InboxNotifier<S: ?Sized> {
    store: Arc<S>,
    clock: Arc<dyn Clock>,
    mail: bool,
    filed: Arc<Notify>,
}

impl<S: InboxStore + ?Sized> InboxNotifier<S> {
    /// A notifier filing into `store`; `mail`: whether mail is set up.
    pub fn new(store: Arc<S>, clock: Arc<dyn Clock>, mail: bool) -> Self {
        Self {
            store,
            clock,
            mail,
            filed: Arc::new(Notify::new()),
        }
    }

    /// Notified whenever a mail is queued (for the mailer to wake).
    pub fn mail_queued(&self) -> Arc<Notify> {
        self.filed.clone()
    }
}

impl<S: InboxStore + ?Sized + 'static> InboxNotifier<S> {
    async fn file(&self, batch: Vec<(String, UserId, Notification)>) -> Result<(), NotifyError> {
        let now = self.clock.now();
        let batch = batch
            .into_iter()
            .map(|(key, user, notification)| NewNotification {
                key,
                user,
                at: now,
                mail: if self.mail && notification.deserves_mail() {
                    MailState::Pending
                } else {
                    MailState::NotMailed
                },
                notification,
            })
            .collect();
        let filed = self
            .store
            .file_notifications(batch)
            .await
            .map_err(|error| NotifyError::Unavailable(error.to_string()))?;
        if filed.iter().any(|e| e.mail == MailState::Pending) {
            self.filed.notify_one();
        }
        Ok(())
    }
}

/// A notification for a user who does not exist is skipped, as the store skips it.
#[async_trait]
impl<S: InboxStore + ?Sized + 'static> Notifier for InboxNotifier<S> {
    async fn notify(
        &self,
        key: &str,
        user: UserId,
        notification: Notification,
    ) -> Result<(), NotifyError> {
        self.file(vec![(key.to_string(), user, notification)]).await
    }

    async fn notify_all(
        &self,
        batch: Vec<(String, UserId, Notification)>,
    ) -> Result<(), NotifyError> {
        self.file(batch).await
    }
}
