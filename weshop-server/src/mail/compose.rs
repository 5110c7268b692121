//! Turning an inbox entry into a mail: text and HTML from compiled templates, and a
//! Message-ID made from the entry alone, so a mail sent again after a crash is the same mail.

use std::time::{Duration, SystemTime};

use askama::Template;
use lettre::{
    Message,
    message::{Mailbox, MultiPart, header},
};
use weshop_core::{
    domain::{Order, OrderStatus, Product, User},
    inbox::InboxEntry,
    notify::Notification,
};

use crate::{notices, web::layout::price};

/// What a mail needs besides its entry, read from the store when it is sent.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The recipient.
    pub user: User,
    /// The order, for an order's notification.
    pub order: Option<Order>,
    /// The product, for a low-stock notice.
    pub product: Option<Product>,
    /// The seller's name, for a promotion.
    pub seller: Option<String>,
    /// The one-click unsubscribe URL, for a promotion.
    pub unsubscribe: Option<String>,
    /// What is left of an order's delivery window, in words ("in 2–5 minutes").
    pub estimate: Option<String>,
}

/// One line of an order in a mail.
pub struct MailLine {
    name: String,
    quantity: u32,
    total: String,
}

/// Everything both templates show.
struct MailView {
    greeting: String,
    headline: String,
    paragraphs: Vec<String>,
    lines: Vec<MailLine>,
    total: Option<String>,
    action_text: String,
    action_url: String,
    footer: String,
    unsubscribe: Option<String>,
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct TextMail<'a> {
    view: &'a MailView,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct HtmlMail<'a> {
    view: &'a MailView,
}

/// Makes mails from inbox entries.
#[derive(Debug, Clone)]
pub struct Composer {
    from: Mailbox,
    public_url: String,
    domain: String,
}

impl Composer {
    /// Mails from `from` (e.g. `WeShop <shop@example.com>`), with links to `public_url`.
    pub fn new(from: &str, public_url: &str) -> Result<Self, String> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("{from:?} is not a mailbox: {e}"))?;
        let domain = from.email.domain().to_string();
        Ok(Self {
            from,
            public_url: public_url.trim_end_matches('/').to_string(),
            domain,
        })
    }

    /// The absolute URL of a path on the shop.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// The Message-ID of an entry's mail: the same whenever it is made.
    pub fn message_id(&self, entry: &InboxEntry) -> String {
        format!(
            "<weshop.{}.{}.{}@{}>",
            entry.id,
            entry.user,
            entry.at.millis(),
            self.domain
        )
    }

    /// The mail for `entry`.
    pub fn compose(&self, entry: &InboxEntry, facts: &Facts) -> Result<Message, String> {
        let view = self.view(entry, facts);
        let text = TextMail { view: &view }
            .render()
            .map_err(|e| format!("text template: {e}"))?;
        let html = HtmlMail { view: &view }
            .render()
            .map_err(|e| format!("html template: {e}"))?;
        let to = Mailbox::new(
            Some(facts.user.name.as_str().to_string()),
            facts
                .user
                .email
                .as_str()
                .parse()
                .map_err(|e| format!("recipient: {e}"))?,
        );
        let mut builder = Message::builder()
            .message_id(Some(self.message_id(entry)))
            .from(self.from.clone())
            .to(to)
            .subject(view.headline.clone())
            .date(SystemTime::UNIX_EPOCH + Duration::from_millis(entry.at.millis()));
        if let Some(url) = &view.unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| format!("building the mail: {e}"))
    }

    fn view(&self, entry: &InboxEntry, facts: &Facts) -> MailView {
        let n = &entry.notification;
        let url = |path: &str| self.url(path);
        let mut view = MailView {
            greeting: format!("Hello {},", facts.user.name.as_str()),
            headline: notices::headline(n),
            paragraphs: Vec::new(),
            lines: Vec::new(),
            total: None,
            action_text: "Open WeShop".into(),
            action_url: url(&notices::link(n)),
            footer: "You get this mail because you have a WeShop account. Every notice is also \
                     in your inbox on the site."
                .into(),
            unsubscribe: None,
        };
        match n {
            Notification::OrderStatus { status, .. } => {
                view.action_text = "Follow your order".into();
                if let Some(order) = &facts.order {
                    view.paragraphs = order_paragraphs(order, *status);
                    if let Some(window) = &facts.estimate
                        && matches!(
                            status,
                            OrderStatus::WaitingForStock
                                | OrderStatus::Packing
                                | OrderStatus::Delivering
                        )
                    {
                        view.paragraphs
                            .push(format!("It should arrive {window} from this mail."));
                    }
                    if matches!(status, OrderStatus::WaitingForStock | OrderStatus::Packing) {
                        view.lines = order
                            .lines()
                            .iter()
                            .map(|l| MailLine {
                                name: l.name.as_str().to_string(),
                                quantity: l.quantity.get(),
                                total: l
                                    .unit_price
                                    .times(l.quantity)
                                    .map(price)
                                    .unwrap_or_default(),
                            })
                            .collect();
                        view.total = Some(price(order.total()));
                    }
                }
            }
            Notification::LowStock { available, .. } => {
                let name = facts
                    .product
                    .as_ref()
                    .map_or("One of your products".to_string(), |p| {
                        format!("\u{201c}{}\u{201d}", p.name.as_str())
                    });
                view.paragraphs = vec![
                    format!("{name} has {available} units left to sell across your warehouses."),
                    "Restock it from your shop's dashboard before it runs out.".into(),
                ];
                view.action_text = "Restock".into();
            }
            Notification::Promotion { text, .. } => {
                let seller = facts.seller.as_deref().unwrap_or("A WeShop seller");
                view.headline = format!("{seller}: {}", text.lines().next().unwrap_or_default());
                view.paragraphs = text.lines().map(str::to_string).collect();
                view.action_text = "Visit the shop".into();
                view.footer = "You get promotions because you asked for them in your WeShop \
                               account."
                    .into();
                view.unsubscribe = facts.unsubscribe.clone();
            }
            Notification::Welcome => {
                view.paragraphs = vec![
                    "Your WeShop account is ready.".into(),
                    "We will mail you when an order is confirmed, when it is on its way and \
                     when it is delivered; every notice is also in your inbox on the site."
                        .into(),
                    "Sellers' promotions come only if you ask for them in your account.".into(),
                ];
                view.action_text = "Your account".into();
            }
            Notification::SellerSummary(day) => {
                let mut said = vec![format!(
                    "On {} your products were in {}: {} for {}.",
                    crate::web::layout::date(day.day),
                    notices::plural(day.orders, "new order"),
                    notices::plural(day.units, "unit"),
                    price(day.amount)
                )];
                said.push(format!(
                    "{} with your products {} delivered that day.",
                    notices::plural(day.delivered, "order"),
                    if day.delivered == 1 { "was" } else { "were" }
                ));
                if day.low_stock.is_empty() {
                    said.push("None of your products is running low.".into());
                } else {
                    said.push("Running low, to restock from your dashboard:".into());
                    said.extend(
                        day.low_stock
                            .iter()
                            .map(|(_, name, left)| format!("\u{2022} {name}: {left} left to sell")),
                    );
                }
                view.paragraphs = said;
                view.action_text = "Your dashboard".into();
                view.footer = "You get one summary for each day your products sell, not a mail \
                               per sale."
                    .into();
            }
        }
        view
    }
}

