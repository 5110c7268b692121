//! Account and catalog rules a client cannot get around: addresses are case-insensitive,
//! common passwords are refused, and products show only the shop's own pictures.

use poem::{http::StatusCode, test::TestClient};
use serde_json::{Value, json};
use weshop_server::api::routes;

use crate::{PASSWORD, limits::state};

async fn post(
    client: &TestClient<poem::endpoint::BoxEndpoint<'static>>,
    path: &str,
    token: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = client.post(path).body_json(&body);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await;
    let status = response.0.status();
    let text = response.0.into_body().into_string().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A logged-in seller's and customer's bearer tokens.
async fn seller_and_customer(
    client: &TestClient<poem::endpoint::BoxEndpoint<'static>>,
) -> (String, String) {
    let mut tokens = Vec::new();
    for (email, role) in [("s@example.com", "seller"), ("c@example.com", "customer")] {
        let register = json!({"email": email, "password": PASSWORD, "name": "X", "roles": [role]});
        post(client, "/api/v1/auth/register", None, register).await;
        let (_, login) = post(
            client,
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        tokens.push(login["token"].as_str().unwrap().to_string());
    }
    (tokens.remove(0), tokens.remove(0))
}

#[tokio::test]
async fn emails_are_case_insensitive() {
    let client = TestClient::new(routes(state().await));
    let register = json!({"email": "Demo@WeShop.test", "password": PASSWORD, "name": "Demo", "roles": ["customer"]});
    let (status, user) = post(&client, "/api/v1/auth/register", None, register).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["email"], "demo@weshop.test");
    let login = json!({"email": "DEMO@WESHOP.TEST", "password": PASSWORD});
    let (status, body) = post(&client, "/api/v1/auth/login", None, login).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let twin = json!({"email": "demo@weshop.TEST", "password": PASSWORD, "name": "Twin", "roles": ["customer"]});
    let (status, body) = post(&client, "/api/v1/auth/register", None, twin).await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one account per address: {body}"
    );
}

#[tokio::test]
async fn common_passwords_are_refused() {
    let client = TestClient::new(routes(state().await));
    for password in ["password", "12345678", "Qwertyuiop"] {
        let body = json!({"email": "ada@example.com", "password": password, "name": "Ada", "roles": ["customer"]});
        let (status, problem) = post(&client, "/api/v1/auth/register", None, body).await;
        // Well formed (the schema cannot list them), so 422 with its own problem type.
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{password}: {problem}"
        );
        assert_eq!(problem["type"], "urn:weshop:problem:password-too-common");
    }
}

