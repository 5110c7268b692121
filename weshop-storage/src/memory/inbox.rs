//! Inboxes in memory: entries by id, the keys already filed and the mails pending.

use async_trait::async_trait;
use weshop_core::{
    domain::{NotificationId, UserId},
    inbox::{InboxEntry, MailState, NewNotification},
    store::{InboxStore, StoreError},
};

use super::{MemoryStore, next_id};
use crate::corrupt;

#[async_trait]
impl InboxStore for MemoryStore {
    async fn file_notifications(
        &self,
        batch: Vec<NewNotification>,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let mut state = self.lock()?;
        let mut filed = Vec::new();
        for new in batch {
            if state.inbox_keys.contains_key(&new.key) || !state.users.contains_key(&new.user) {
                continue;
            }
            let id = NotificationId::new(next_id(&mut state.last_notification, "notification")?)
                .map_err(corrupt)?;
            let entry = InboxEntry {
                id,
                user: new.user,
                at: new.at,
                notification: new.notification,
                read: false,
                mail: new.mail,
            };
            state.inbox_keys.insert(new.key, id);
            if entry.mail == MailState::Pending {
                state.mail_queue.insert(id);
            }
            state.inbox.insert(id, entry.clone());
            filed.push(entry);
        }
        Ok(filed)
    }

    async fn notifications(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Vec<InboxEntry>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .inbox
            .values()
            .rev()
            .filter(|e| e.user == user && before.is_none_or(|b| e.id < b))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn unread_notifications(&self, user: UserId) -> Result<u64, StoreError> {
        let state = self.lock()?;
        Ok(state
            .inbox
            .values()
            .filter(|e| e.user == user && !e.read)
            .count() as u64)
    }

    async fn mark_notifications_read(
        &self,
        user: UserId,
        ids: Option<&[NotificationId]>,
    ) -> Result<u64, StoreError> {
        let mut state = self.lock()?;
        let mut changed = 0;
        for entry in state.inbox.values_mut() {
            if entry.user == user && !entry.read && ids.is_none_or(|ids| ids.contains(&entry.id)) {
                entry.read = true;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn mail_queue(&self, limit: usize) -> Result<Vec<InboxEntry>, StoreError> {
        let state = self.lock()?;
        Ok(state
            .mail_queue
            .iter()
            .filter_map(|id| state.inbox.get(id))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn record_mail(&self, id: NotificationId, mail: MailState) -> Result<(), StoreError> {
        let mut state = self.lock()?;
        let entry = state
            .inbox
            .get_mut(&id)
            .ok_or_else(|| StoreError::NotFound(format!("notification {id}")))?;
        let pending = mail == MailState::Pending;
        entry.mail = mail;
        if pending {
            state.mail_queue.insert(id);
        } else {
            state.mail_queue.remove(&id);
        }
        Ok(())
    }
}
