//! The customers' pages (and the seller dashboard's stock and promotions).

use super::*;

#[tokio::test]
async fn home_search_and_product_pages() {
    let app = app().await;
    let seller = app.seller().await;
    let mug = app.product(seller, "Blue mug", "kitchen", "5.00").await;
    for n in 0..13 {
        app.product(seller, &format!("Teapot {n}"), "kitchen", "20.00")
            .await;
    }
    app.product(seller, "Rope", "outdoor", "7.50").await;
    let mut browser = app.browser();

    let home = browser.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(
        home.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_security_headers(&home);
    assert!(home.body.contains(r#"role="search""#));
    assert!(home.body.contains(r#"name="q""#));
    assert!(
        home.body.contains("kitchen</a> <span class=\"count\">(14)"),
        "{}",
        home.body
    );
    assert!(home.body.contains("Rope"), "newest products");
    assert!(home.body.contains("Log in"));

    // Search with a filter and a sort: 13 teapots over two pages of 12, the query kept.
    let results = browser
        .get("/search?q=teapot&category=kitchen&sort=price_asc")
        .await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    assert!(
        results.body.contains("13 products found"),
        "{}",
        results.body
    );
    assert_eq!(results.body.matches("class=\"card\"").count(), 12);
    assert!(results.body.contains("20.00 USD"));
    // Each result has its stock badge (10 units bought for each: incoming counts).
    assert_eq!(
        results
            .body
            .matches(r#"<span class="stock in">In stock</span>"#)
            .count(),
        12
    );
    assert!(
        results
            .body
            .contains("/search?q=teapot&#38;category=kitchen&#38;sort=price_asc&#38;page=2"),
        "{}",
        results.body
    );
    let second = browser
        .get("/search?q=teapot&category=kitchen&sort=price_asc&page=2")
        .await;
    assert_eq!(second.body.matches("class=\"card\"").count(), 1);
    let cheap = browser.get("/search?max_price=6").await;
    assert!(cheap.body.contains("1 product found"), "{}", cheap.body);
    assert!(cheap.body.contains("Blue mug"));

    let none = browser.get("/search?q=unicorn").await;
    assert_eq!(none.status, StatusCode::OK);
    assert!(none.body.contains("0 products found"));
    assert!(none.body.contains("No products match"));
    let bad = browser.get("/search?min_price=lots").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.body.contains("must be an amount like 9.99"),
        "{}",
        bad.body
    );

    let product = browser.get(&format!("/products/{mug}")).await;
    assert_eq!(product.status, StatusCode::OK);
    assert!(product.body.contains("Blue mug"));
    assert!(product.body.contains("5.00 USD"));
    assert!(product.body.contains("A fine Blue mug"));
    assert!(
        product.body.contains("Sold by Sam Seller"),
        "the seller's name"
    );
    assert!(product.body.contains("to buy"), "anonymous: log in to buy");
    assert!(
        product.body.contains(r#"id="stock">In stock</p>"#),
        "10 units"
    );

    // The stock badge follows the sellable units.
    let draft = ProductDraft {
        name: weshop_core::domain::ProductName::parse("Rare teapot").unwrap(),
        description: Description::parse("One of a kind").unwrap(),
        category: Category::parse("kitchen").unwrap(),
        price: Money::parse("40.00", app.shop.currency()).unwrap(),
        weight: Weight::grams(900).unwrap(),
        images: vec![],
    };
    let teapot = app.shop.create_product(seller, draft).await.unwrap().id;
    let page = browser.get(&format!("/products/{teapot}")).await;
    assert!(
        page.body.contains(r#"id="stock">Out of stock</p>"#),
        "{}",
        page.body
    );
    app.shop
        .restock(
            seller,
            teapot,
            WarehouseId::new(1).unwrap(),
            Quantity::new(3).unwrap(),
        )
        .await
        .unwrap();
    let page = browser.get(&format!("/products/{teapot}")).await;
    assert!(
        page.body.contains(r#"id="stock">Only 3 left</p>"#),
        "{}",
        page.body
    );

    let missing = browser.get("/products/999999").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("<html"), "an HTML 404 page");
    assert_security_headers(&missing);
    let nowhere = browser.get("/no/such/page").await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert!(nowhere.body.contains("We could not find that page"));
}

#[tokio::test]
async fn output_is_escaped() {
    let app = app().await;
    let seller = app.seller().await;
    let id = app
        .product(seller, "<script>alert(1)</script>", "kitchen", "1.00")
        .await;
    let mut browser = app.browser();
    for path in [
        format!("/products/{id}"),
        "/".to_string(),
        "/search?q=script".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert(1)"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
                || page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{path}: {}",
            page.body
        );
    }
    // The search words come back escaped too.
    let page = browser.get("/search?q=%22%3E%3Cscript%3Ex").await;
    assert!(!page.body.contains("\"><script>x"), "{}", page.body);
}

#[tokio::test]
async fn static_assets_are_embedded_and_cached() {
    let app = app().await;
    let mut browser = app.browser();
    for (path, media_type) in [
        ("/static/shop.css", "text/css"),
        ("/static/logo.svg", "image/svg+xml"),
        ("/static/favicon.svg", "image/svg+xml"),
        ("/static/vendor/htmx.min.js", "text/javascript"),
        ("/static/vendor/sse.min.js", "text/javascript"),
    ] {
        let asset = browser.get(path).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert!(
            asset.headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with(media_type),
            "{path}"
        );
        assert!(
            asset.headers[header::CACHE_CONTROL]
                .to_str()
                .unwrap()
                .contains("max-age")
        );
    }
    let htmx = browser.get("/static/vendor/htmx.min.js").await;
    assert!(
        htmx.body.starts_with("/*! htmx.org 2.0."),
        "licence header kept"
    );
    assert_eq!(
        browser.get("/static/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn register_login_logout_with_the_session_cookie() {
    let app = app().await;
    let mut browser = app.browser();

    // Bad input: the form again, the error in words, the typed values kept.
    let form = browser.get("/register").await;
    assert!(browser.cookies.contains_key("weshop_csrf"));
    let csrf = form.csrf();
    let short = browser
        .post(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("name", "Ann"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("class=\"error\""), "{}", short.body);
    assert!(short.body.contains("ann@example.com"));

    let created = browser
        .post(
            "/register",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("name", "Ann Example"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let set_cookie = created.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set_cookie.starts_with("weshop_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    let home = browser.get("/").await;
    assert!(home.body.contains("Ann Example"), "{}", home.body);
    assert!(home.body.contains("Log out"));

    // The same cookie works on the API.
    let me = browser.get("/api/v1/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);

    // Registering the same email again is refused in words.
    let again = browser
        .post(
            "/register",
            &[
                ("csrf", &home.csrf()),
                ("email", "ann@example.com"),
                ("name", "Ann Again"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("already exists"));

    let out = browser.post("/logout", &[("csrf", &home.csrf())]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(!browser.cookies.contains_key("weshop_session"));
    assert!(browser.get("/").await.body.contains("Log in"));
    assert_eq!(
        browser.get("/cart").await.location(),
        "/login",
        "pages that need a session send the visitor to log in"
    );

    // Unknown email and wrong password: the same answer.
    let csrf = browser.get("/login").await.csrf();
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await;
    let unknown = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "nobody@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Wrong email or password."));
    assert!(unknown.body.contains("Wrong email or password."));

    let ok = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("email", "ann@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert!(browser.get("/").await.body.contains("Ann Example"));
}

#[tokio::test]
async fn a_post_without_a_valid_csrf_token_is_403() {
    let app = app().await;
    let mut browser = app.browser();
    browser.register("bob@example.com", "Bob").await;

    // No token, a forged token, and a token made for another browser's cookie.
    let missing = browser.post("/logout", &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let forged = browser.post("/logout", &[("csrf", "forged")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(forged.body.contains("<html"), "a 403 page");
    assert_security_headers(&forged);
    let mut other = app.browser();
    let foreign = other.get("/login").await.csrf();
    let cross = browser.post("/logout", &[("csrf", &foreign)]).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert!(
        browser.get("/").await.body.contains("Bob"),
        "still logged in"
    );
}

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
        sent.body.contains("Promotion sent to 1 customers."),
        "{}",
        sent.body
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
