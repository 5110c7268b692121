//! The catalog over the API: filters, sorting, pages, facets, suggestions, and what sellers may do.

use super::*;

#[tokio::test]
async fn catalog_filters_sorts_and_pages() {
    let app = app().await;
    let seller = app.user("s@example.com", &["seller"]).await;
    let mug = app.product(&seller, "Blue mug", "kitchen", "5.00").await;
    app.product(&seller, "Teapot", "kitchen", "25.50").await;
    app.product(&seller, "Desk lamp", "office", "12").await;

    let search = |query: &'static str| {
        let app = &app;
        async move {
            app.send(
                Method::GET,
                &format!("/api/v1/products?{query}"),
                None,
                None,
            )
            .await
        }
    };
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect()
    };

    let all = search("sort=price_asc").await.expect(StatusCode::OK);
    assert_eq!(names(&all), ["Blue mug", "Desk lamp", "Teapot"]);
    assert_eq!(
        (all["total"].as_u64(), all["page"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(all["items"][0]["price"], "5.00");
    assert_eq!(all["items"][0]["currency"], "USD");
    let desc = search("sort=price_desc").await.expect(StatusCode::OK);
    assert_eq!(names(&desc), ["Teapot", "Desk lamp", "Blue mug"]);
    let kitchen = search("category=kitchen&sort=name")
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&kitchen), ["Blue mug", "Teapot"]);
    let text = search("q=mug").await.expect(StatusCode::OK);
    assert_eq!(names(&text), ["Blue mug"]);
    let priced = search("min_price=10&max_price=25.50&sort=price_asc")
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&priced), ["Desk lamp", "Teapot"]);
    let page2 = search("sort=price_asc&per_page=2&page=2")
        .await
        .expect(StatusCode::OK);
    assert_eq!(names(&page2), ["Teapot"]);
    assert_eq!(
        (page2["total"].as_u64(), page2["per_page"].as_u64()),
        (Some(3), Some(2))
    );
    let beyond = search("per_page=2&page=3").await.expect(StatusCode::OK);
    assert_eq!(names(&beyond), Vec::<String>::new());

    for bad in [
        "per_page=101",
        "per_page=0",
        "page=0",
        "sort=cheapest",
        "min_price=abc",
        "max_price=1.234",
        "page=-1",
    ] {
        search(bad).await.problem(StatusCode::BAD_REQUEST);
    }

    let one = app
        .send(Method::GET, &format!("/api/v1/products/{mug}"), None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(one["name"], "Blue mug");
    let categories = app
        .send(Method::GET, "/api/v1/categories", None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        categories,
        json!([{"name": "kitchen", "count": 2}, {"name": "office", "count": 1}])
    );
}

