//! `/demo/mailbox`: the mails the demo's shop sent, as its in-process SMTP server caught
//! them, listed (refreshing itself) and shown one at a time, HTML and text. Demo only.

use std::{sync::Arc, time::UNIX_EPOCH};

use askama::Template;
use askama_web::WebTemplate;
use mail_parser::{Address, MessageParser};
use poem::{
    EndpointExt, IntoResponse, Response, get, handler,
    http::StatusCode,
    web::{Data, Path},
};

use crate::{
    app::AppOptions,
    mail::catcher::{KEPT, MailCatcher},
    web::layout::when,
};

/// One line of the list.
struct Row {
    id: usize,
    to: String,
    subject: String,
    received: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "demo/mailbox.html")]
struct MailboxPage {
    mails: Vec<Row>,
    /// How many of the newest mails the catcher keeps.
    kept: usize,
}

#[derive(Template, WebTemplate)]
#[template(path = "demo/mail.html")]
struct MailPage {
    id: usize,
    subject: String,
    from: String,
    to: String,
    date: String,
    message_id: String,
    unsubscribe: Option<String>,
    html: Option<String>,
    text: Option<String>,
}

/// `options` with the mailbox's pages, showing what `catcher` caught.
pub fn mount(options: AppOptions, catcher: Arc<MailCatcher>) -> AppOptions {
    options
        .route("/demo/mailbox", get(list).data(catcher.clone()))
        .route("/demo/mailbox/:id", get(show).data(catcher.clone()))
        .route("/demo/mailbox/:id/raw", get(raw).data(catcher))
}

fn addresses(address: Option<&Address<'_>>) -> String {
    address
        .map(|a| {
            a.iter()
                .filter_map(|a| a.address())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[handler]
fn list(catcher: Data<&Arc<MailCatcher>>) -> impl IntoResponse {
    let parser = MessageParser::default();
    let mut mails: Vec<Row> = catcher
        .mails()
        .into_iter()
        .map(|m| {
            let parsed = parser.parse(&m.data);
            let millis =
                m.at.duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
            Row {
                id: m.id,
                to: m.to.join(", "),
                subject: parsed
                    .as_ref()
                    .and_then(|p| p.subject().map(str::to_string))
                    .unwrap_or_else(|| "(no subject)".into()),
                received: when(weshop_core::domain::Timestamp(millis)),
            }
        })
        .collect();
    mails.reverse();
    MailboxPage { mails, kept: KEPT }
}

fn missing() -> Response {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .content_type("text/plain; charset=utf-8")
        .body("no such mail")
}

#[handler]
fn show(catcher: Data<&Arc<MailCatcher>>, Path(id): Path<String>) -> Response {
    let Some(mail) = id.parse().ok().and_then(|id| catcher.mail(id)) else {
        return missing();
    };
    let Some(parsed) = MessageParser::default().parse(&mail.data) else {
        return missing();
    };
    MailPage {
        id: mail.id,
        subject: parsed.subject().unwrap_or("(no subject)").to_string(),
        from: addresses(parsed.from()),
        to: addresses(parsed.to()),
        date: parsed.date().map(|d| d.to_rfc822()).unwrap_or_default(),
        message_id: parsed.message_id().unwrap_or_default().to_string(),
        unsubscribe: parsed
            .header_raw("List-Unsubscribe")
            .map(|v| v.trim().to_string()),
        html: parsed.body_html(0).map(|b| b.into_owned()),
        text: parsed.body_text(0).map(|b| b.into_owned()),
    }
    .into_response()
}

#[handler]
fn raw(catcher: Data<&Arc<MailCatcher>>, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| catcher.mail(id)) {
        Some(mail) => Response::builder()
            .content_type("text/plain; charset=utf-8")
            .body(mail.data),
        None => missing(),
    }
}

#[cfg(test)]
mod tests {
    use poem::{Route, test::TestClient};

    use super::*;
    use crate::mail::smtp::SmtpClient;

    #[tokio::test]
    async fn the_mailbox_lists_what_was_caught_and_shows_each_mail() {
        let catcher = Arc::new(MailCatcher::bind(([127, 0, 0, 1], 0).into()).await.unwrap());
        let smtp = SmtpClient::new(&catcher.settings("WeShop <shop@weshop.test>")).unwrap();
        let mail = lettre::Message::builder()
            .from("WeShop <shop@weshop.test>".parse().unwrap())
            .to("ada@example.com".parse().unwrap())
            .subject("Your order is on its way")
            .body(String::from("Hello"))
            .unwrap();
        smtp.send(&mail).await.unwrap();
        let pages = TestClient::new(
            Route::new()
                .at("/demo/mailbox", get(list).data(catcher.clone()))
                .at("/demo/mailbox/:id", get(show).data(catcher.clone())),
        );
        let listed = pages.get("/demo/mailbox").send().await;
        listed.assert_status_is_ok();
        let listed = listed.0.into_body().into_string().await.unwrap();
        assert!(listed.contains("Your order is on its way"), "{listed}");
        assert!(listed.contains("ada@example.com"), "{listed}");
        assert!(
            listed.contains(&format!("the newest {KEPT} are kept")),
            "{listed}"
        );
        let one = pages.get("/demo/mailbox/1").send().await;
        one.assert_status_is_ok();
        let one = one.0.into_body().into_string().await.unwrap();
        assert!(one.contains("Your order is on its way"), "{one}");
        for missing in ["/demo/mailbox/2", "/demo/mailbox/0", "/demo/mailbox/x"] {
            pages
                .get(missing)
                .send()
                .await
                .assert_status(StatusCode::NOT_FOUND);
        }
    }
}
