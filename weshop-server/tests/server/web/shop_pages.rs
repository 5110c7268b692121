//! The customers' pages: browsing, the session cookie, CSRF, escaping, static assets.

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
