//! The caller's inbox: notifications, newest first, and marking them read.

use std::sync::Arc;

use poem_openapi::{Enum, Object, OpenApi, param::Query, payload::Json};
use weshop_core::{
    domain::NotificationId,
    inbox::{InboxEntry, MailState},
    notify::Notification,
};

use super::{
    ApiState, ApiTags, auth::Auth, enums::StatusDto, omittable::Omittable, problem::ApiResult,
};
use crate::notices;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "NotificationKind", rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum NotificationKindDto {
    OrderStatus,
    LowStock,
    Promotion,
    Welcome,
    SellerSummary,
}

/// Where a notification's mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "MailStatus", rename_all = "snake_case")]
pub enum MailStatusDto {
    /// Not mailed (mail is not set up, or it is not worth a mail).
    NotMailed,
    /// Waiting for the mail server.
    Pending,
    /// The mail server took it.
    Sent,
    /// The mail server refused it for good; `mail_error` says why.
    Failed,
}

/// A notification in the caller's inbox.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Notification")]
pub struct NotificationDto {
    /// Its id (increasing).
    pub id: i64,
    /// When it happened, in milliseconds since the Unix epoch.
    pub at: u64,
    /// What it is about.
    pub kind: NotificationKindDto,
    /// What happened, in words.
    pub headline: String,
    /// Where to see more: a path on the shop.
    pub link: String,
    /// Whether the caller has marked it read.
    pub read: bool,
    /// Where its mail stands.
    pub mail: MailStatusDto,
    /// For a failed mail: the mail server's answer.
    #[oai(skip_serializing_if_is_none)]
    pub mail_error: Option<String>,
    /// For order_status: the order.
    #[oai(skip_serializing_if_is_none)]
    pub order_id: Option<i64>,
    /// For order_status: its new status.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<StatusDto>,
    /// For low_stock: the product.
    #[oai(skip_serializing_if_is_none)]
    pub product_id: Option<i64>,
    /// For low_stock: units still for sale.
    #[oai(skip_serializing_if_is_none)]
    pub available: Option<u64>,
    /// For promotion: the seller.
    #[oai(skip_serializing_if_is_none)]
    pub seller_id: Option<i64>,
    /// For promotion: the seller's text.
    #[oai(skip_serializing_if_is_none)]
    pub text: Option<String>,
    /// For seller_summary: the seller's day.
    #[oai(skip_serializing_if_is_none)]
    pub summary: Option<SellerDayDto>,
}

/// What a seller's products did in one day (UTC).
#[derive(Debug, Clone, Object)]
#[oai(rename = "SellerDay")]
pub struct SellerDayDto {
    /// The day's first moment (midnight UTC), in milliseconds since the Unix epoch.
    pub day: u64,
    /// Orders placed that day with the seller's products (cancelled ones not counted).
    pub orders: u64,
    /// The seller's units in them.
    pub units: u64,
    /// What the seller's lines of them come to.
    pub amount: String,
    /// ISO 4217 code of the amount.
    pub currency: String,
    /// Orders with the seller's products delivered that day.
    pub delivered: u64,
    /// The seller's products under the low-stock threshold when it was sent.
    pub low_stock: Vec<LowStockDto>,
}

/// A product running low.
#[derive(Debug, Clone, Object)]
pub struct LowStockDto {
    /// The product.
    pub product_id: i64,
    /// Its name.
    pub name: String,
    /// Units still for sale.
    pub available: u64,
}

