//! Access between users: nobody reads or changes another user's orders, cart, addresses, cards or products.

use super::*;

#[tokio::test]
async fn nobody_reads_or_changes_another_users_orders() {
    let app = app().await;
    let (_, alice, _, card) = app.ready_to_buy(10, 1).await;
    let order = app
        .checkout(&alice, &card, Some("key-1"))
        .await
        .expect(StatusCode::CREATED);
    let path = format!("/api/v1/orders/{}", order["id"]);
    let bob = app.user("bob@example.com", &["customer"]).await;

    app.get(&path, &bob).await.problem(StatusCode::NOT_FOUND);
    app.get(&format!("{path}/events"), &bob)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post(&format!("{path}/cancel"), &bob, json!({}))
        .await
        .problem(StatusCode::NOT_FOUND);
    let bobs = app.get("/api/v1/orders", &bob).await.expect(StatusCode::OK);
    assert_eq!(bobs, json!([]));
    let still = app.get(&path, &alice).await.expect(StatusCode::OK);
    assert_ne!(still["status"], "cancelled");
}

#[tokio::test]
async fn nobody_reads_or_changes_another_users_cart() {
    let app = app().await;
    let seller = app.user("s@example.com", &["seller"]).await;
    let mug = app.product(&seller, "Mug", "kitchen", "5.00").await;
    let alice = app.user("alice@example.com", &["customer"]).await;
    let bob = app.user("bob@example.com", &["customer"]).await;
    app.post(
        "/api/v1/cart/items",
        &alice,
        json!({"product_id": mug, "quantity": 2}),
    )
    .await
    .expect(StatusCode::OK);

    let bobs = app.get("/api/v1/cart", &bob).await.expect(StatusCode::OK);
    assert_eq!(bobs["lines"], json!([]));
    app.patch(
        &format!("/api/v1/cart/items/{mug}"),
        &bob,
        json!({"quantity": 9}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.delete(&format!("/api/v1/cart/items/{mug}"), &bob)
        .await
        .problem(StatusCode::NOT_FOUND);
    let alices = app.get("/api/v1/cart", &alice).await.expect(StatusCode::OK);
    assert_eq!(alices["lines"][0]["quantity"], 2);
}

#[tokio::test]
async fn nobody_reads_or_changes_another_users_addresses_and_cards() {
    let app = app().await;
    let alice = app.user("alice@example.com", &["customer"]).await;
    let bob = app.user("bob@example.com", &["customer"]).await;
    let saved = app
        .post(
            "/api/v1/me/addresses",
            &alice,
            json!({"label": "home", "location": {"x": 1, "y": 2}}),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(
        saved,
        json!([{"label": "home", "location": {"x": 1, "y": 2}}])
    );
    let card = app.card(&alice, CARD).await;
    let cards = app
        .get("/api/v1/me/payment-methods", &alice)
        .await
        .expect(StatusCode::OK);
    assert_eq!(cards[0]["last4"], "4242");
    assert_eq!(cards[0]["brand"], "visa");
    assert!(!cards.to_string().contains("4242424242424242"), "{cards}");

    assert_eq!(
        app.get("/api/v1/me/addresses", &bob)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    assert_eq!(
        app.get("/api/v1/me/payment-methods", &bob)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    app.delete("/api/v1/me/addresses/home", &bob)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.delete(&format!("/api/v1/me/payment-methods/{card}"), &bob)
        .await
        .problem(StatusCode::NOT_FOUND);
    let me = app.get("/api/v1/me", &alice).await.expect(StatusCode::OK);
    assert_eq!(me["addresses"].as_array().unwrap().len(), 1);
    assert_eq!(me["payment_methods"].as_array().unwrap().len(), 1);

    // The owner can.
    app.delete("/api/v1/me/addresses/home", &alice)
        .await
        .expect(StatusCode::OK);
    app.delete(&format!("/api/v1/me/payment-methods/{card}"), &alice)
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn no_seller_changes_another_sellers_products() {
    let app = app().await;
    let alice = app.user("alice@example.com", &["seller"]).await;
    let bob = app.user("bob@example.com", &["seller"]).await;
    let mug = app.product(&alice, "Mug", "kitchen", "5.00").await;
    let path = format!("/api/v1/products/{mug}");

    app.patch(&path, &bob, json!({"price": "0.01"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.delete(&path, &bob).await.problem(StatusCode::NOT_FOUND);
    app.post(
        &format!("{path}/stock"),
        &bob,
        json!({"warehouse_id": 1, "quantity": 1}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/v1/seller/products", &bob)
            .await
            .expect(StatusCode::OK),
        json!([])
    );
    let unchanged = app
        .send(Method::GET, &path, None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(unchanged["price"], "5.00");
}
