//! Notifications in words: one headline and one link per notification, shared by the inbox
//! page, the API and the mails, so a notification reads the same wherever it is seen.

use weshop_core::{domain::OrderStatus, notify::Notification};

/// One line that says what happened.
pub fn headline(notification: &Notification) -> String {
    match notification {
        Notification::OrderStatus { order, status } => match status {
            OrderStatus::Placed => format!("Order #{order} is placed"),
            OrderStatus::WaitingForStock => {
                format!("Order #{order} is confirmed and waits for stock")
            }
            OrderStatus::Packing => format!("Order #{order} is confirmed and being packed"),
            OrderStatus::Packed => format!("Order #{order} is packed"),
            OrderStatus::TruckRequested => format!("Order #{order} waits for its truck"),
            OrderStatus::Loading => format!("Order #{order} is being loaded onto its truck"),
            OrderStatus::Loaded => format!("Order #{order} is on its truck"),
            OrderStatus::Delivering => format!("Order #{order} is on its way"),
            OrderStatus::Delivered => format!("Order #{order} is delivered"),
            OrderStatus::Cancelled => format!("Order #{order} is cancelled"),
            OrderStatus::Failed => format!("Order #{order} could not be delivered"),
        },
        Notification::LowStock { product, available } => {
            format!("Product #{product} is running low: {available} left to sell")
        }
        Notification::Promotion { text, .. } => {
            let first = text.lines().next().unwrap_or_default();
            format!("Promotion: {first}")
        }
        Notification::Welcome => "Welcome to WeShop".to_string(),
        Notification::SellerSummary(day) => {
            let orders = plural(day.orders, "order");
            format!(
                "Your day on WeShop, {}: {orders}, {} delivered",
                crate::web::layout::date(day.day),
                day.delivered
            )
        }
    }
}

/// "1 order", "3 orders".
pub fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// Where to go to see more (a path on the shop).
pub fn link(notification: &Notification) -> String {
    match notification {
        Notification::OrderStatus { order, .. } => format!("/orders/{order}"),
        Notification::LowStock { .. } => "/seller".to_string(),
        Notification::Promotion { .. } => "/".to_string(),
        Notification::Welcome => "/account".to_string(),
        Notification::SellerSummary(_) => "/seller".to_string(),
    }
}

/// The kind, as the API names it.
pub fn kind(notification: &Notification) -> &'static str {
    match notification {
        Notification::OrderStatus { .. } => "order_status",
        Notification::LowStock { .. } => "low_stock",
        Notification::Promotion { .. } => "promotion",
        Notification::Welcome => "welcome",
        Notification::SellerSummary(_) => "seller_summary",
    }
}