impl From<&InboxEntry> for NotificationDto {
    fn from(entry: &InboxEntry) -> Self {
        let n = &entry.notification;
        let (mail, mail_error) = match &entry.mail {
            MailState::NotMailed => (MailStatusDto::NotMailed, None),
            MailState::Pending => (MailStatusDto::Pending, None),
            MailState::Sent { .. } => (MailStatusDto::Sent, None),
            MailState::Failed { reason } => (MailStatusDto::Failed, Some(reason.clone())),
        };
        let mut dto = NotificationDto {
            id: entry.id.get(),
            at: entry.at.millis(),
            kind: NotificationKindDto::Welcome,
            headline: notices::headline(n),
            link: notices::link(n),
            read: entry.read,
            mail,
            mail_error,
            order_id: None,
            status: None,
            product_id: None,
            available: None,
            seller_id: None,
            text: None,
            summary: None,
        };
        match n {
            Notification::OrderStatus { order, status } => {
                dto.kind = NotificationKindDto::OrderStatus;
                dto.order_id = Some(order.get());
                dto.status = Some((*status).into());
            }
            Notification::LowStock { product, available } => {
                dto.kind = NotificationKindDto::LowStock;
                dto.product_id = Some(product.get());
                dto.available = Some(*available);
            }
            Notification::Promotion { seller, text } => {
                dto.kind = NotificationKindDto::Promotion;
                dto.seller_id = Some(seller.get());
                dto.text = Some(text.clone());
            }
            Notification::Welcome => {}
            Notification::SellerSummary(day) => {
                dto.kind = NotificationKindDto::SellerSummary;
                dto.summary = Some(SellerDayDto {
                    day: day.day.millis(),
                    orders: day.orders,
                    units: day.units,
                    amount: crate::api::types::amount(day.amount),
                    currency: day.amount.currency().to_string(),
                    delivered: day.delivered,
                    low_stock: day
                        .low_stock
                        .iter()
                        .map(|(p, name, available)| LowStockDto {
                            product_id: p.get(),
                            name: name.clone(),
                            available: *available,
                        })
                        .collect(),
                });
            }
        }
        dto
    }
}

/// A page of the caller's inbox.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Inbox")]
pub struct InboxDto {
    /// Newest first.
    pub items: Vec<NotificationDto>,
    /// Unread notifications in the whole inbox.
    pub unread: u64,
    /// When older notifications follow: pass it as `before` for the next page.
    #[oai(skip_serializing_if_is_none)]
    pub next_before: Option<i64>,
}

/// Which notifications to mark read.
#[derive(Debug, Object)]
pub struct MarkReadRequest {
    /// These (1 to 100 ids, each ≥ 1; ids that are not the caller's are ignored); absent: all.
    #[oai(validator(min_items = 1, max_items = 100, minimum(value = "1")))]
    pub ids: Omittable<Vec<i64>>,
}

/// How many were marked.
#[derive(Debug, Object)]
pub struct MarkedRead {
    /// Notifications that were unread and now are read.
    pub marked: u64,
    /// Unread notifications left.
    pub unread: u64,
}

/// The caller's inbox.
pub struct NotificationsApi(pub Arc<ApiState>);

#[OpenApi(prefix_path = "/me/notifications", tag = "ApiTags::Notifications")]
impl NotificationsApi {
    /// The caller's notifications, newest first, a page at a time, with the unread count.
    #[oai(path = "/", method = "get", operation_id = "listNotifications")]
    async fn list(
        &self,
        auth: Auth,
        /// How many (1 to 100, default 20).
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "100"))
        )]
        limit: Query<u32>,
        /// Only notifications older than this id (the previous page's `next_before`).
        #[oai(validator(minimum(value = "1")))]
        before: Query<Option<i64>>,
    ) -> ApiResult<Json<InboxDto>> {
        let before = before.0.map(NotificationId::new).transpose()?;
        let inbox = self
            .0
            .shop
            .notifications(auth.user_id(), before, limit.0 as usize)
            .await?;
        let next_before = inbox
            .more
            .then(|| inbox.entries.last().map(|e| e.id.get()))
            .flatten();
        Ok(Json(InboxDto {
            items: inbox.entries.iter().map(NotificationDto::from).collect(),
            unread: inbox.unread,
            next_before,
        }))
    }

    /// Marks the caller's notifications read: the ones named, or all.
    #[oai(
        path = "/read",
        method = "post",
        operation_id = "markNotificationsRead"
    )]
    async fn mark_read(
        &self,
        auth: Auth,
        body: Json<MarkReadRequest>,
    ) -> ApiResult<Json<MarkedRead>> {
        let ids = body
            .0
            .ids
            .0
            .map(|ids| {
                ids.into_iter()
                    .map(NotificationId::new)
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let shop = &self.0.shop;
        let marked = shop.mark_notifications_read(auth.user_id(), ids).await?;
        let unread = shop.unread_notifications(auth.user_id()).await?;
        Ok(Json(MarkedRead { marked, unread }))
    }
}

fn default_limit() -> u32 {
    20
}
