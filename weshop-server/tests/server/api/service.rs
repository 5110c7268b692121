//! Live order events, health, metrics, docs and the landing page.

use super::*;

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
                let status = order["status"].as_str().unwrap().to_string();
                // The window travels with each update, until the order has ended.
                assert_eq!(
                    order.get("estimate").is_some(),
                    status != "delivered",
                    "{order}"
                );
                Some(status)
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

/// Every string a declared pattern admits is one the shop accepts: a client that follows the
/// spec is never refused for the value itself (schemathesis' "schema-valid request rejected").
/// Strings are drawn from the patterns as the spec publishes them, so the two cannot drift.
#[tokio::test]
async fn declared_patterns_admit_only_values_the_shop_accepts() {
    use proptest::{
        strategy::{Strategy, ValueTree},
        test_runner::TestRunner,
    };
    use weshop_core::domain::{Category, Currency, Email, Money};

    let app = app().await;
    let spec = app
        .send(Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(StatusCode::OK);
    let schemas = &spec["components"]["schemas"];
    let pattern = |schema: &str, field: &str| {
        let text = schemas[schema]["properties"][field]["pattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{schema}.{field} declares a pattern"));
        let max = schemas[schema]["properties"][field]["maxLength"].as_u64();
        // proptest draws from the regex itself; the anchors only say "whole string".
        let regex = text
            .trim_start_matches('^')
            .trim_end_matches('$')
            .to_string();
        (regex, max.map_or(usize::MAX, |m| m as usize))
    };
    type Accepts = Box<dyn Fn(&str) -> bool>;
    let checks: Vec<((String, usize), Accepts)> = vec![
        (
            pattern("RegisterRequest", "email"),
            Box::new(|s| Email::parse(s).is_ok()),
        ),
        (
            pattern("NewProductRequest", "category"),
            Box::new(|s| Category::parse(s).is_ok()),
        ),
        (
            pattern("NewProductRequest", "price"),
            Box::new(|s| Money::parse(s, Currency::USD).is_ok_and(|m| m.minor() < 1_000_000_000)),
        ),
        (
            pattern("CheckoutRequest", "expected_total"),
            Box::new(|s| Money::parse(s, Currency::USD).is_ok()),
        ),
    ];
    let mut runner = TestRunner::deterministic();
    for ((regex, max_length), accepts) in &checks {
        let strategy = proptest::string::string_regex(regex).expect("a pattern proptest reads");
        for _ in 0..500 {
            let value = strategy.new_tree(&mut runner).unwrap().current();
            if value.chars().count() > *max_length {
                continue;
            }
            assert!(
                accepts(&value),
                "{value:?} matches {regex:?} but is refused"
            );
        }
    }
}
