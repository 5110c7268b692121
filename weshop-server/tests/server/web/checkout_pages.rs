//! Checkout's prices: a saved address is priced as the page opens, and a price changed after
//! the page was shown is refused with the new total, never charged.

use weshop_core::{domain::ProductId, shop::ProductPatch};

use super::*;

#[tokio::test]
async fn a_price_change_after_the_quote_is_refused_not_charged() {
    let app = app().await;
    let seller = app.seller().await;
    let mug = app.product(seller, "Blue mug", "kitchen", "5.00").await;
    let mut browser = app.browser();
    browser.register("kim@example.com", "Kim").await;
    let csrf = browser.get("/account").await.csrf();
    browser
        .post(
            "/account/addresses",
            &[("csrf", &csrf), ("label", "home"), ("x", "13"), ("y", "14")],
        )
        .await;
    browser
        .post("/account/cards", &[("csrf", &csrf), ("value", CARD)])
        .await;
    // The product page prices delivery to the first saved address.
    let page = browser.get(&format!("/products/{mug}")).await;
    assert!(
        page.body.contains("Delivered to home (13, 14):"),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("Standard: shipping 3.74 USD, arrives in")
    );
    assert!(page.body.contains("Express: shipping 6.74 USD, arrives in"));
    let mug_id = mug.to_string();
    browser
        .post(
            "/cart/items",
            &[("csrf", &csrf), ("product_id", &mug_id), ("quantity", "1")],
        )
        .await;

    // The saved address is chosen and priced at once.
    let form = browser.get("/checkout").await;
    assert_eq!(form.field("quoted_for"), "13,14");
    assert_eq!(form.field("total_standard"), "8.74");
    assert!(form.body.contains(r#"id="option-express""#));

    app.shop
        .update_product(
            seller,
            ProductId::new(mug).unwrap(),
            ProductPatch {
                price: Some(Money::parse("9.00", app.shop.currency()).unwrap()),
                ..ProductPatch::default()
            },
        )
        .await
        .unwrap();
    let card = form.field("payment");
    let place = |form: &Page| {
        [
            ("csrf", form.csrf()),
            ("idempotency_key", form.field("idempotency_key")),
            ("address", "home".to_string()),
            ("quoted_for", form.field("quoted_for")),
            ("total_standard", form.field("total_standard")),
            ("total_express", form.field("total_express")),
            ("delivery", "standard".to_string()),
            ("payment", card.clone()),
        ]
    };
    let fields = place(&form);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.post("/checkout", &fields).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("The order now costs 12.74 USD, not 8.74 USD"),
        "{}",
        refused.body
    );
    assert_eq!(
        refused.field("total_standard"),
        "12.74",
        "the new price is shown"
    );
    assert!(refused.body.contains("Blue mug"), "the cart is intact");

    // Placing again from the page that shows the new total works.
    let fields = place(&refused);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let placed = browser.post("/checkout", &fields).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let order = browser.get(placed.location()).await;
    assert!(order.body.contains("12.74 USD"), "{}", order.body);
}
