//! The HTTP API end to end through `routes()`, over the real shop on a `MemoryStore`.

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
    let shop = ShopBuilder::new(Arc::new(MemoryStore::new()))
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

/// A new password needs the current one, and logs out every other session of the account.
#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = app().await;
    let here = app.user("pat@example.com", &["customer"]).await;
    let elsewhere = app.login("pat@example.com").await;
    let other_user = app.user("quinn@example.com", &["customer"]).await;
    let new = "a much better passphrase";

    app.patch("/api/v1/me", &here, json!({"password": new}))
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.patch(
        "/api/v1/me",
        &here,
        json!({"password": new, "current_password": "not the password"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/me", &elsewhere)
        .await
        .expect(StatusCode::OK);

    app.patch(
        "/api/v1/me",
        &here,
        json!({"password": new, "current_password": PASSWORD}),
    )
    .await
    .expect(StatusCode::OK);
    app.get("/api/v1/me", &here).await.expect(StatusCode::OK);
    app.get("/api/v1/me", &elsewhere)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.get("/api/v1/me", &other_user)
        .await
        .expect(StatusCode::OK);
    // The new password logs in; the old one no longer does.
    app.login_with("pat@example.com", new)
        .await
        .expect(StatusCode::OK);
    app.login_with("pat@example.com", PASSWORD)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn register_login_cookie_and_logout() {
    let app = app().await;
    let user = app
        .register("ada@example.com", &["customer", "seller"])
        .await;
    assert_eq!(user["roles"], json!(["customer", "seller"]));
    assert!(user.get("password").is_none());

    let login = app
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    let cookie = login.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    let body = login.expect(StatusCode::OK);
    let token = body["token"].as_str().unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert!(body["expires_at"].as_u64().unwrap() > 0);
    assert!(
        cookie.starts_with(&format!("weshop_session={token}")),
        "{cookie}"
    );
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }

    // Bearer and cookie both authenticate.
    let me = app.get("/api/v1/me", token).await.expect(StatusCode::OK);
    assert_eq!(me["email"], "ada@example.com");
    let by_cookie = app
        .client
        .get("/api/v1/me")
        .header(header::COOKIE, format!("weshop_session={token}"))
        .send()
        .await;
    assert_eq!(
        app.reply(by_cookie).await.expect(StatusCode::OK)["email"],
        "ada@example.com"
    );

    // Profile changes.
    let renamed = app
        .patch("/api/v1/me", token, json!({"name": "Ada L."}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Ada L.");

    let logout = app
        .send(Method::POST, "/api/v1/auth/logout", Some(token), None)
        .await;
    let cleared = logout.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_string();
    logout.expect(StatusCode::NO_CONTENT);
    assert!(cleared.starts_with("weshop_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    app.get("/api/v1/me", token)
        .await
        .problem(StatusCode::UNAUTHORIZED);

    // Wrong password, duplicate email.
    app.send(
        Method::POST,
        "/api/v1/auth/login",
        None,
        Some(json!({"email": "ada@example.com", "password": "wrong password"})),
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);
    app.send(
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"email": "ada@example.com", "password": PASSWORD, "name": "X", "roles": ["customer"]})),
    )
    .await
    .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn every_client_error_is_a_problem() {
    let app = app().await;
    let customer = app.user("c@example.com", &["customer"]).await;

    // Malformed JSON, a missing field, a wrong type.
    let malformed = app
        .client
        .post("/api/v1/auth/register")
        .content_type("application/json")
        .body("{not json")
        .send()
        .await;
    app.reply(malformed).await.problem(StatusCode::BAD_REQUEST);
    app.send(
        Method::POST,
        "/api/v1/auth/register",
        None,
        Some(json!({"email": "x@example.com"})),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    app.post(
        "/api/v1/cart/items",
        &customer,
        json!({"product_id": "one", "quantity": 1}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    // Domain rules: a bad email, no role, an unknown role, a zero quantity.
    for body in [
        json!({"email": "nope", "password": PASSWORD, "name": "X", "roles": ["customer"]}),
        json!({"email": "y@example.com", "password": PASSWORD, "name": "X", "roles": []}),
        json!({"email": "y@example.com", "password": PASSWORD, "name": "X", "roles": ["admin"]}),
    ] {
        app.send(Method::POST, "/api/v1/auth/register", None, Some(body))
            .await
            .problem(StatusCode::BAD_REQUEST);
    }
    // Bad path ids.
    app.send(Method::GET, "/api/v1/products/abc", None, None)
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.send(Method::GET, "/api/v1/products/0", None, None)
        .await
        .problem(StatusCode::BAD_REQUEST);
    // No credentials, garbage credentials.
    app.send(Method::GET, "/api/v1/cart", None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED);
    app.get("/api/v1/cart", "not-a-token")
        .await
        .problem(StatusCode::UNAUTHORIZED);
    // Wrong role, missing thing, unknown route, wrong method.
    let body = json!({"name": "Mug", "category": "kitchen", "price": "5", "weight_grams": 300});
    app.post("/api/v1/products", &customer, body)
        .await
        .problem(StatusCode::FORBIDDEN);
    app.send(Method::GET, "/api/v1/products/999", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.send(Method::GET, "/api/v1/nothing-here", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);
    // Outside the API, an unknown path is the web shop's HTML 404 page.
    let page = app
        .send(Method::GET, "/nothing-here-either", None, None)
        .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(
        page.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{:?}",
        page.headers
    );
    app.send(Method::PUT, "/api/v1/cart", Some(&customer), None)
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
    app.post(
        "/api/v1/cart/items",
        &customer,
        json!({"product_id": 1, "quantity": 0}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
}

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

    // Caps: 32 words and 256 characters of text, 100 per page.
    let words = |n: usize| vec!["mug"; n].join("%20");
    get(format!("/api/v1/products?q={}", words(32)))
        .await
        .expect(StatusCode::OK);
    get(format!("/api/v1/products?q={}", words(33)))
        .await
        .problem(StatusCode::BAD_REQUEST);
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
    assert_eq!(reused["type"], "/problems/idempotency-key-reused");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_events_stream_each_status_until_delivered() {
    let app = app().await;
    let (_, customer, product, card) = app.ready_to_buy(4, 2).await;
    let order = app
        .checkout(&customer, &card, Some("key-1"))
        .await
        .expect(StatusCode::CREATED);
    let id = OrderId::new(order["id"].as_i64().unwrap()).unwrap();
    let ship_id = ship_id_of(id);

    let response = app
        .client
        .get(format!("/api/v1/orders/{id}/events"))
        .header(header::AUTHORIZATION, format!("Bearer {customer}"))
        .send()
        .await;
    response.assert_status_is_ok();
    response.assert_content_type("text/event-stream");
    let mut events = response.sse_stream();
    let mut next_status = async || -> Option<String> {
        let event = tokio::time::timeout(GUARD, events.next())
            .await
            .expect("an event within the guard time")?;
        match event {
            Event::Message { event, data, .. } => {
                assert_eq!(event, "status");
                let order: Value = serde_json::from_str(&data).unwrap();
                assert_eq!(order["id"], id.get());
                Some(order["status"].as_str().unwrap().to_string())
            }
            Event::Retry { .. } => panic!("unexpected retry event"),
        }
    };
    assert_eq!(next_status().await.as_deref(), Some("waiting_for_stock"));

    let warehouse = WarehouseId::new(1).unwrap();
    let feed = [
        FulfilmentEvent::Arrived {
            warehouse,
            items: vec![(ProductId::new(product).unwrap(), Quantity::new(4).unwrap())],
        },
        FulfilmentEvent::Packed { ship_id },
        FulfilmentEvent::TruckArrived {
            ship_id,
            truck: TruckId::new(7).unwrap(),
        },
        FulfilmentEvent::Loaded { ship_id },
        FulfilmentEvent::Delivered { ship_id },
    ];
    let expected = [
        "packing",
        "truck_requested",
        "loading",
        "delivering",
        "delivered",
    ];
    for (event, status) in feed.into_iter().zip(expected) {
        app.driver.handle(event, None).await.unwrap();
        assert_eq!(next_status().await.as_deref(), Some(status));
    }
    assert_eq!(next_status().await, None, "the stream ends after delivered");
}

#[tokio::test]
async fn health_metrics_docs_and_landing_page() {
    let app = app().await;
    let health = app.send(Method::GET, "/health", None, None).await;
    assert_eq!(health.expect(StatusCode::OK), json!({"status": "ok"}));
    app.send(Method::GET, "/api/v1/products/12345", None, None)
        .await
        .problem(StatusCode::NOT_FOUND);

    let metrics = app.client.get("/metrics").send().await;
    metrics.assert_status_is_ok();
    metrics.assert_content_type("text/plain; version=0.0.4; charset=utf-8");
    let text = metrics.0.into_body().into_string().await.unwrap();
    assert!(
        text.contains(r#"weshop_http_requests_total{method="GET",route="/health",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/v1/products/:param0",status="404"} 1"#),
        "the route template, not the raw path: {text}"
    );

    let spec = app
        .send(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(StatusCode::OK);
    assert!(spec["paths"]["/products"]["get"].is_object(), "{spec}");
    assert!(
        spec["paths"]["/products/suggest"]["get"].is_object(),
        "{spec}"
    );
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes.len(), 2, "bearer and cookie: {schemes:?}");
    let docs = app.client.get("/api/docs").send().await;
    docs.assert_status_is_ok();
    let landing = app.client.get("/").send().await;
    landing.assert_status_is_ok();
    let html = landing.0.into_body().into_string().await.unwrap();
    assert!(html.contains("/api/docs"));
}
