//! The HTTP API end to end through `routes()`, over the real shop on a `MemoryStore`.
//!
//! This file is the client and the app; the tests are one file per area.

mod access;
mod accounts;
mod catalog;
mod labels;
mod notifications;
mod orders;
mod service;

use std::sync::Arc;

use futures::StreamExt;
use poem::{
    endpoint::BoxEndpoint,
    http::{Method, StatusCode, header},
    test::TestClient,
    web::sse::Event,
};
use serde_json::{Value, json};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{Location, OrderId, ProductId, Quantity, TruckId, WarehouseId, WarehouseSite},
    driver::FulfilmentDriver,
    fulfilment::{FulfilmentEvent, ship_id_of},
    payments::{DECLINED_CARD, SimulatedGateway},
};
use weshop_search::CatalogIndex;
use weshop_server::{
    api::{ApiState, routes},
    metrics::Metrics,
};
use weshop_storage::memory::MemoryStore;

use crate::{CARD, GUARD, PASSWORD};

struct App {
    client: TestClient<BoxEndpoint<'static>>,
    store: Arc<MemoryStore>,
    driver: Arc<FulfilmentDriver<MemoryStore>>,
    gateway: Arc<SimulatedGateway>,
}

/// The answer to one request.
struct Reply {
    status: StatusCode,
    headers: poem::http::HeaderMap,
    body: Value,
}

impl Reply {
    fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    /// Asserts an RFC 7807 problem with this status.
    fn problem(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        let content_type = self.headers[header::CONTENT_TYPE].to_str().unwrap();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{content_type}"
        );
        for field in ["type", "title", "detail"] {
            assert!(self.body[field].is_string(), "{field} in {}", self.body);
        }
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
        self.body
    }
}

async fn app() -> App {
    let warehouse = WarehouseSite {
        id: WarehouseId::new(1).unwrap(),
        location: Location::new(10, 10),
    };
    let gateway = Arc::new(SimulatedGateway::new());
    // Built but never started: no outbox runs, and tests feed the driver events themselves.
    // With a search index, as the server has one.
    let store = Arc::new(MemoryStore::new());
    let shop = ShopBuilder::new(store.clone())
        .warehouses([warehouse])
        .search_index(Arc::new(CatalogIndex::in_memory().unwrap()))
        .payments(gateway.clone())
        .build()
        .await
        .unwrap();
    let state = ApiState {
        shop: shop.shop().clone(),
        metrics: Arc::new(Metrics::new()),
        secure_cookies: true,
    };
    App {
        client: TestClient::new(routes(state)),
        store,
        driver: shop.driver().clone(),
        gateway,
    }
}

impl App {
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, path);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.body_json(&body);
        }
        self.reply(request.send().await).await
    }

    async fn reply(&self, response: poem::test::TestResponse) -> Reply {
        let status = response.0.status();
        let headers = response.0.headers().clone();
        let text = response.0.into_body().into_string().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Method::GET, path, Some(token), None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(token), Some(body)).await
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    async fn delete(&self, path: &str, token: &str) -> Reply {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    async fn register(&self, email: &str, roles: &[&str]) -> Value {
        let body =
            json!({"email": email, "password": PASSWORD, "name": "Test User", "roles": roles});
        self.send(Method::POST, "/api/v1/auth/register", None, Some(body))
            .await
            .expect(StatusCode::CREATED)
    }

    async fn login(&self, email: &str) -> String {
        let reply = self
            .login_with(email, PASSWORD)
            .await
            .expect(StatusCode::OK);
        reply["token"].as_str().unwrap().to_string()
    }

    /// `POST /auth/login` with this password, whatever the answer.
    async fn login_with(&self, email: &str, password: &str) -> Reply {
        let body = json!({"email": email, "password": password});
        self.send(Method::POST, "/api/v1/auth/login", None, Some(body))
            .await
    }

    /// A registered, logged-in user's token.
    async fn user(&self, email: &str, roles: &[&str]) -> String {
        self.register(email, roles).await;
        self.login(email).await
    }

    async fn product(&self, seller: &str, name: &str, category: &str, price: &str) -> i64 {
        let body = json!({"name": name, "description": format!("A {name}"), "category": category,
            "price": price, "weight_grams": 300});
        self.post("/api/v1/products", seller, body)
            .await
            .expect(StatusCode::CREATED)["id"]
            .as_i64()
            .unwrap()
    }

    async fn restock(&self, seller: &str, product: i64, units: i64) -> Value {
        let path = format!("/api/v1/products/{product}/stock");
        self.post(&path, seller, json!({"warehouse_id": 1, "quantity": units}))
            .await
            .expect(StatusCode::ACCEPTED)
    }

    async fn card(&self, customer: &str, number: &str) -> String {
        let cards = self
            .post(
                "/api/v1/me/payment-methods",
                customer,
                json!({"card_number": number}),
            )
            .await
            .expect(StatusCode::CREATED);
        cards.as_array().unwrap().last().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn checkout(&self, customer: &str, card: &str, key: Option<&str>) -> Reply {
        self.checkout_expecting(customer, card, key, None).await
    }

    /// Checkout, saying the total the customer was shown.
    async fn checkout_expecting(
        &self,
        customer: &str,
        card: &str,
        key: Option<&str>,
        expected_total: Option<&str>,
    ) -> Reply {
        let mut body = json!({"destination": {"x": 20, "y": 30}, "delivery": "standard",
            "payment_method": card});
        if let Some(total) = expected_total {
            body["expected_total"] = json!(total);
        }
        let mut request = self
            .client
            .post("/api/v1/orders")
            .header(header::AUTHORIZATION, format!("Bearer {customer}"))
            .body_json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        self.reply(request.send().await).await
    }

    /// A seller with a product of `units` in stock, and a customer with a card and `wanted`
    /// of it in the cart: (seller, customer, product, card).
    async fn ready_to_buy(&self, units: i64, wanted: i64) -> (String, String, i64, String) {
        let seller = self.user("seller@example.com", &["seller"]).await;
        let product = self.product(&seller, "Mug", "kitchen", "5.00").await;
        self.restock(&seller, product, units).await;
        let customer = self.user("buyer@example.com", &["customer"]).await;
        let card = self.card(&customer, CARD).await;
        self.post(
            "/api/v1/cart/items",
            &customer,
            json!({"product_id": product, "quantity": wanted}),
        )
        .await
        .expect(StatusCode::OK);
        (seller, customer, product, card)
    }
}
