//! An inbox entry's stored documents: what it says (with when) and where its mail stands.

use serde::{Deserialize, Serialize};
use weshop_core::{
    domain::{NotificationId, Timestamp, UserId},
    fulfilment::Effect,
    inbox::{InboxEntry, MailState},
    notify::Notification,
    store::StoreError,
};

use super::EffectDoc;
use crate::corrupt;

/// What a notification says, and when: the outbox's notify document (it names the user too),
/// so a notification has one stored form wherever it is kept.
#[derive(Serialize, Deserialize)]
pub struct NotificationDoc {
    at: u64,
    #[serde(flatten)]
    what: EffectDoc,
}

impl NotificationDoc {
    /// The document of `notification` to `user` at `at`.
    pub fn new(user: UserId, at: Timestamp, notification: &Notification) -> Self {
        Self {
            at: at.millis(),
            what: EffectDoc::from(&Effect::Notify {
                user,
                notification: notification.clone(),
            }),
        }
    }

    /// Back to the domain: the entry, given its id, read flag and mail state.
    pub fn parse(
        self,
        id: NotificationId,
        read: bool,
        mail: MailState,
    ) -> Result<InboxEntry, StoreError> {
        let Effect::Notify { user, notification } = self.what.parse()? else {
            return Err(corrupt("an inbox entry that is not a notification"));
        };
        Ok(InboxEntry {
            id,
            user,
            at: Timestamp(self.at),
            notification,
            read,
            mail,
        })
    }
}

/// Where a mail stands, as stored.
#[derive(Serialize, Deserialize)]
#[serde(tag = "mail", rename_all = "snake_case")]
pub enum MailDoc {
    /// Not to be mailed.
    NotMailed,
    /// Waiting.
    Pending,
    /// Taken by the mail server.
    Sent {
        /// When, in ms since the epoch.
        at: u64,
    },
    /// Refused for good.
    Failed {
        /// The server's answer.
        reason: String,
    },
}

impl From<&MailState> for MailDoc {
    fn from(state: &MailState) -> Self {
        match state {
            MailState::NotMailed => MailDoc::NotMailed,
            MailState::Pending => MailDoc::Pending,
            MailState::Sent { at } => MailDoc::Sent { at: at.millis() },
            MailState::Failed { reason } => MailDoc::Failed {
                reason: reason.clone(),
            },
        }
    }
}

impl From<MailDoc> for MailState {
    fn from(doc: MailDoc) -> Self {
        match doc {
            MailDoc::NotMailed => MailState::NotMailed,
            MailDoc::Pending => MailState::Pending,
            MailDoc::Sent { at } => MailState::Sent { at: Timestamp(at) },
            MailDoc::Failed { reason } => MailState::Failed { reason },
        }
    }
}
