//! The seller's dashboard: stock per warehouse, restocking, promotions, sales.

use super::*;

#[tokio::test]
async fn the_seller_dashboard_restocks_and_promotes() {
    let app = app().await;
    let seller = app.seller().await;
    app.product(seller, "Blue mug", "kitchen", "5.00").await;
    let mut shopkeeper = app.browser();
    shopkeeper.login("seller@example.com").await;
    let page = shopkeeper.get("/seller").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Blue mug"));
    assert!(
        page.body.contains("#1: 0 / 10 / 0"),
        "incoming units: {}",
        page.body
    );
    assert!(
        page.body.contains(r#"href="/seller""#),
        "the header links to it"
    );
    let restock = page
        .body
        .split("action=\"")
        .find(|s| s.starts_with("/seller/products/"))
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .expect("a restock form");
    let csrf = page.csrf();
    let bought = shopkeeper
        .post(
            &restock,
            &[("csrf", &csrf), ("warehouse", "1"), ("quantity", "5")],
        )
        .await;
    assert_eq!(bought.status, StatusCode::SEE_OTHER, "{}", bought.body);
    assert!(
        shopkeeper
            .get("/seller")
            .await
            .body
            .contains("#1: 0 / 15 / 0")
    );
    let bad = shopkeeper
        .post(
            &restock,
            &[("csrf", &csrf), ("warehouse", "1"), ("quantity", "none")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("The quantity is a whole number from 1."),
        "{}",
        bad.body
    );

    let mut customer = app.browser();
    customer.register("gil@example.com", "Gil").await;
    let nobody = shopkeeper
        .post(
            "/seller/promotions",
            &[("csrf", &csrf), ("text", "Nobody asked")],
        )
        .await;
    assert!(
        nobody.body.contains("Promotion sent to 0 customers."),
        "not opted in: {}",
        nobody.body
    );
    // Gil opts in on the account page; the next campaign must wait out the interval.
    let account = customer.get("/account").await;
    assert!(account.body.contains("You receive no promotions."));
    let opted = customer
        .post(
            "/account/promotions",
            &[("csrf", &account.csrf()), ("promotions", "yes")],
        )
        .await;
    assert_eq!(opted.status, StatusCode::SEE_OTHER);
    assert!(
        customer
            .get("/account")
            .await
            .body
            .contains("You receive sellers' promotions.")
    );
    let too_soon = shopkeeper
        .post(
            "/seller/promotions",
            &[("csrf", &csrf), ("text", "Mugs half price")],
        )
        .await;
    assert_eq!(too_soon.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        too_soon
            .body
            .contains("One promotion per 3 seconds; try again in"),
        "{}",
        too_soon.body
    );
    app.shop
        .clone()
        .promote(seller, "Mugs half price")
        .await
        .expect_err("still too soon through the port");
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let sent = shopkeeper
        .post(
            "/seller/promotions",
            &[("csrf", &csrf), ("text", "Mugs half price")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(
        sent.body.contains("Promotion sent to 1 customer."),
        "{}",
        sent.body
    );
    // Both campaigns are listed, newest first, with how many each reached.
    let listed = sent.body.split("Promotions sent").nth(1).expect("the list");
    let (newest, oldest) = (
        listed.find("Mugs half price").expect("the second campaign"),
        listed.find("Nobody asked").expect("the first campaign"),
    );
    assert!(newest < oldest, "{listed}");
    assert!(
        listed.contains("<td>1</td>") && listed.contains("<td>0</td>"),
        "{listed}"
    );
    assert_eq!(customer.get("/seller").await.status, StatusCode::FORBIDDEN);

    // A sale shows on the dashboard: the order, the seller's lines, what is on its way.
    let none = shopkeeper.get("/seller").await;
    assert!(none.body.contains("No orders yet."), "{}", none.body);
    let gil = app
        .shop
        .login(&Email::parse("gil@example.com").unwrap(), PASSWORD)
        .await
        .unwrap()
        .user;
    let gil = app
        .shop
        .add_payment_method(
            gil.id,
            weshop_core::domain::CardNumber::parse(CARD).unwrap(),
        )
        .await
        .unwrap();
    let mug = app.shop.seller_products(seller).await.unwrap()[0]
        .product
        .id;
    app.shop
        .add_to_cart(gil.id, mug, Quantity::new(2).unwrap())
        .await
        .unwrap();
    app.shop
        .checkout(
            gil.id,
            weshop_core::shop::Checkout {
                destination: Location::new(20, 20),
                delivery: weshop_core::domain::DeliveryOption::Standard,
                payment_method: gil.payment_methods[0].token.clone(),
                ups_account: None,
                idempotency_key: weshop_core::payments::IdempotencyKey::parse("sale-1").unwrap(),
                expected_total: None,
            },
        )
        .await
        .unwrap();
    let sold = shopkeeper.get("/seller").await;
    let sales = sold
        .body
        .split("id=\"seller-orders\"")
        .nth(1)
        .expect("a sales table");
    assert!(sales.contains("2 × Blue mug"), "{sales}");
    assert!(sales.contains("10.00 USD"), "{sales}");
    assert!(
        sold.body.contains("<dt>On its way</dt><dd>10.00 USD</dd>"),
        "{}",
        sold.body
    );
    assert!(sold.body.contains(r#"<dd id="revenue">0.00 USD</dd>"#));
    // The same over the API.
    let api = shopkeeper.get("/api/v1/seller/sales?recent=5").await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.body);
    let sales: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(sales["in_progress"], "10.00");
    assert_eq!(sales["recent"][0]["lines"][0]["quantity"], 2);
    assert_eq!(
        shopkeeper.get("/api/v1/seller/sales?recent=0").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        customer.get("/api/v1/seller/sales").await.status,
        StatusCode::FORBIDDEN
    );
}
