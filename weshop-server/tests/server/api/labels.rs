//! Shipping labels: the PDF is rendered to an image (poppler's `pdftoppm`) and its codes are
//! read back (zbar's `zbarimg`), as a scanner would; and who may fetch one over HTTP.

use std::ffi::OsStr;
use std::process::Command;

use weshop_server::labels::{LabelData, render_label};

use super::*;

/// Runs a tool the label tests need, failing loudly when it is not installed.
fn run(program: &str, package: &str, args: &[&OsStr]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} could not run ({e}): the label tests need Debian's {package} \
             (apt-get install {package}; .ci/run installs it)"
            )
        })
}

/// The codes a scanner reads on the PDF's page at 300 dpi, as sorted `TYPE:data` lines.
fn scan(pdf: &[u8]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("label.pdf");
    std::fs::write(&pdf_path, pdf).unwrap();
    let prefix = dir.path().join("label");
    let options = ["-r", "300", "-png", "-singlefile"].map(OsStr::new);
    let mut args = options.to_vec();
    args.extend([pdf_path.as_os_str(), prefix.as_os_str()]);
    let rendered = run("pdftoppm", "poppler-utils", &args);
    assert!(
        rendered.status.success(),
        "pdftoppm: {}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let png = dir.path().join("label.png");
    let scanned = run("zbarimg", "zbar-tools", &[png.as_os_str()]);
    let mut codes: Vec<String> = String::from_utf8_lossy(&scanned.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    codes.sort();
    codes
}

fn label(ship_id: i64, tracking_url: &str) -> LabelData {
    LabelData {
        order_id: ship_id,
        ship_id,
        warehouse_id: 2,
        from: (60, 20),
        to: (-40, 9_999),
        ups_account: Some("ada.lovelace-ups-0042".into()),
        weight_grams: Some(2_400),
        delivery: "express".into(),
        tracking_url: tracking_url.into(),
    }
}

#[test]
fn a_scanner_reads_the_ship_id_and_the_tracking_url() {
    for (ship_id, url) in [
        (7, "http://127.0.0.1:8000/orders/7"),
        (
            987_654_321_012,
            "https://a-rather-long-shop-name.example.com:8443/orders/987654321012",
        ),
    ] {
        let codes = scan(&render_label(&label(ship_id, url)));
        assert_eq!(
            codes,
            vec![format!("CODE-128:{ship_id}"), format!("QR-Code:{url}")],
            "ship id {ship_id}"
        );
    }
}

/// An order placed (checkout gives it its package id) and the app that placed it:
/// (app, seller, customer, order id).
async fn placed_order() -> (App, String, String, i64) {
    let app = app().await;
    let (seller, customer, _, card) = app.ready_to_buy(10, 2).await;
    let order = app
        .checkout(&customer, &card, Some("label-1"))
        .await
        .expect(StatusCode::CREATED);
    let id = order["id"].as_i64().unwrap();
    (app, seller, customer, id)
}

impl App {
    /// `GET` the label as `token` would from a browser at `host`: (status, content type, body).
    async fn label(&self, id: i64, auth: (&str, &str)) -> (StatusCode, String, Vec<u8>) {
        let response = self
            .client
            .get(format!("/api/v1/orders/{id}/label.pdf"))
            .header(header::HOST, "shop.example:8000")
            .header(auth.0, auth.1)
            .send()
            .await;
        let status = response.0.status();
        let content_type = response
            .0
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (
            status,
            content_type,
            response.0.into_body().into_vec().await.unwrap(),
        )
    }
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

fn cookie(token: &str) -> (&'static str, String) {
    ("cookie", format!("weshop_session={token}"))
}

#[tokio::test]
async fn the_customer_and_the_seller_get_the_label_and_nobody_else() {
    let (app, seller, customer, id) = placed_order().await;

    let (name, value) = bearer(&customer);
    let (status, content_type, pdf) = app.label(id, (name, &value)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/pdf");
    // The app's cookies are `Secure`: the shop is behind HTTPS.
    assert_eq!(
        scan(&pdf),
        vec![
            format!("CODE-128:{id}"),
            format!("QR-Code:https://shop.example:8000/orders/{id}"),
        ]
    );
    // The page's link is a plain GET with the session cookie: it works from a browser.
    let (name, value) = cookie(&customer);
    assert_eq!(app.label(id, (name, &value)).await.0, StatusCode::OK);
    let (name, value) = bearer(&seller);
    let (status, content_type, _) = app.label(id, (name, &value)).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );

    let stranger = app.user("stranger@example.com", &["customer"]).await;
    let other_seller = app.user("other-seller@example.com", &["seller"]).await;
    app.product(&other_seller, "Spoon", "kitchen", "1.00").await;
    for token in [&stranger, &other_seller] {
        let refused = app
            .get(&format!("/api/v1/orders/{id}/label.pdf"), token)
            .await
            .problem(StatusCode::NOT_FOUND);
        assert_eq!(refused["type"], "urn:weshop:problem:not-found");
    }
    app.get(&format!("/api/v1/orders/{}/label.pdf", id + 1), &customer)
        .await
        .problem(StatusCode::NOT_FOUND);
    app.send(
        Method::GET,
        &format!("/api/v1/orders/{id}/label.pdf"),
        None,
        None,
    )
    .await
    .problem(StatusCode::UNAUTHORIZED);

    // A cancelled order ships nothing: no label, and the pages stop offering one.
    app.post(&format!("/api/v1/orders/{id}/cancel"), &customer, json!({}))
        .await
        .expect(StatusCode::OK);
    let refused = app
        .get(&format!("/api/v1/orders/{id}/label.pdf"), &customer)
        .await
        .problem(StatusCode::CONFLICT);
    assert!(
        refused["detail"].as_str().unwrap().contains("cancelled"),
        "{refused}"
    );
    let page = app.page(&format!("/orders/{id}"), &customer).await;
    assert!(!page.contains("label.pdf"), "{page}");
}

#[tokio::test]
async fn the_order_page_and_the_dashboard_link_to_the_label() {
    let (app, seller, customer, id) = placed_order().await;
    let link = format!("href=\"/api/v1/orders/{id}/label.pdf\"");
    let page = app.page(&format!("/orders/{id}"), &customer).await;
    assert!(page.contains(&link), "{page}");
    assert!(page.contains("Print label (PDF)"), "{page}");
    let dashboard = app.page("/seller", &seller).await;
    assert!(dashboard.contains(&link), "{dashboard}");
}

impl App {
    /// A web page's HTML, as the logged-in browser of `token` gets it.
    async fn page(&self, path: &str, token: &str) -> String {
        let response = self
            .client
            .get(path)
            .header(header::COOKIE, format!("weshop_session={token}"))
            .send()
            .await;
        assert_eq!(response.0.status(), StatusCode::OK, "{path}");
        response.0.into_body().into_string().await.unwrap()
    }
}

#[tokio::test]
async fn the_spec_documents_the_pdf_and_the_409() {
    let app = app().await;
    let spec = app.client.get("/api/openapi.json").send().await;
    let spec: Value = spec.0.into_body().into_json().await.unwrap();
    let operation = &spec["paths"]["/orders/{id}/label.pdf"]["get"];
    assert_eq!(operation["operationId"], "getOrderLabel", "{operation}");
    let responses = &operation["responses"];
    assert!(
        responses["200"]["content"]["application/pdf"].is_object(),
        "{responses}"
    );
    for status in ["401", "404", "409"] {
        assert!(responses[status].is_object(), "{status}: {responses}");
    }
    assert!(responses["402"].is_null(), "{responses}");
}
