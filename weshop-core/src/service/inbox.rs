//! A user's inbox: reading it a page at a time and marking notifications read.

use crate::domain::{NotificationId, UserId};
use crate::shop::{Inbox, ShopError};
use crate::store::Store;

use super::ShopService;

/// Most notifications on one page.
pub const MAX_INBOX_PAGE: usize = 100;

impl<S: Store + ?Sized + 'static> ShopService<S> {
    /// See [`crate::shop::Shop::notifications`].
    pub(super) async fn notifications_impl(
        &self,
        user: UserId,
        before: Option<NotificationId>,
        limit: usize,
    ) -> Result<Inbox, ShopError> {
        if !(1..=MAX_INBOX_PAGE).contains(&limit) {
            return Err(ShopError::BadRequest(format!(
                "a page of notifications holds 1 to {MAX_INBOX_PAGE}"
            )));
        }
        // One more than asked tells whether another page follows.
        let mut entries = self.store.notifications(user, before, limit + 1).await?;
        let more = entries.len() > limit;
        entries.truncate(limit);
        let unread = self.store.unread_notifications(user).await?;
        Ok(Inbox {
            entries,
            unread,
            more,
        })
    }

    /// See [`crate::shop::Shop::mark_notifications_read`].
    pub(super) async fn mark_notifications_read_impl(
        &self,
        user: UserId,
        ids: Option<Vec<NotificationId>>,
    ) -> Result<u64, ShopError> {
        if ids.as_ref().is_some_and(|ids| ids.len() > MAX_INBOX_PAGE) {
            return Err(ShopError::BadRequest(format!(
                "at most {MAX_INBOX_PAGE} notifications at a time"
            )));
        }
        Ok(self
            .store
            .mark_notifications_read(user, ids.as_deref())
            .await?)
    }
}