#[tokio::test]
async fn catalog_facets_suggestions_in_stock_and_caps() {
    let app = app().await;
    let seller = app.user("s@example.com", &["seller"]).await;
    let mug = app.product(&seller, "Blue mug", "kitchen", "5.00").await;
    let teapot = app
        .product(&seller, "Blue teapot", "kitchen", "25.50")
        .await;
    let lamp = app.product(&seller, "Blue lamp", "office", "12").await;
    app.restock(&seller, mug, 2).await;
    app.restock(&seller, lamp, 1).await;
    let get = |path: String| {
        let app = &app;
        async move { app.send(Method::GET, &path, None, None).await }
    };
    let ids = |page: &Value| -> Vec<i64> {
        let mut ids: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_i64().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };

    // Facets count every category, ignoring the category filter.
    let kitchen = get("/api/v1/products?q=blue&category=kitchen".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&kitchen), [mug, teapot]);
    assert_eq!(
        kitchen["facets"],
        json!({"category": [{"name": "kitchen", "count": 2}, {"name": "office", "count": 1}]})
    );

    // In stock: restocked units count (incoming); the teapot has none.
    let in_stock = get("/api/v1/products?in_stock=true".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&in_stock), [mug, lamp]);
    assert_eq!(in_stock["total"], 2);
    // Buying the lamp's last unit takes it out of stock.
    let customer = app.user("buyer@example.com", &["customer"]).await;
    let card = app.card(&customer, CARD).await;
    app.post(
        "/api/v1/cart/items",
        &customer,
        json!({"product_id": lamp, "quantity": 1}),
    )
    .await
    .expect(StatusCode::OK);
    app.checkout(&customer, &card, Some("lamp-1"))
        .await
        .expect(StatusCode::CREATED);
    let in_stock = get("/api/v1/products?in_stock=true".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&in_stock), [mug]);
    // An edit is searchable at once; a withdrawn product is gone.
    app.patch(
        &format!("/api/v1/products/{teapot}"),
        &seller,
        json!({"name": "Green kettle"}),
    )
    .await
    .expect(StatusCode::OK);
    let kettle = get("/api/v1/products?q=kettle".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(ids(&kettle), [teapot]);
    app.delete(&format!("/api/v1/products/{teapot}"), &seller)
        .await;
    let kettle = get("/api/v1/products?q=kettle".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(kettle["total"], 0);

    // Suggestions complete the last word.
    let suggested = get("/api/v1/products/suggest?q=blue%20m".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(suggested, json!([{"id": mug, "name": "Blue mug"}]));
    let many = get("/api/v1/products/suggest?q=b".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(many.as_array().unwrap().len(), 2);
    let categories = get("/api/v1/categories".into())
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        categories,
        json!([{"name": "kitchen", "count": 1}, {"name": "office", "count": 1}])
    );

    // Caps: 256 characters of text (400 past them), 100 per page. Past 32 words only the first
    // 32 count: a well-formed text is answered, not refused (schemathesis' Zalgo text splits
    // into 34 words at its combining marks).
    let words = |n: usize| vec!["mug"; n].join("%20");
    let first_32 = get(format!("/api/v1/products?q={}", words(32)))
        .await
        .expect(StatusCode::OK);
    let with_more = get(format!("/api/v1/products?q={}%20zzz", words(32)))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        first_32["total"], with_more["total"],
        "the 33rd word is ignored"
    );
    get(format!("/api/v1/products/suggest?q={}", words(40)))
        .await
        .expect(StatusCode::OK);
    let long = "m".repeat(257);
    get(format!("/api/v1/products?q={long}"))
        .await
        .problem(StatusCode::BAD_REQUEST);
    get(format!("/api/v1/products/suggest?q={long}"))
        .await
        .problem(StatusCode::BAD_REQUEST);
    get(format!("/api/v1/products?q={}", "m".repeat(256)))
        .await
        .expect(StatusCode::OK);
    get("/api/v1/products?per_page=100".into())
        .await
        .expect(StatusCode::OK);
    get("/api/v1/products?per_page=101".into())
        .await
        .problem(StatusCode::BAD_REQUEST);
    get("/api/v1/products?in_stock=maybe".into())
        .await
        .problem(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn sellers_manage_products_and_customers_may_not() {
    let app = app().await;
    let seller = app.user("s@example.com", &["seller"]).await;
    let customer = app.user("c@example.com", &["customer"]).await;

    let body = json!({"name": "Mug", "description": "Blue", "category": "kitchen",
        "price": "5.00", "weight_grams": 300, "images": ["/img/mug.png"]});
    let created = app.post("/api/v1/products", &seller, body.clone()).await;
    let location = created.headers[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    let product = created.expect(StatusCode::CREATED);
    let id = product["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/products/{id}"));
    app.send(Method::GET, &location, None, None)
        .await
        .expect(StatusCode::OK);

    let path = format!("/api/v1/products/{id}");
    let patched = app
        .patch(&path, &seller, json!({"price": "6.50", "name": "Big mug"}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(
        (patched["price"].as_str(), patched["name"].as_str()),
        (Some("6.50"), Some("Big mug"))
    );
    app.patch(&path, &seller, json!({"price": "-1"}))
        .await
        .problem(StatusCode::BAD_REQUEST);

    let view = app.restock(&seller, id, 3).await;
    assert_eq!(view["stock"][0]["incoming"], 3);
    assert_eq!(view["available"], 3);
    assert_eq!(view["low_stock"], true);
    let mine = app
        .get("/api/v1/seller/products", &seller)
        .await
        .expect(StatusCode::OK);
    assert_eq!(mine[0]["product"]["id"], id);
    assert_eq!(
        mine[0]["stock"][0],
        json!({"warehouse_id": 1, "on_hand": 0, "incoming": 3, "reserved": 0, "available": 3})
    );
    // Promotions reach only customers who opted in, one campaign per interval, plain text.
    let me = app
        .patch("/api/v1/me", &customer, json!({"promotions": true}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["promotions"], true);
    app.post(
        "/api/v1/seller/promotions",
        &seller,
        json!({"text": "Mugs!\u{7}"}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    let sent = app
        .post(
            "/api/v1/seller/promotions",
            &seller,
            json!({"text": "Mugs!\nHalf price."}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(sent["recipients"], 1);
    let again = app
        .post(
            "/api/v1/seller/promotions",
            &seller,
            json!({"text": "More mugs!"}),
        )
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS);
    assert!(
        again["detail"]
            .as_str()
            .unwrap()
            .starts_with("one promotion per 10 minutes; try again in "),
        "{again}"
    );
    let campaigns = app
        .get("/api/v1/seller/promotions", &seller)
        .await
        .expect(StatusCode::OK);
    assert_eq!(campaigns.as_array().unwrap().len(), 1, "{campaigns}");
    assert_eq!(campaigns[0]["text"], "Mugs!\nHalf price.");
    assert_eq!(campaigns[0]["recipients"], 1);
    assert_eq!(campaigns[0]["complete"], true);
    app.get("/api/v1/seller/promotions?limit=0", &seller)
        .await
        .problem(StatusCode::BAD_REQUEST);

    // Customers may do none of it.
    app.post("/api/v1/products", &customer, body)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.patch(&path, &customer, json!({"price": "1"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    app.post(
        &format!("{path}/stock"),
        &customer,
        json!({"warehouse_id": 1, "quantity": 1}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/seller/products", &customer)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.post("/api/v1/seller/promotions", &customer, json!({"text": "x"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/seller/promotions", &customer)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.delete(&path, &customer)
        .await
        .problem(StatusCode::FORBIDDEN);

    app.delete(&path, &seller)
        .await
        .expect(StatusCode::NO_CONTENT);
    app.send(Method::GET, &path, None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
}
