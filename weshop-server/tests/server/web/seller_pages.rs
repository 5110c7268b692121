//! The seller's product forms: listing a product with a picture, editing, withdrawing, and
//! the pictures the shop serves for it.

use image::{ImageEncoder, RgbaImage, codecs::png::PngEncoder};

use super::*;

/// A PNG of `width` × `height` pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let image = RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([(x * 3 % 256) as u8, (y * 5 % 256) as u8, 200, 255])
    });
    let mut out = Vec::new();
    PngEncoder::new(&mut out)
        .write_image(&image, width, height, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// The form's fields with one changed.
fn fields<'a>(csrf: &'a str, change: (&'a str, &'a str)) -> Vec<(&'a str, &'a str)> {
    let mut fields = vec![
        ("csrf", csrf),
        ("name", "Walnut desk lamp"),
        ("description", "Warm light, <b>solid</b> walnut."),
        ("category", "lighting"),
        ("price", "49.90"),
        ("weight", "1200"),
    ];
    for field in &mut fields {
        if field.0 == change.0 {
            field.1 = change.1;
        }
    }
    fields
}

/// GETs `path` as raw bytes: status, content type, body.
async fn fetch(app: &App, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app.client.get(path).send().await;
    let status = response.0.status();
    let kind = response
        .0
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        kind,
        response.0.into_body().into_vec().await.unwrap(),
    )
}

/// The `src` of the first `<img>` after `marker` in `body`.
fn image_after(body: &str, marker: &str) -> String {
    let from = body.find(marker).expect(marker);
    let src = &body[from..];
    let start = src.find("<img src=\"").expect("an image") + "<img src=\"".len();
    src[start..start + src[start..].find('"').unwrap()].to_string()
}