/// What to say about an order at `status`.
fn order_paragraphs(order: &Order, status: OrderStatus) -> Vec<String> {
    let to = order.reported_destination().unwrap_or(order.destination());
    match status {
        OrderStatus::Placed | OrderStatus::WaitingForStock => vec![
            "Thank you for your order. It is confirmed, and its payment is held on your card \
             until it is delivered."
                .into(),
            "Some of its items are on their way to our warehouse; we will pack it as soon as \
             they arrive."
                .into(),
        ],
        OrderStatus::Packing => vec![
            "Thank you for your order. It is confirmed, and its payment is held on your card \
             until it is delivered."
                .into(),
            format!(
                "Our warehouse {} is packing it for delivery to ({}, {}).",
                order.warehouse().map_or("?".into(), |w| w.to_string()),
                to.x,
                to.y
            ),
        ],
        OrderStatus::Delivering => vec![format!(
            "Your package left the warehouse on UPS truck {} and is on its way to ({}, {}).",
            order.truck().map_or("?".into(), |t| t.to_string()),
            to.x,
            to.y
        )],
        OrderStatus::Delivered => vec![format!(
            "Your package was delivered to ({}, {}). We have now taken the payment of {}.",
            to.x,
            to.y,
            price(order.total())
        )],
        OrderStatus::Failed => vec![
            format!(
                "We are sorry: we could not deliver it ({}).",
                order.end_reason().unwrap_or("no reason was given")
            ),
            "The hold on your card is released: you have not been charged.".into(),
        ],
        OrderStatus::Cancelled => vec![
            "Your order is cancelled, as you asked.".into(),
            "The hold on your card is released: you have not been charged.".into(),
        ],
        _ => Vec::new(),
    }
}

/// `List-Unsubscribe` (RFC 2369): where a mail client's unsubscribe button goes.
#[derive(Debug, Clone)]
struct ListUnsubscribe(String);

impl header::Header for ListUnsubscribe {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_string()))
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// `List-Unsubscribe-Post` (RFC 8058): the button unsubscribes in one POST, no page to visit.
#[derive(Debug, Clone)]
struct ListUnsubscribePost;

impl header::Header for ListUnsubscribePost {
    fn name() -> header::HeaderName {
        header::HeaderName::new_from_ascii_str("List-Unsubscribe-Post")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self)
    }

    fn display(&self) -> header::HeaderValue {
        header::HeaderValue::new(Self::name(), "List-Unsubscribe=One-Click".to_string())
    }
}
