//! Inboxes in memory: entries by id, the keys already filed and the mails pending.

use async_trait::async_trait;
use weshop_core::{
    domain::{NotificationId, UserId},
    inbox::{InboxEntry, MailState, NewNotification},
    store::{InboxStore, StoreError},
};

use super::{MemoryStore, State, next_id, records::Record};
use crate::corrupt;

#[async_trait]
impl InboxStore for MemoryStore {
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.write(|state| {
            let mut filed = Vec::new();
            for new in batch {
                if state.inbox_keys.contains_key(&new.key) || !state.users.contains_key(&new.user) {
                    continue;
                }
                let id =
                    NotificationId::new(next_id(&mut state.last_notification, "notification")?)
                        .map_err(corrupt)?;
                let entry = InboxEntry {
                    id,
                    user: new.user,
                    at: new.at,
                    notification: new.notification,
                    read: false,
                    mail: new.mail,
                };
                state.filed_as.insert(id, new.key.clone());
                state.inbox_keys.insert(new.key, id);
                if entry.mail == MailState::Pending {
                    state.mail_queue.insert(id);
                }
                state.inbox.insert(id, entry.clone());
                state.touch(Record::Inbox(id));
                state.touch(Record::Counters);
                filed.push(entry);
            }
            Ok(filed)
        })
        .await
    }

    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        self.read(|state| {
            state
                .inbox
                .values()
                .rev()
                .filter(|e| e.user == user && before.is_none_or(|b| e.id < b))
                .take(limit)
                .cloned()
                .collect()
        })
        .await
    }

    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError> {
        self.read(|state| {
            state
                .inbox
                .values()
                .filter(|e| e.user == user && !e.read)
                .count() as u64
        })
        .await
    }

    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError> {
        self.write(|state| {
            let mut changed = Vec::new();
            for entry in state.inbox.values_mut() {
                if entry.user == user
                    && !entry.read
                    && ids.is_none_or(|ids| ids.contains(&entry.id))
                {
                    entry.read = true;
                    changed.push(entry.id);
                }
            }
            for id in &changed {
                state.touch(Record::Inbox(*id));
            }
            Ok(changed.len() as u64)
        })
        .await
    }

    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        self.read(|state| {
            state
                .mail_queue
                .iter()
                .filter_map(|id| state.inbox.get(id))
                .take(limit)
                .cloned()
                .collect()
        })
        .await
    }

    async fn record_mail(&self, id: NotificationId, mail: MailState) -> Result<(), StoreError> {
        self.write(|state| state.record_mail(id, mail)).await
    }

    async fn record_mails(&self, states: &[(NotificationId, MailState)]) -> Result<(), StoreError> {
        self.write(|state| {
            for (id, mail) in states {
                match state.record_mail(*id, mail.clone()) {
                    Ok(()) | Err(StoreError::NotFound(_)) => {}
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        })
        .await
    }
}

impl State {
    /// Where one notification's mail stands now.
    fn record_mail(&mut self, id: NotificationId, mail: MailState) -> Result<(), StoreError> {
        let entry = self
            .inbox
            .get_mut(&id)
            .ok_or_else(|| StoreError::NotFound(format!("notification {id}")))?;
        let pending = mail == MailState::Pending;
        entry.mail = mail;
        if pending {
            self.mail_queue.insert(id);
        } else {
            self.mail_queue.remove(&id);
        }
        self.touch(Record::Inbox(id));
        Ok(())
    }
}
