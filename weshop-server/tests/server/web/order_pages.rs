//! Cart, checkout and the order pages, with their live updates.

use super::*;

#[tokio::test]
async fn cart_checkout_and_orders() {
    let app = app().await;
    let seller = app.seller().await;
    let mug = app.product(seller, "Blue mug", "kitchen", "5.00").await;
    let pot = app.product(seller, "Teapot", "kitchen", "20.00").await;
    let mut browser = app.browser();
    browser.register("cat@example.com", "Cat").await;

    let product = browser.get(&format!("/products/{mug}")).await;
    assert!(product.body.contains("Add to cart"));
    let csrf = product.csrf();
    let mug_id = mug.to_string();
    let pot_id = pot.to_string();
    let added = browser
        .post(
            "/cart/items",
            &[("csrf", &csrf), ("product_id", &mug_id), ("quantity", "2")],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    assert_eq!(added.location(), "/cart");
    browser
        .post(
            "/cart/items",
            &[("csrf", &csrf), ("product_id", &pot_id), ("quantity", "1")],
        )
        .await;
    let zero = browser
        .post(
            "/cart/items",
            &[("csrf", &csrf), ("product_id", &pot_id), ("quantity", "0")],
        )
        .await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert!(zero.body.contains("class=\"error\""));

    let cart = browser.get("/cart").await;
    assert!(cart.body.contains("Blue mug"));
    assert!(cart.body.contains("30.00 USD"), "subtotal: {}", cart.body);
    // Edit a quantity, remove a line.
    browser
        .post(
            &format!("/cart/items/{mug}"),
            &[("csrf", &csrf), ("quantity", "3")],
        )
        .await;
    browser
        .post(&format!("/cart/items/{pot}/remove"), &[("csrf", &csrf)])
        .await;
    let cart = browser.get("/cart").await;
    assert!(!cart.body.contains("Teapot"));
    assert!(cart.body.contains("15.00 USD"), "{}", cart.body);
    assert!(cart.body.contains("href=\"/checkout\""));

    // No destination yet: no prices. A new place typed: "Show delivery costs" prices it for
    // each option, without placing anything.
    let form = browser.get("/checkout").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    assert!(
        form.body
            .contains("Choose where to deliver to see what each option costs")
    );
    let quote = browser
        .post(
            "/checkout",
            &[
                ("csrf", &form.csrf()),
                ("idempotency_key", &form.field("idempotency_key")),
                ("address", ""),
                ("x", "20"),
                ("y", "30"),
                ("delivery", "express"),
                ("payment", ""),
                ("action", "quote"),
            ],
        )
        .await;
    assert_eq!(quote.status, StatusCode::OK, "{}", quote.body);
    assert_eq!(quote.field("quoted_for"), "20,30");
    let (standard, express) = (quote.field("total_standard"), quote.field("total_express"));
    // 15.00 of mugs; shipping 2.99 + 0.05 × 23 grid units + 0.50 × 1 kg = 4.64, express 180%.
    assert_eq!((standard.as_str(), express.as_str()), ("19.64", "23.36"));
    assert!(
        quote.body.contains("shipping 4.64 USD, arrives in"),
        "{}",
        quote.body
    );
    assert!(quote.body.contains("total 23.36 USD"), "{}", quote.body);
    assert!(
        browser
            .get("/orders")
            .await
            .body
            .matches("href=\"/orders/")
            .count()
            == 0
    );

    // A bad card: the page again with the reason, the cart intact.
    let key = quote.field("idempotency_key");
    let bad = browser
        .post(
            "/checkout",
            &[
                ("csrf", &quote.csrf()),
                ("idempotency_key", &key),
                ("address", ""),
                ("x", "20"),
                ("y", "30"),
                ("quoted_for", "20,30"),
                ("total_standard", &standard),
                ("total_express", &express),
                ("delivery", "standard"),
                ("payment", ""),
                ("card_number", "1234"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    assert!(bad.body.contains("class=\"error\""));
    assert!(bad.body.contains("Blue mug"), "the cart is intact");

    // A destination changed after the quote: priced again, not placed.
    let moved = browser
        .post(
            "/checkout",
            &[
                ("csrf", &quote.csrf()),
                ("idempotency_key", &key),
                ("address", ""),
                ("x", "90"),
                ("y", "30"),
                ("quoted_for", "20,30"),
                ("total_standard", &standard),
                ("total_express", &express),
                ("delivery", "standard"),
                ("payment", ""),
                ("card_number", CARD),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    assert!(
        moved
            .body
            .contains("Check the delivery costs below, then place the order.")
    );
    assert_eq!(moved.field("quoted_for"), "90,30");

    // Place it; a double submit of the same form makes one order.
    let form = quote;
    let key = form.field("idempotency_key");
    let fields = [
        ("csrf", form.csrf()),
        ("idempotency_key", key),
        ("address", String::new()),
        ("x", "20".into()),
        ("y", "30".into()),
        ("quoted_for", "20,30".into()),
        ("total_standard", standard.clone()),
        ("total_express", express.clone()),
        ("delivery", "express".into()),
        ("payment", String::new()),
        ("card_number", CARD.into()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let placed = browser.post("/checkout", &fields).await;
    assert_eq!(placed.status, StatusCode::SEE_OTHER, "{}", placed.body);
    let order_path = placed.location().to_string();
    assert!(order_path.starts_with("/orders/"), "{order_path}");
    let twice = browser.post("/checkout", &fields).await;
    assert_eq!(twice.status, StatusCode::SEE_OTHER, "{}", twice.body);
    assert_eq!(twice.location(), order_path, "the same order");

    let order = browser.get(&order_path).await;
    assert_eq!(order.status, StatusCode::OK, "{}", order.body);
    assert!(order.body.contains("id=\"order-status\""));
    // Bought from incoming stock: in words, whichever status it has reached.
    assert!(
        order
            .body
            .contains(r#"sse-swap="status">Waiting for stock</span>"#)
            || order.body.contains(r#"sse-swap="status">Placed</span>"#),
        "{}",
        order.body
    );
    assert!(order.body.contains("Blue mug"));
    assert!(order.body.contains("(20, 30)"));
    assert!(order.body.contains("Express"));
    assert!(order.body.contains("Order placed"), "the history");
    assert!(
        order.body.contains(r#"sse-swap="estimate">expected in "#),
        "the delivery window: {}",
        order.body
    );
    assert!(
        order
            .body
            .contains(r#"<svg xmlns="http://www.w3.org/2000/svg""#),
        "a map"
    );
    assert!(
        order
            .body
            .contains(r#"aria-label="Map: from warehouse 1 at (10, 10) to (20, 30).""#),
        "{}",
        order.body
    );
    assert!(
        order.body.contains("sse-connect=\"/orders/"),
        "live updates"
    );

    let orders = browser.get("/orders").await;
    assert_eq!(
        orders.body.matches("href=\"/orders/").count(),
        1,
        "one order: {}",
        orders.body
    );
    // Live status: an SSE stream of HTML text fragments, the current status first, then each
    // change, ending after a terminal status.
    let response = app
        .client
        .get(format!("{order_path}/live"))
        .header(header::COOKIE, browser.cookie_header())
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_content_type("text/event-stream");
    let mut events = response.sse_stream();
    let mut next = async || -> Option<(String, String)> {
        let event = tokio::time::timeout(GUARD, events.next()).await.unwrap()?;
        match event {
            Event::Message { event, data, .. } => Some((event, data)),
            other => panic!("{other:?}"),
        }
    };
    let (name, first) = next().await.unwrap();
    assert_eq!(name, "status");
    assert!(first == "Waiting for stock" || first == "Placed", "{first}");
    // Each change also sends the whole history, for the page's timeline.
    let (name, timeline) = next().await.unwrap();
    assert_eq!(name, "timeline");
    assert!(timeline.starts_with("<li><time>"), "{timeline}");
    assert!(timeline.contains("Order placed"), "{timeline}");
    // And its map: the warehouse, the destination.
    let (name, map) = next().await.unwrap();
    assert_eq!(name, "map");
    assert!(map.starts_with(r#"<figure class="order-map""#), "{map}");
    assert!(
        map.contains("Warehouse 1") && map.contains("Destination (20, 30)"),
        "{map}"
    );
    // And what is left of its delivery window.
    let (name, estimate) = next().await.unwrap();
    assert_eq!(name, "estimate");
    assert!(estimate.starts_with("expected in "), "{estimate}");
    // Cancelled from its page, while packing has not started.
    assert!(
        order
            .body
            .contains(&format!("action=\"{order_path}/cancel\"")),
        "a cancel button: {}",
        order.body
    );
    let cancelled = browser
        .post(&format!("{order_path}/cancel"), &[("csrf", &order.csrf())])
        .await;
    assert_eq!(
        cancelled.status,
        StatusCode::SEE_OTHER,
        "{}",
        cancelled.body
    );
    assert_eq!(cancelled.location(), order_path);
    assert_eq!(next().await, Some(("status".into(), "Cancelled".into())));
    let (name, timeline) = next().await.unwrap();
    assert_eq!(name, "timeline");
    assert!(timeline.contains("— Cancelled</li>"), "{timeline}");
    assert_eq!(next().await.map(|(name, _)| name), Some("map".into()));
    // Cancelled: nothing is expected any more.
    assert_eq!(
        next().await,
        Some(("estimate".into(), "<!-- nothing expected -->".into()))
    );
    let again = browser
        .post(&format!("{order_path}/cancel"), &[("csrf", &order.csrf())])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(
        again.body.contains("can no longer be cancelled"),
        "in words: {}",
        again.body
    );
    assert!(!again.body.contains("Cancel this order"), "no button now");
    assert_eq!(
        next().await,
        None,
        "the stream ends after a terminal status"
    );
    let ended = browser.get(&format!("{order_path}/live")).await;
    assert_eq!(
        ended.status,
        StatusCode::NO_CONTENT,
        "so the browser stops reconnecting"
    );
    let page = browser.get(&order_path).await;
    assert!(
        page.body.contains(r#"id="order-status">Cancelled</span>"#),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("sse-connect"),
        "an ended order is not followed"
    );

    assert!(
        browser
            .get("/cart")
            .await
            .body
            .contains("Your cart is empty")
    );

    // Another user's order is a 404 page.
    let mut other = app.browser();
    other.register("dan@example.com", "Dan").await;
    let theirs = other.get(&order_path).await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);
    assert!(theirs.body.contains("<html"));
    assert_eq!(
        other.get(&format!("{order_path}/live")).await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = other.get("/").await.field("csrf");
    let refused = other
        .post(&format!("{order_path}/cancel"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "nor can they cancel it"
    );
}
