//! The web shop's pages through `routes()`, as a browser without JavaScript sees them: HTML,
//! cookies, forms with CSRF tokens, redirects. This file is the browser and the app; the
//! pages are tested one file per area (`shop_pages.rs`, `order_pages.rs`, `checkout_pages.rs`,
//! `login_pages.rs`, `account_pages.rs`, `dashboard_pages.rs`, `seller_pages.rs`).

mod account_pages;
mod checkout_pages;
mod dashboard_pages;
mod login_pages;
mod order_pages;
mod seller_pages;
mod shop_pages;

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::StreamExt;

use poem::{
    endpoint::BoxEndpoint,
    http::{HeaderMap, StatusCode, header},
    test::TestClient,
    web::sse::Event,
};
use weshop_core::{
    assembly::ShopBuilder,
    domain::{
        Category, Description, Email, Location, Money, Password, PersonName, Quantity, Roles,
        UserId, WarehouseId, WarehouseSite, Weight,
    },
    payments::SimulatedGateway,
    service::ShopConfig,
    shop::{ProductDraft, Registration, Shop},
};
use weshop_server::{
    api::{ApiState, routes},
    metrics::Metrics,
};
use weshop_storage::memory::MemoryStore;

use crate::{CARD, GUARD, PASSWORD};

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers[header::LOCATION].to_str().unwrap()
    }

    /// The value of the first hidden input named `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect(&marker) + marker.len();
        let end = self.body[start..].find('"').unwrap();
        self.body[start..start + end].to_string()
    }

    fn csrf(&self) -> String {
        self.field("csrf")
    }
}

/// A cookie-keeping browser on one app.
struct Browser {
    client: Arc<TestClient<BoxEndpoint<'static>>>,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: poem::test::TestResponse) -> Page {
        let status = response.0.status();
        let headers = response.0.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || set.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let body = response.0.into_body().into_string().await.unwrap();
        Page {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let mut request = self.client.get(path);
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, self.cookie_header());
        }
        let response = request.send().await;
        self.finish(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", weshop_server::web::layout::encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut request = self
            .client
            .post(path)
            .content_type("application/x-www-form-urlencoded")
            .body(body);
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, self.cookie_header());
        }
        let response = request.send().await;
        self.finish(response).await
    }

    /// Posts a `multipart/form-data` form: text fields, and a file in field `picture`.
    async fn post_multipart(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        picture: Option<&[u8]>,
    ) -> Page {
        const BOUNDARY: &str = "----weshop-test-boundary-7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        for (name, value) in form {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        if let Some(bytes) = picture {
            body.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"picture\"; \
                     filename=\"upload.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            );
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        let mut request = self
            .client
            .post(path)
            .content_type(format!("multipart/form-data; boundary={BOUNDARY}"))
            .body(body);
        if !self.cookies.is_empty() {
            request = request.header(header::COOKIE, self.cookie_header());
        }
        let response = request.send().await;
        self.finish(response).await
    }

    /// Registers through the form and is then logged in.
    async fn register(&mut self, email: &str, name: &str) {
        let csrf = self.get("/register").await.csrf();
        let page = self
            .post(
                "/register",
                &[
                    ("csrf", &csrf),
                    ("email", email),
                    ("name", name),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    /// Logs in to an existing account.
    async fn login(&mut self, email: &str) {
        let csrf = self.get("/login").await.csrf();
        let page = self
            .post(
                "/login",
                &[("csrf", &csrf), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }
}

struct App {
    client: Arc<TestClient<BoxEndpoint<'static>>>,
    shop: Arc<dyn Shop>,
}

impl App {
    fn browser(&self) -> Browser {
        Browser {
            client: self.client.clone(),
            cookies: BTreeMap::new(),
        }
    }

    async fn seller(&self) -> UserId {
        self.shop
            .register(Registration {
                email: Email::parse("seller@example.com").unwrap(),
                password: Password::new(PASSWORD).unwrap(),
                name: PersonName::parse("Sam Seller").unwrap(),
                roles: Roles::new(false, true).unwrap(),
            })
            .await
            .unwrap()
            .id
    }

    async fn product(&self, seller: UserId, name: &str, category: &str, price: &str) -> i64 {
        let currency = self.shop.currency();
        let draft = ProductDraft {
            name: weshop_core::domain::ProductName::parse(name).unwrap(),
            description: Description::parse(&format!("A fine {name}")).unwrap(),
            category: Category::parse(category).unwrap(),
            price: Money::parse(price, currency).unwrap(),
            weight: Weight::grams(300).unwrap(),
            images: vec![],
        };
        let product = self.shop.create_product(seller, draft).await.unwrap();
        self.shop
            .restock(
                seller,
                product.id,
                WarehouseId::new(1).unwrap(),
                Quantity::new(10).unwrap(),
            )
            .await
            .unwrap();
        product.id.get()
    }
}

async fn app() -> App {
    let warehouse = WarehouseSite {
        id: WarehouseId::new(1).unwrap(),
        location: Location::new(10, 10),
    };
    let shop = ShopBuilder::new(Arc::new(MemoryStore::new()))
        .warehouses([warehouse])
        .config(ShopConfig {
            // Short, so a test can wait it out.
            promotion_interval: Duration::from_secs(3),
            ..ShopConfig::default()
        })
        .payments(Arc::new(SimulatedGateway::new()))
        .build()
        .await
        .unwrap();
    let state = ApiState {
        shop: shop.shop().clone(),
        metrics: Arc::new(Metrics::new()),
        secure_cookies: true,
    };
    App {
        client: Arc::new(TestClient::new(routes(state))),
        shop: shop.shop().clone(),
    }
}

fn assert_security_headers(page: &Page) {
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers["x-content-type-options"], "nosniff");
    assert!(page.headers.contains_key("referrer-policy"));
}
