//! The inbox over the API: the welcome, an order's progress filed once each, paging, marking
//! read, and bad requests.

use weshop_core::{
    driver::Ports,
    fulfilment::{ShippingCommand, WarehouseCommand},
    inbox::InboxNotifier,
    ports::{PortError, Shipping, SystemClock, Warehouse},
};

use super::*;

/// A world and a UPS that take every command and do nothing with it.
struct Accepting;

#[async_trait::async_trait]
impl Warehouse for Accepting {
    async fn submit(&self, _: u64, _: WarehouseCommand) -> Result<(), PortError> {
        Ok(())
    }
    async fn query(&self, _: weshop_core::domain::ShipId) -> Result<String, PortError> {
        Ok("unknown".into())
    }
}

#[async_trait::async_trait]
impl Shipping for Accepting {
    async fn submit(&self, _: u64, _: ShippingCommand) -> Result<(), PortError> {
        Ok(())
    }
}

impl App {
    /// Performs the outbox, filing its notifications in the store's inboxes.
    async fn perform_outbox(&self) -> usize {
        let ports = Ports {
            warehouse: Arc::new(Accepting),
            shipping: Arc::new(Accepting),
            payments: self.gateway.clone(),
            notifier: Arc::new(InboxNotifier::new(
                self.store.clone(),
                Arc::new(SystemClock),
                false,
            )),
        };
        self.driver.perform_outbox(&ports).await.unwrap()
    }

    async fn inbox(&self, token: &str, query: &str) -> Value {
        self.get(&format!("/api/v1/me/notifications{query}"), token)
            .await
            .expect(StatusCode::OK)
    }
}

fn headlines(inbox: &Value) -> Vec<String> {
    inbox["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["headline"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_new_account_is_welcomed_and_an_order_s_progress_is_filed_once_each() {
    let app = app().await;
    let (_, customer, product, card) = app.ready_to_buy(4, 2).await;
    let inbox = app.inbox(&customer, "").await;
    assert_eq!(inbox["unread"], 1, "{inbox}");
    let welcome = &inbox["items"][0];
    assert_eq!(welcome["kind"], "welcome");
    assert_eq!(welcome["headline"], "Welcome to WeShop");
    assert_eq!(welcome["link"], "/account");
    assert_eq!(welcome["read"], false);
    assert_eq!(welcome["mail"], "not_mailed", "no mail set up");
    assert!(inbox.get("next_before").is_none());

    let order = app
        .checkout(&customer, &card, Some("k1"))
        .await
        .expect(StatusCode::CREATED);
    let id = OrderId::new(order["id"].as_i64().unwrap()).unwrap();
    let ship_id = ship_id_of(id);
    let feed = [
        FulfilmentEvent::Arrived {
            warehouse: WarehouseId::new(1).unwrap(),
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
    for event in feed {
        app.driver.handle(event, None).await.unwrap();
    }
    assert!(app.perform_outbox().await > 0);
    assert_eq!(app.perform_outbox().await, 0, "each entry performed once");

    let inbox = app.inbox(&customer, "").await;
    let expected = [
        format!("Order #{id} is delivered"),
        format!("Order #{id} is on its way"),
        format!("Order #{id} is confirmed and being packed"),
        format!("Order #{id} is confirmed and waits for stock"),
        "Welcome to WeShop".to_string(),
    ];
    // Its milestones only: packed, a truck asked for, loading and loaded are not news.
    assert_eq!(headlines(&inbox), expected);
    assert_eq!(inbox["unread"], 5);
    let delivered = &inbox["items"][0];
    assert_eq!(delivered["kind"], "order_status");
    assert_eq!(delivered["order_id"], id.get());
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["link"], format!("/orders/{id}"));
}

#[tokio::test]
async fn the_inbox_pages_newest_first_and_marks_read_only_the_caller_s() {
    let app = app().await;
    let (_, customer, product, card) = app.ready_to_buy(4, 2).await;
    let other = app.user("other@example.com", &["customer"]).await;
    app.checkout(&customer, &card, Some("k1"))
        .await
        .expect(StatusCode::CREATED);
    app.driver
        .handle(
            FulfilmentEvent::Arrived {
                warehouse: WarehouseId::new(1).unwrap(),
                items: vec![(ProductId::new(product).unwrap(), Quantity::new(4).unwrap())],
            },
            None,
        )
        .await
        .unwrap();
    app.perform_outbox().await;
    // Welcome, waiting for stock, packing.
    let first = app.inbox(&customer, "?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let next = first["next_before"].as_i64().expect("another page");
    let second = app
        .inbox(&customer, &format!("?limit=2&before={next}"))
        .await;
    assert_eq!(headlines(&second), ["Welcome to WeShop"]);
    assert!(second.get("next_before").is_none());
    let ids: Vec<i64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect();
    assert!(ids[0] > ids[1] && ids[1] > next - 1, "newest first");

    // Another user cannot mark them, nor see them.
    let theirs = app
        .post("/api/v1/me/notifications/read", &other, json!({"ids": ids}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(theirs["marked"], 0);
    assert_eq!(
        app.inbox(&other, "").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let marked = app
        .post(
            "/api/v1/me/notifications/read",
            &customer,
            json!({"ids": [ids[0]]}),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(marked, json!({"marked": 1, "unread": 2}));
    let inbox = app.inbox(&customer, "").await;
    assert_eq!(inbox["items"][0]["read"], true);
    assert_eq!(inbox["items"][1]["read"], false);
    let all = app
        .post("/api/v1/me/notifications/read", &customer, json!({}))
        .await
        .expect(StatusCode::OK);
    assert_eq!(all, json!({"marked": 2, "unread": 0}));
}

#[tokio::test]
async fn bad_inbox_requests_are_problems() {
    let app = app().await;
    let customer = app.user("c@example.com", &["customer"]).await;
    for query in ["?limit=0", "?limit=101", "?before=0", "?limit=ten"] {
        app.get(&format!("/api/v1/me/notifications{query}"), &customer)
            .await
            .problem(StatusCode::BAD_REQUEST);
    }
    app.post(
        "/api/v1/me/notifications/read",
        &customer,
        json!({"ids": []}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    app.post(
        "/api/v1/me/notifications/read",
        &customer,
        json!({"ids": [0]}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    app.post(
        "/api/v1/me/notifications/read",
        &customer,
        json!({"ids": null}),
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    app.send(Method::GET, "/api/v1/me/notifications", None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED);
}
