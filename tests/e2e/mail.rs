//! The shop's mail end to end: the server with SMTP settings, the simulated world and UPS, and
//! the in-process SMTP catcher. A customer's order mails them as it moves; promotions reach
//! only those who opted in, and the link in one unsubscribes, logged out, in one click.

use std::time::Duration;

use mail_parser::MessageParser;
use serde_json::json;
use weshop::server::{
    app::App,
    demo::{SELLER_PASSWORD, app_options, seed},
    mail::catcher::{CaughtMail, MailCatcher},
};

use crate::support::{
    FAST, PATIENCE, Shopper, client, expect, settings, settle, start_ups, start_world,
};

/// The mails to `address` so far, as (subject, parsed text body, raw headers).
fn mails_to(mails: &[CaughtMail], address: &str) -> Vec<(String, String, String)> {
    mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == address))
        .map(|m| {
            let parsed = MessageParser::default().parse(&m.data).unwrap();
            let head_end = m
                .data
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(m.data.len());
            (
                parsed.subject().unwrap_or_default().to_string(),
                parsed.body_text(0).unwrap_or_default().into_owned(),
                String::from_utf8_lossy(&m.data[..head_end]).into_owned(),
            )
        })
        .collect()
}

/// Waits until `address` has a mail whose subject contains `subject`.
async fn wait_for_subject(catcher: &MailCatcher, address: &str, subject: &str) {
    let mut arrived = catcher.subscribe();
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            if mails_to(&catcher.mails(), address)
                .iter()
                .any(|(s, ..)| s.contains(subject))
            {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), arrived.recv()).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "no mail {subject:?} to {address}: {:?}",
        mails_to(&catcher.mails(), address)
            .into_iter()
            .map(|(s, ..)| s)
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_mails_its_customer_as_it_moves_and_promotions_respect_consent() {
    let data = tempfile::tempdir().unwrap();
    let catcher = MailCatcher::bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let world = start_world(0).await;
    let mut config = settings(
        &world,
        &data.path().join("db"),
        ([127, 0, 0, 1], 0).into(),
        FAST,
    );
    config.smtp = Some(catcher.settings("WeShop <shop@weshop.test>"));
    config.public_url = Some("https://shop.example".into());
    let app = App::start(config, app_options())
        .await
        .expect("server starts");
    let ups = start_ups(&world, app.ups_addr().unwrap(), FAST).await;
    seed(app.shop().as_ref(), 20).await.expect("catalog seeded");
    let base = format!("http://{}", app.http_addr());
    let http = client();

    // An order, followed by mail.
    let ada = Shopper::register(&http, &base, "ada@example.com").await;
    wait_for_subject(&catcher, "ada@example.com", "Welcome to WeShop").await;
    let mug = ada.find("mug").await;
    ada.add_to_cart(mug, 2).await;
    let id = ada.checkout("ada-1").await["id"].as_i64().unwrap();
    let order = &settle(&ada, &[id]).await[0];
    assert_eq!(order["status"], "delivered", "{order}");
    for subject in [
        format!("Order #{id} is confirmed"),
        format!("Order #{id} is on its way"),
        format!("Order #{id} is delivered"),
    ] {
        wait_for_subject(&catcher, "ada@example.com", &subject).await;
    }
    let adas = mails_to(&catcher.mails(), "ada@example.com");
    let confirmed = adas
        .iter()
        .find(|(s, ..)| s.contains("is confirmed"))
        .unwrap();
    assert!(confirmed.1.contains("2 x Stoneware mug"), "{}", confirmed.1);
    assert!(
        confirmed.1.contains("It should arrive in"),
        "{}",
        confirmed.1
    );
    assert!(
        confirmed
            .1
            .contains(&format!("https://shop.example/orders/{id}")),
        "{}",
        confirmed.1
    );
    let delivered_mails = adas
        .iter()
        .filter(|(s, ..)| s.contains("is delivered"))
        .count();
    assert_eq!(delivered_mails, 1, "one mail per moment");
    // The inbox says they went.
    let inbox = expect(
        ada.get("/api/v1/me/notifications").send().await.unwrap(),
        200,
    )
    .await;
    let delivered = inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["status"] == "delivered")
        .expect("delivered in the inbox");
    for _ in 0..100 {
        let inbox = expect(
            ada.get("/api/v1/me/notifications").send().await.unwrap(),
            200,
        )
        .await;
        let now = inbox["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == delivered["id"])
            .cloned()
            .unwrap();
        if now["mail"] == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Promotions: bob asked for them at registration, carol did not.
    for (email, opt_in) in [("bob@example.com", true), ("carol@example.com", false)] {
        expect(
            http.post(format!("{base}/api/v1/auth/register"))
                .json(&json!({"email": email, "password": "correct horse battery",
                    "name": "Shopper", "roles": ["customer"], "promotions": opt_in}))
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
    }
    let seller_token = |email: &'static str| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let login = expect(
                http.post(format!("{base}/api/v1/auth/login"))
                    .json(&json!({"email": email, "password": SELLER_PASSWORD}))
                    .send()
                    .await
                    .unwrap(),
                200,
            )
            .await;
            login["token"].as_str().unwrap().to_string()
        }
    };
    let kitchen = seller_token("kitchen@weshop.test").await;
    let sent = expect(
        http.post(format!("{base}/api/v1/seller/promotions"))
            .bearer_auth(&kitchen)
            .json(&json!({"text": "Mugs: two for one this week"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(sent["recipients"], 1, "bob only: {sent}");
    wait_for_subject(&catcher, "bob@example.com", "Mugs: two for one").await;
    let bobs = mails_to(&catcher.mails(), "bob@example.com");
    let promo = bobs.iter().find(|(s, ..)| s.contains("Mugs")).unwrap();
    let header = promo
        .2
        .lines()
        .find(|l| l.starts_with("List-Unsubscribe:"))
        .expect("a List-Unsubscribe header");
    assert!(
        promo
            .2
            .contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
    );
    let url = header
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(url, _)| url.to_string())
        .unwrap();
    assert!(
        url.starts_with("https://shop.example/unsubscribe/"),
        "{url}"
    );
    assert!(promo.1.contains(&url), "the link is in the text too");
    // Carol did not opt in: nothing in her mail, nothing in her inbox.
    assert!(
        mails_to(&catcher.mails(), "carol@example.com")
            .iter()
            .all(|(s, ..)| !s.contains("Mugs"))
    );

    // Bob unsubscribes with the link, logged out (a fresh client, no cookies, no token).
    let path = url.trim_start_matches("https://shop.example");
    let page = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("You are unsubscribed"));
    // A forged token is refused.
    let forged = reqwest::Client::new()
        .get(format!("{base}/unsubscribe/1.AAAA"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 404);
    // The next campaign (another seller: one per seller per interval) reaches nobody.
    let sports = seller_token("sports@weshop.test").await;
    let before = catcher.count();
    expect(
        http.post(format!("{base}/api/v1/seller/promotions"))
            .bearer_auth(&sports)
            .json(&json!({"text": "Yoga mats half price"}))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: Vec<_> = catcher
        .mails()
        .into_iter()
        .filter(|m| m.id > before)
        .flat_map(|m| m.to)
        .collect();
    assert!(
        !after
            .iter()
            .any(|t| t == "bob@example.com" || t == "carol@example.com"),
        "{after:?}"
    );

    app.shutdown().await;
    ups.shutdown().await;
    world.shutdown().await;
    catcher.shutdown().await;
}