#[tokio::test]
async fn a_seller_lists_a_product_with_a_picture_and_customers_see_it() {
    let app = app().await;
    app.seller().await;
    let mut seller = app.browser();
    seller.login("seller@example.com").await;
    let dashboard = seller.get("/seller").await;
    assert!(dashboard.body.contains(r#"href="/seller/products/new""#));
    let form = seller.get("/seller/products/new").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(r#"enctype="multipart/form-data""#));
    let csrf = form.csrf();

    let listed = seller
        .post_multipart(
            "/seller/products",
            &fields(&csrf, ("", "")),
            Some(&png(1600, 900)),
        )
        .await;
    assert_eq!(listed.status, StatusCode::SEE_OTHER, "{}", listed.body);
    assert_eq!(listed.location(), "/seller");
    let dashboard = seller.get("/seller").await;
    assert!(
        dashboard.body.contains("Walnut desk lamp"),
        "{}",
        dashboard.body
    );

    // Customers find it; the result shows the thumbnail, the product page the large picture.
    let mut customer = app.browser();
    let results = customer.get("/search?q=walnut").await;
    let card = results
        .body
        .split("<li class=\"card\">")
        .find(|card| card.contains("Walnut desk lamp"))
        .expect("a result card");
    let thumb = image_after(card, "<a");
    assert!(thumb.starts_with("/images/products/") && thumb.ends_with("/thumb.jpg"));
    let href = results
        .body
        .split("href=\"")
        .find(|s| s.starts_with("/products/"))
        .map(|s| s[..s.find('"').unwrap()].to_string())
        .unwrap();
    let product = customer.get(&href).await;
    assert!(
        product
            .body
            .contains("Warm light, &#60;b&#62;solid&#60;/b&#62; walnut."),
        "escaped: {}",
        product.body
    );
    let large = image_after(&product.body, "class=\"gallery\"");
    assert_eq!(large, thumb.replace("thumb.jpg", "large.jpg"));

    for (path, edge) in [(&thumb, 320), (&large, 1200)] {
        let (status, kind, bytes) = fetch(&app, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(kind, "image/jpeg");
        let picture = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
            .expect("a JPEG the shop encoded");
        assert_eq!(picture.width().max(picture.height()), edge, "{path}");
        assert_eq!(
            picture.width() * 9,
            picture.height() * 16,
            "aspect kept: {path}"
        );
    }
    let (missing, ..) = fetch(&app, &large.replace("large.jpg", "huge.jpg")).await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let (missing, ..) = fetch(&app, "/images/products/../../etc/passwd").await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
    let (missing, ..) = fetch(
        &app,
        "/images/products/00000000000000000000000000000000/large.jpg",
    )
    .await;
    assert_eq!(missing, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_refused_product_form_comes_back_filled_in_with_the_reason() {
    let app = app().await;
    app.seller().await;
    let mut seller = app.browser();
    seller.login("seller@example.com").await;
    let csrf = seller.get("/seller/products/new").await.csrf();

    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
    let refused = seller
        .post_multipart("/seller/products", &fields(&csrf, ("", "")), Some(svg))
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .body
            .contains("The file is not a PNG, JPEG, GIF or WebP picture."),
        "{}",
        refused.body
    );
    assert!(refused.body.contains(r#"value="Walnut desk lamp""#), "kept");

    let mut cut = png(64, 64);
    cut.truncate(cut.len() / 2);
    let damaged = seller
        .post_multipart("/seller/products", &fields(&csrf, ("", "")), Some(&cut))
        .await;
    assert_eq!(damaged.status, StatusCode::BAD_REQUEST);
    assert!(
        damaged.body.contains("damaged or incomplete"),
        "{}",
        damaged.body
    );

    for (change, words) in [
        (("price", "cheap"), "Invalid amount"),
        (
            ("weight", "heavy"),
            "The weight is a whole number of grams.",
        ),
        (("category", "lamps & lights"), "Invalid category"),
        (("name", ""), "Invalid product name"),
    ] {
        let page = seller
            .post_multipart("/seller/products", &fields(&csrf, change), None)
            .await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{change:?}");
        assert!(page.body.contains(words), "{change:?}: {}", page.body);
    }
    assert!(
        !seller
            .get("/seller")
            .await
            .body
            .contains("Walnut desk lamp"),
        "nothing was listed"
    );

    let forged = seller
        .post_multipart("/seller/products", &fields("forged", ("", "")), None)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let mut customer = app.browser();
    customer.register("ida@example.com", "Ida").await;
    assert_eq!(
        customer.get("/seller/products/new").await.status,
        StatusCode::FORBIDDEN
    );
    let csrf = customer.get("/").await.csrf();
    let not_a_seller = customer
        .post_multipart("/seller/products", &fields(&csrf, ("", "")), None)
        .await;
    assert_eq!(not_a_seller.status, StatusCode::FORBIDDEN);

    // Over the upload limit: refused before the body is read.
    let response = app
        .client
        .post("/seller/products")
        .content_type("multipart/form-data; boundary=x")
        .header(header::CONTENT_LENGTH, (9 * 1024 * 1024).to_string())
        .body(vec![0u8; 16])
        .send()
        .await;
    assert_eq!(response.0.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_seller_edits_and_withdraws_a_product_and_no_one_else_can() {
    let app = app().await;
    let owner = app.seller().await;
    let id = app.product(owner, "Blue mug", "kitchen", "5.00").await;
    let mut seller = app.browser();
    seller.login("seller@example.com").await;

    let edit = seller.get(&format!("/seller/products/{id}/edit")).await;
    assert_eq!(edit.status, StatusCode::OK, "{}", edit.body);
    assert!(edit.body.contains(r#"value="Blue mug""#));
    assert!(edit.body.contains(r#"value="5.00""#));
    let csrf = edit.csrf();
    let saved = seller
        .post_multipart(
            &format!("/seller/products/{id}"),
            &[
                ("csrf", &csrf),
                ("name", "Blue mug, large"),
                ("description", "Holds more."),
                ("category", "kitchen"),
                ("price", "6.50"),
                ("weight", "400"),
            ],
            Some(&png(200, 200)),
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = seller.get(&format!("/products/{id}")).await;
    assert!(page.body.contains("Blue mug, large"));
    assert!(page.body.contains("6.50"));
    let picture = image_after(&page.body, "class=\"gallery\"");
    assert_eq!(fetch(&app, &picture).await.0, StatusCode::OK);

    // Another seller: the product looks missing to them.
    app.shop
        .register(Registration {
            email: Email::parse("other@example.com").unwrap(),
            password: Password::new(PASSWORD).unwrap(),
            name: PersonName::parse("Other Seller").unwrap(),
            roles: Roles::new(false, true).unwrap(),
        })
        .await
        .unwrap();
    let mut other = app.browser();
    other.login("other@example.com").await;
    assert_eq!(
        other
            .get(&format!("/seller/products/{id}/edit"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let csrf_other = other.get("/seller").await.csrf();
    let taken = other
        .post(
            &format!("/seller/products/{id}/withdraw"),
            &[("csrf", &csrf_other)],
        )
        .await;
    assert_eq!(taken.status, StatusCode::NOT_FOUND);

    let withdrawn = seller
        .post(
            &format!("/seller/products/{id}/withdraw"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(withdrawn.status, StatusCode::SEE_OTHER);
    assert_eq!(
        seller.get(&format!("/products/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_api_stores_a_picture_for_a_product() {
    let app = app().await;
    app.seller().await;
    let mut seller = app.browser();
    seller.login("seller@example.com").await;
    let upload = |body: Vec<u8>| {
        app.client
            .post("/api/v1/seller/pictures")
            .header(header::COOKIE, seller.cookie_header())
            .header("x-weshop-csrf", "1")
            .content_type("application/octet-stream")
            .body(body)
            .send()
    };
    let response = upload(png(50, 40)).await;
    assert_eq!(response.0.status(), StatusCode::OK);
    let body: serde_json::Value = response.0.into_body().into_json().await.unwrap();
    let image = body["image"].as_str().unwrap().to_string();
    assert!(image.starts_with("/images/products/") && image.ends_with("/large.jpg"));
    assert_eq!(fetch(&app, &image).await.0, StatusCode::OK);
    // The same file again is the same picture.
    let again: serde_json::Value = upload(png(50, 40))
        .await
        .0
        .into_body()
        .into_json()
        .await
        .unwrap();
    assert_eq!(again["image"], body["image"]);

    // A GIF header with no picture after it: the type is known, the content is not one.
    let refused = upload(b"GIF87a".to_vec()).await;
    assert_eq!(refused.0.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = upload(b"%PDF-1.7".to_vec()).await;
    assert_eq!(refused.0.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let kind = refused.0.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(kind, "application/problem+json");
}
