//! HTTP conventions: compression for clients that accept it (never for event streams),
//! `ETag` and 304 on catalog reads, `Location` on every 201.

use poem::{http::StatusCode, test::TestClient};
use serde_json::json;
use weshop_core::{
    domain::{
        Category, Description, Email, Money, Password, PersonName, ProductName, Roles, Weight,
    },
    shop::{ProductDraft, Registration},
};
use weshop_server::api::routes;

use crate::{PASSWORD, limits::state};

async fn client() -> TestClient<poem::endpoint::BoxEndpoint<'static>> {
    let state = state().await;
    let seller = state
        .shop
        .register(Registration {
            email: Email::parse("sam@example.com").unwrap(),
            password: Password::new(PASSWORD).unwrap(),
            name: PersonName::parse("Sam").unwrap(),
            roles: Roles::new(false, true).unwrap(),
        })
        .await
        .unwrap();
    for n in 0..30 {
        state
            .shop
            .create_product(
                seller.id,
                ProductDraft {
                    name: ProductName::parse(&format!("Blue mug number {n}")).unwrap(),
                    description: Description::parse("A mug for coffee, tea or pens.").unwrap(),
                    category: Category::parse("kitchen").unwrap(),
                    price: Money::parse("5.00", state.shop.currency()).unwrap(),
                    weight: Weight::grams(300).unwrap(),
                    images: vec![],
                },
            )
            .await
            .unwrap();
    }
    TestClient::new(routes(state))
}

#[tokio::test]
async fn responses_are_compressed_for_clients_that_accept_it() {
    let client = client().await;
    let plain = client.get("/api/v1/products").send().await;
    plain.assert_status_is_ok();
    assert!(!plain.0.headers().contains_key("content-encoding"));
    assert_eq!(plain.0.headers()["vary"], "accept-encoding");
    let length = plain.0.into_body().into_vec().await.unwrap().len();
    assert!(length > 2000, "{length}");

    for (accept, coding) in [
        ("gzip", "gzip"),
        ("gzip, br", "br"),
        ("br;q=0, gzip", "gzip"),
    ] {
        let packed = client
            .get("/api/v1/products")
            .header("accept-encoding", accept)
            .send()
            .await;
        packed.assert_status_is_ok();
        assert_eq!(packed.0.headers()["content-encoding"], coding, "{accept}");
        let size = packed.0.into_body().into_vec().await.unwrap().len();
        assert!(size < length / 2, "{accept}: {size} of {length}");
    }
    // Pages too; small answers go as they are.
    let page = client
        .get("/")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert_eq!(page.0.headers()["content-encoding"], "gzip");
    let small = client
        .get("/health")
        .header("accept-encoding", "gzip")
        .send()
        .await;
    assert!(!small.0.headers().contains_key("content-encoding"));
}

#[tokio::test]
async fn catalog_reads_carry_an_etag_and_answer_304() {
    let client = client().await;
    let first = client.get("/api/v1/products?q=mug").send().await;
    first.assert_status_is_ok();
    let tag = first.0.headers()["etag"].to_str().unwrap().to_string();
    assert!(tag.starts_with("W/\""), "{tag}");
    let again = client
        .get("/api/v1/products?q=mug")
        .header("if-none-match", &tag)
        .send()
        .await;
    again.assert_status(StatusCode::NOT_MODIFIED);
    assert!(again.0.into_body().into_vec().await.unwrap().is_empty());
    let other = client
        .get("/api/v1/products?q=mug&page=2")
        .header("if-none-match", &tag)
        .send()
        .await;
    other.assert_status_is_ok();
    let categories = client.get("/api/v1/categories").send().await;
    assert!(categories.0.headers().contains_key("etag"));
}

#[tokio::test]
async fn every_201_says_where_the_new_thing_is() {
    let client = client().await;
    let registered = client
        .post("/api/v1/auth/register")
        .body_json(
            &json!({"email": "kim@example.com", "password": PASSWORD, "name": "Kim",
            "roles": ["customer"]}),
        )
        .send()
        .await;
    registered.assert_status(StatusCode::CREATED);
    registered.assert_header("location", "/api/v1/me");
    let login = client
        .post("/api/v1/auth/login")
        .body_json(&json!({"email": "kim@example.com", "password": PASSWORD}))
        .send()
        .await;
    let token = login
        .0
        .into_body()
        .into_json::<serde_json::Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Bearer {token}");
    let address = client
        .post("/api/v1/me/addresses")
        .header("authorization", &bearer)
        .body_json(&json!({"label": "home base", "location": {"x": 1, "y": 2}}))
        .send()
        .await;
    address.assert_status(StatusCode::CREATED);
    address.assert_header("location", "/api/v1/me/addresses/home%20base");
    let card = client
        .post("/api/v1/me/payment-methods")
        .header("authorization", &bearer)
        .body_json(&json!({"card_number": "4242 4242 4242 4242"}))
        .send()
        .await;
    card.assert_status(StatusCode::CREATED);
    let location = card.0.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/api/v1/me/payment-methods/"),
        "{location}"
    );
}

