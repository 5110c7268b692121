//! `/account/notifications`: the visitor's inbox, newest first, and marking it read.

use askama::Template;
use askama_web::WebTemplate;
use poem::{
    IntoResponse, Request, handler,
    web::{Data, Form, Query},
};
use serde::Deserialize;
use weshop_core::{
    domain::NotificationId,
    inbox::{InboxEntry, MailState},
    notify::Notification,
};

use super::{
    PageResult,
    csrf::CsrfOnly,
    layout::{Layout, State, form_viewer, require_viewer, when},
    see_other, shop_error,
};
use crate::notices;

/// Notifications on one page.
const PER_PAGE: usize = 30;

/// One notification as the page shows it.
pub struct NoticeView {
    headline: String,
    link: String,
    when: String,
    read: bool,
    /// Where its mail stands, when it was to be mailed.
    mail: Option<String>,
    /// A promotion's text.
    text: Option<String>,
}

impl From<&InboxEntry> for NoticeView {
    fn from(entry: &InboxEntry) -> Self {
        let mail = match &entry.mail {
            MailState::NotMailed => None,
            MailState::Pending => Some("mail on its way".to_string()),
            MailState::Sent { .. } => Some("mailed".to_string()),
            MailState::Failed { reason } => Some(format!("mail refused: {reason}")),
        };
        let text = match &entry.notification {
            Notification::Promotion { text, .. } => Some(text.clone()),
            _ => None,
        };
        Self {
            headline: notices::headline(&entry.notification),
            link: notices::link(&entry.notification),
            when: when(entry.at),
            read: entry.read,
            mail,
            text,
        }
    }
}

/// `/account/notifications`.
#[derive(Template, WebTemplate)]
#[template(path = "notifications.html")]
pub struct InboxPage {
    layout: Layout,
    entries: Vec<NoticeView>,
    unread: u64,
    older: Option<i64>,
}

/// Which page.
#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    before: Option<String>,
}

/// `GET /account/notifications`.
#[handler]
pub async fn inbox(state: Data<&State>, req: &Request, query: Query<InboxQuery>) -> PageResult {
    let viewer = require_viewer(&state, req).await?;
    // A malformed `before` shows the first page rather than an error.
    let before = query
        .before
        .as_deref()
        .and_then(|b| b.parse::<i64>().ok())
        .and_then(|b| NotificationId::new(b).ok());
    let inbox = state
        .shop
        .notifications(viewer.user.id, before, PER_PAGE)
        .await
        .map_err(shop_error)?;
    let older = inbox
        .more
        .then(|| inbox.entries.last().map(|e| e.id.get()))
        .flatten();
    Ok(InboxPage {
        layout: Layout::new(&state, req, Some(&viewer)),
        entries: inbox.entries.iter().map(NoticeView::from).collect(),
        unread: inbox.unread,
        older,
    }
    .into_response())
}

/// `POST /account/notifications/read`: marks every notification read.
#[handler]
pub async fn mark_all_read(state: Data<&State>, req: &Request, form: Form<CsrfOnly>) -> PageResult {
    let viewer = form_viewer(&state, req, &form.csrf).await?;
    state
        .shop
        .mark_notifications_read(viewer.user.id, None)
        .await
        .map_err(shop_error)?;
    Ok(see_other("/account/notifications"))
}