#[tokio::test]
async fn products_show_only_the_shops_own_pictures() {
    let client = TestClient::new(routes(state().await));
    let register =
        json!({"email": "s@example.com", "password": PASSWORD, "name": "S", "roles": ["seller"]});
    post(&client, "/api/v1/auth/register", None, register).await;
    let login = json!({"email": "s@example.com", "password": PASSWORD});
    let (_, login) = post(&client, "/api/v1/auth/login", None, login).await;
    let token = login["token"].as_str().unwrap().to_string();
    let product = |image: &str| {
        json!({"name": "Mug", "description": "Blue", "category": "kitchen",
            "price": "5.00", "weight_grams": 300, "images": [image]})
    };
    for bad in [
        "//evil.example/x.png",
        "https://evil.example/x.png",
        "/images/../../etc/passwd",
        "/images/%2e%2e/x.png",
    ] {
        let (status, problem) = post(&client, "/api/v1/products", Some(&token), product(bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    let (status, created) = post(
        &client,
        "/api/v1/products",
        Some(&token),
        product("/images/products/mug.png"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test]
async fn a_price_change_never_breaks_a_cart_and_a_refused_line_is_not_saved() {
    let client = TestClient::new(routes(state().await));
    let (seller, customer) = &seller_and_customer(&client).await;
    let product = json!({"name": "Mug", "description": "Blue", "category": "kitchen",
        "price": "1.10", "weight_grams": 300, "images": []});
    let (_, product) = post(&client, "/api/v1/products", Some(seller), product).await;
    let id = product["id"].as_i64().unwrap();
    let line = json!({"product_id": id, "quantity": 2});
    let (status, _) = post(&client, "/api/v1/cart/items", Some(customer), line).await;
    assert_eq!(status, StatusCode::OK);

    // A price past the cap (seven whole digits) is refused, and nothing changes.
    let patch = |price: &'static str| {
        client
            .patch(format!("/api/v1/products/{id}"))
            .header("authorization", format!("Bearer {seller}"))
            .body_json(&json!({ "price": price }))
            .send()
    };
    assert_eq!(
        patch("90000000000000000.00").await.0.status(),
        StatusCode::BAD_REQUEST
    );
    // At the cap, the dearest cart there can be still prices without overflow.
    assert_eq!(patch("9999999.99").await.0.status(), StatusCode::OK);

    let cart = || async {
        let response = client
            .get("/api/v1/cart")
            .header("authorization", format!("Bearer {customer}"))
            .send()
            .await;
        let status = response.0.status();
        let text = response.0.into_body().into_string().await.unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    let most = json!({"product_id": id, "quantity": 999_998});
    let (status, body) = post(&client, "/api/v1/cart/items", Some(customer), most).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = cart().await;
    assert_eq!(status, StatusCode::OK, "the cart renders: {body}");
    assert_eq!(body["lines"][0]["quantity"], 1_000_000);
    assert_eq!(body["lines"][0]["line_total"], "9999999990000.00", "{body}");

    // Adding past the line's cap is refused as a conflict with what the cart holds, and the
    // refused change is not saved.
    let more = json!({"product_id": id, "quantity": 3});
    let (status, problem) = post(&client, "/api/v1/cart/items", Some(customer), more).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    let (_, body) = cart().await;
    assert_eq!(body["lines"][0]["quantity"], 1_000_000, "{body}");
}

#[tokio::test]
async fn destinations_stay_on_the_grid_and_totals_are_bounded() {
    let client = TestClient::new(routes(state().await));
    let (seller, customer) = &seller_and_customer(&client).await;
    let far = json!({"label": "far", "x": 2_147_483_647, "y": 5});
    let (status, problem) = post(&client, "/api/v1/me/addresses", Some(customer), far).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let (status, cards) = post(
        &client,
        "/api/v1/me/payment-methods",
        Some(customer),
        json!({"card_number": "4242 4242 4242 4242"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{cards}");
    let card = cards[0]["token"].as_str().unwrap().to_string();

    // A dear product, in stock, two in the cart.
    let product = json!({"name": "Gold mug", "description": "Solid", "category": "kitchen",
        "price": "600000.00", "weight_grams": 300, "images": []});
    let (_, product) = post(&client, "/api/v1/products", Some(seller), product).await;
    let id = product["id"].as_i64().unwrap();
    let (status, body) = post(
        &client,
        &format!("/api/v1/products/{id}/stock"),
        Some(seller),
        json!({"warehouse_id": 1, "quantity": 5}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let line = json!({"product_id": id, "quantity": 2});
    post(&client, "/api/v1/cart/items", Some(customer), line).await;

    let checkout = |x: i64, key: &'static str| {
        let card = card.clone();
        let client = &client;
        async move {
            let response = client
                .post("/api/v1/orders")
                .header("authorization", format!("Bearer {customer}"))
                .header("idempotency-key", key)
                .body_json(
                    &json!({"destination": {"x": x, "y": 30}, "delivery": "standard",
                    "payment_method": card}),
                )
                .send()
                .await;
            let status = response.0.status();
            let text = response.0.into_body().into_string().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            )
        }
    };
    // Off the grid: refused by the declared bounds (±10000, the default grid) before the
    // shop sees it, and by the shop's own check for a grid set smaller.
    let (status, problem) = checkout(2_147_483_647, "far-away").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("off the grid") || detail.contains("field `x` verification failed"),
        "{problem}"
    );
    let (status, problem) = checkout(20, "too-dear").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("at most"),
        "{problem}"
    );
}

#[tokio::test]
async fn cookie_requests_that_change_state_need_the_csrf_header() {
    let client = TestClient::new(routes(state().await));
    let register =
        json!({"email": "c@example.com", "password": PASSWORD, "name": "C", "roles": ["customer"]});
    post(&client, "/api/v1/auth/register", None, register).await;
    let (_, login) = post(
        &client,
        "/api/v1/auth/login",
        None,
        json!({"email": "c@example.com", "password": PASSWORD}),
    )
    .await;
    let token = login["token"].as_str().unwrap().to_string();
    let cookie = format!("weshop_session={token}");

    // Reading with the cookie alone is fine.
    let read = client
        .get("/api/v1/me")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(read.0.status(), StatusCode::OK);
    // A body-less cross-site POST carries the cookie but cannot add a header: refused.
    for path in ["/api/v1/orders/1/cancel", "/api/v1/auth/logout"] {
        let forged = client.post(path).header("cookie", &cookie).send().await;
        assert_eq!(forged.0.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // The shop's own pages and clients send the header; bearer clients need none.
    let own = client
        .post("/api/v1/orders/1/cancel")
        .header("cookie", &cookie)
        .header("x-weshop-csrf", "1")
        .send()
        .await;
    assert_eq!(
        own.0.status(),
        StatusCode::NOT_FOUND,
        "past the check: no order 1"
    );
    let bearer = client
        .post("/api/v1/orders/1/cancel")
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await;
    assert_eq!(bearer.0.status(), StatusCode::NOT_FOUND);
    let read = client
        .get("/api/v1/me")
        .header("cookie", &cookie)
        .send()
        .await;
    assert_eq!(
        read.0.status(),
        StatusCode::OK,
        "the forged logout did not log out"
    );
}

/// The largest product body the schema admits is read whole: a 10,000-character description
/// in JSON escapes and ten 2,000-byte image paths make ~85 KB, past the general 64 KiB limit.
#[tokio::test]
async fn the_largest_valid_product_body_is_not_refused_for_its_size() {
    let client = TestClient::new(routes(state().await));
    let (seller, _) = &seller_and_customer(&client).await;
    let path = format!("/images/{}", "a".repeat(2000));
    let product = json!({"name": "Mug", "description": "\u{1}".repeat(10_000),
        "category": "kitchen", "price": "1.10", "weight_grams": 300,
        "images": vec![path; 10]});
    assert!(product.to_string().len() > 64 * 1024);
    let (status, body) = post(&client, "/api/v1/products", Some(seller), product).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Absent optional fields take their defaults; null is refused, not read as absent.
    let bare = json!({"name": "Cup", "category": "kitchen", "price": "1", "weight_grams": 1});
    let (status, body) = post(&client, "/api/v1/products", Some(seller), bare).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let null = json!({"name": "Cup", "category": "kitchen", "price": "1", "weight_grams": 1,
        "images": null});
    let (status, body) = post(&client, "/api/v1/products", Some(seller), null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
