//! Cart and checkout over the API: prices, expected totals, idempotency, stock and refused cards.

use super::*;

#[tokio::test]
async fn cart_lines_are_priced() {
    let app = app().await;
    let seller = app.user("s@example.com", &["seller"]).await;
    let mug = app.product(&seller, "Mug", "kitchen", "5.00").await;
    let pot = app.product(&seller, "Teapot", "kitchen", "12.25").await;
    let customer = app.user("c@example.com", &["customer"]).await;

    let empty = app
        .get("/api/v1/cart", &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        empty,
        json!({"lines": [], "total": "0.00", "currency": "USD"})
    );
    app.post(
        "/api/v1/cart/items",
        &customer,
        json!({"product_id": mug, "quantity": 2}),
    )
    .await
    .expect(StatusCode::OK);
    let cart = app
        .post(
            "/api/v1/cart/items",
            &customer,
            json!({"product_id": pot, "quantity": 1}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(cart["total"], "22.25");
    assert_eq!(cart["lines"][0]["unit_price"], "5.00");
    assert_eq!(cart["lines"][0]["line_total"], "10.00");
    let cart = app
        .patch(
            &format!("/api/v1/cart/items/{mug}"),
            &customer,
            json!({"quantity": 3}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (
            cart["lines"][0]["quantity"].as_u64(),
            cart["total"].as_str()
        ),
        (Some(3), Some("27.25"))
    );
    let cart = app
        .delete(&format!("/api/v1/cart/items/{pot}"), &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(cart["total"], "15.00");
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    app.delete(&format!("/api/v1/cart/items/{pot}"), &customer)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post(
        "/api/v1/cart/items",
        &customer,
        json!({"product_id": 999, "quantity": 1}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
}

/// A total other than the one the customer saw places nothing and charges nothing: 409 with
/// the new total, which then goes through.
#[tokio::test]
async fn checkout_refuses_a_total_the_customer_did_not_see() {
    let app = app().await;
    let (_, customer, _, card) = app.ready_to_buy(10, 2).await;
    let refused = app
        .checkout_expecting(&customer, &card, Some("seen-1"), Some("10.00"))
        .await
        .problem(StatusCode::CONFLICT);
    let detail = refused["detail"].as_str().unwrap();
    assert!(detail.contains("not 10.00"), "{detail}");
    assert_eq!(app.gateway.authorizations(), 0, "nothing charged");
    let orders = app
        .get("/api/v1/orders", &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(orders.as_array().unwrap().len(), 0, "nothing placed");
    let total = detail
        .split("costs ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the new total in the detail");
    // The cart's quote for the checkout's destination names the same total.
    let quotes = app
        .get("/api/v1/cart/quote?x=20&y=30", &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(quotes[0]["delivery"], "standard");
    assert_eq!(quotes[0]["total"], total);
    assert_eq!(quotes[1]["delivery"], "express");
    assert!(quotes[0]["earliest_ms"].as_u64().unwrap() < quotes[0]["latest_ms"].as_u64().unwrap());
    let off_grid = app
        .get("/api/v1/cart/quote?x=99999999&y=0", &customer)
        .await;
    off_grid.problem(StatusCode::BAD_REQUEST);
    let placed = app
        .checkout_expecting(&customer, &card, Some("seen-2"), Some(total))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(placed["total"], total);
}

#[tokio::test]
async fn checkout_is_idempotent_and_needs_a_key() {
    let app = app().await;
    let (_, customer, _, card) = app.ready_to_buy(10, 2).await;

    app.checkout(&customer, &card, None)
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.checkout(&customer, &card, Some("has space"))
        .await
        .problem(StatusCode::BAD_REQUEST);

    let first = app.checkout(&customer, &card, Some("key-1")).await;
    let location = first.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let first = first.expect(StatusCode::CREATED);
    assert_eq!(
        first["status"], "placed",
        "as placed, before fulfilment: {first}"
    );
    assert_eq!(first["subtotal"], "10.00");
    assert_eq!(first["currency"], "USD");
    assert_eq!(first["destination"], json!({"x": 20, "y": 30}));
    assert_eq!(first["delivery"], "standard");
    assert_eq!(first["warehouse_id"], 1);
    assert_eq!(first["lines"][0]["quantity"], 2);
    assert!(first["history"].as_array().unwrap().len() >= 2);
    let (earliest, latest) = (
        first["estimate"]["earliest_ms"]
            .as_u64()
            .expect("an estimate"),
        first["estimate"]["latest_ms"]
            .as_u64()
            .expect("an estimate"),
    );
    assert!(0 < earliest && earliest <= latest, "{first}");
    assert!(
        first["estimate"]["words"]
            .as_str()
            .unwrap()
            .starts_with("in ")
    );
    let again = app
        .checkout(&customer, &card, Some("key-1"))
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(app.gateway.authorizations(), 1, "charged once");
    // The key is bound to its request: the same key with another body is refused.
    let reused = app
        .checkout_expecting(&customer, &card, Some("key-1"), Some("10.00"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused["type"], "urn:weshop:problem:idempotency-key-reused");
    assert_eq!(app.gateway.authorizations(), 1, "still charged once");

    let orders = app
        .get("/api/v1/orders", &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(orders.as_array().unwrap().len(), 1);
    let order = app.get(&location, &customer).await.expect(StatusCode::OK);
    assert_eq!(order["id"], first["id"]);
    let empty = app
        .get("/api/v1/cart", &customer)
        .await
        .expect(StatusCode::OK);
    assert_eq!(empty["lines"], json!([]));

    // Cancel once, then it is too late.
    let cancelled = app
        .post(&format!("{location}/cancel"), &customer, json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    app.post(&format!("{location}/cancel"), &customer, json!({}))
        .await
        .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn out_of_stock_is_409_and_a_refused_card_is_402() {
    let app = app().await;
    let (_, customer, product, card) = app.ready_to_buy(3, 5).await;
    let problem = app
        .checkout(&customer, &card, Some("key-1"))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(problem["product"], product);
    assert_eq!(problem["available"], 3);

    app.patch(
        &format!("/api/v1/cart/items/{product}"),
        &customer,
        json!({"quantity": 1}),
    )
    .await
    .expect(StatusCode::OK);
    let declined = app.card(&customer, DECLINED_CARD).await;
    app.checkout(&customer, &declined, Some("key-2"))
        .await
        .problem(StatusCode::PAYMENT_REQUIRED);
    app.checkout(&customer, "no-such-card", Some("key-3"))
        .await
        .problem(StatusCode::NOT_FOUND);
}
