//! Account and catalog rules a client cannot get around: addresses are case-insensitive,
//! common passwords are refused, and products show only the shop's own pictures.

use poem::{http::StatusCode, test::TestClient};
use serde_json::{Value, json};
use weshop_server::api::routes;

use crate::limits::state;

const PASSWORD: &str = "correct horse battery";

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
        assert_eq!(status, StatusCode::BAD_REQUEST, "{password}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap_or("").contains("common"),
            "{problem}"
        );
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