#[tokio::test]
async fn every_operation_has_an_id_and_one_tag() {
    let client = client().await;
    let spec: serde_json::Value = client
        .get("/api/openapi.json")
        .send()
        .await
        .0
        .into_body()
        .into_json()
        .await
        .unwrap();
    let mut ids = std::collections::BTreeSet::new();
    let mut count = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            count += 1;
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "{id} twice");
            let tags = operation["tags"].as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(tags, 1, "{method} {path}: {tags} tags");
        }
    }
    assert!(count >= 33, "{count} operations");
    assert!(ids.contains("listProducts") && ids.contains("placeOrder"));
    // The closed sets of words are declared enums.
    let schemas = &spec["components"]["schemas"];
    for (name, values) in [
        ("DeliveryOption", vec!["standard", "express"]),
        ("Role", vec!["customer", "seller"]),
        ("CardBrand", vec!["visa", "mastercard", "amex", "discover"]),
        (
            "ProductSort",
            vec!["relevance", "price_asc", "price_desc", "name", "newest"],
        ),
    ] {
        assert_eq!(schemas[name]["enum"], serde_json::json!(values), "{name}");
    }
    assert_eq!(schemas["OrderStatus"]["enum"].as_array().unwrap().len(), 11);
    // Constraints are declared, on string fields too.
    let password = &schemas["RegisterRequest"]["properties"]["password"];
    assert_eq!(password["type"], "string", "{password}");
    assert_eq!(password["minLength"], 8, "{password}");
    assert_eq!(password["maxLength"], 128, "{password}");
    assert_eq!(
        schemas["OrderEventKind"]["enum"].as_array().unwrap().len(),
        7
    );
}

#[tokio::test]
async fn a_405_says_which_methods_are_allowed() {
    let client = client().await;
    let refused = client.put("/api/v1/products").send().await;
    refused.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    let allow = refused.0.headers()["allow"].to_str().unwrap().to_string();
    for method in ["GET", "POST", "HEAD"] {
        assert!(allow.contains(method), "{allow}");
    }
    assert_eq!(
        refused.0.headers()["content-type"],
        "application/problem+json"
    );
    let one = client.post("/api/v1/products/7").send().await;
    one.assert_status(StatusCode::METHOD_NOT_ALLOWED);
    let allow = one.0.headers()["allow"].to_str().unwrap().to_string();
    assert!(
        allow.contains("PATCH") && allow.contains("DELETE") && !allow.contains("POST"),
        "{allow}"
    );
}

#[tokio::test]
async fn a_string_field_takes_only_a_json_string() {
    let client = client().await;
    for body in [
        json!({"email": "num@example.com", "password": PASSWORD, "name": 123, "roles": ["customer"]}),
        json!({"email": "bool@example.com", "password": PASSWORD, "name": true, "roles": ["customer"]}),
        json!({"email": 7, "password": PASSWORD, "name": "Seven", "roles": ["customer"]}),
    ] {
        let refused = client
            .post("/api/v1/auth/register")
            .body_json(&body)
            .send()
            .await;
        refused.assert_status(StatusCode::BAD_REQUEST);
        refused.assert_content_type("application/problem+json");
    }
    // Declared constraints still apply to such fields.
    let short = client
        .post("/api/v1/auth/register")
        .body_json(
            &json!({"email": "short@example.com", "password": "short", "name": "S",
            "roles": ["customer"]}),
        )
        .send()
        .await;
    short.assert_status(StatusCode::BAD_REQUEST);
    let fine = client
        .post("/api/v1/auth/register")
        .body_json(
            &json!({"email": "fine@example.com", "password": PASSWORD, "name": "Fine",
            "roles": ["customer"]}),
        )
        .send()
        .await;
    fine.assert_status(StatusCode::CREATED);
}
