//! The account page: password change, addresses and cards.

use super::*;

#[tokio::test]
async fn a_password_change_from_the_account_page() {
    let app = app().await;
    let mut browser = app.browser();
    browser.register("fay@example.com", "Fay").await;
    // The same account logged in elsewhere.
    let mut laptop = app.browser();
    laptop.login("fay@example.com").await;

    let page = browser.get("/account").await;
    let main = page.body.split("<main>").nth(1).expect("a main element");
    assert!(
        main.contains(r#"action="/account/password""#),
        "the form is in the page body"
    );
    let csrf = page.csrf();
    let wrong = browser
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "not it at all"),
                ("new_password", "a much better passphrase"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        wrong.body.contains("The current password is wrong."),
        "in words, on the form: {}",
        wrong.body
    );
    assert_eq!(laptop.get("/account").await.status, StatusCode::OK);

    let changed = browser
        .post(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("new_password", "a much better passphrase"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
    let elsewhere = laptop.get("/account").await;
    assert_eq!(elsewhere.status, StatusCode::SEE_OTHER, "logged out there");
    assert_eq!(elsewhere.location(), "/login");
}

#[tokio::test]
async fn account_addresses_and_cards() {
    let app = app().await;
    let mut browser = app.browser();
    browser.register("eve@example.com", "Eve").await;
    let page = browser.get("/account").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("eve@example.com"));
    let csrf = page.csrf();

    let added = browser
        .post(
            "/account/addresses",
            &[("csrf", &csrf), ("label", "home"), ("x", "3"), ("y", "4")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let bad = browser
        .post(
            "/account/addresses",
            &[("csrf", &csrf), ("label", "work"), ("x", "far"), ("y", "4")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("X must be a whole number."),
        "{}",
        bad.body
    );
    browser
        .post("/account/cards", &[("csrf", &csrf), ("value", CARD)])
        .await;
    let page = browser.get("/account").await;
    assert!(page.body.contains("home (3, 4)"), "{}", page.body);
    assert!(page.body.contains("ending in 4242"), "{}", page.body);

    // Checkout offers them.
    let checkout = browser.get("/checkout").await;
    assert!(checkout.status.is_success());

    browser
        .post(
            "/account/addresses/remove",
            &[("csrf", &csrf), ("value", "home")],
        )
        .await;
    assert!(!browser.get("/account").await.body.contains("home (3, 4)"));
    let missing = browser
        .post(
            "/account/addresses",
            &[("label", "x"), ("x", "1"), ("y", "1")],
        )
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN, "no CSRF token");
}
