//! Accounts over the API: password change, register, login, the cookie, and problems for every client error.

use super::*;

/// A new password needs the current one (its own operation, both fields required), and logs
/// out every other session of the account.
#[tokio::test]
async fn a_password_change_needs_the_current_one_and_ends_other_sessions() {
    let app = app().await;
    let here = app.user("pat@example.com", &["customer"]).await;
    let elsewhere = app.login("pat@example.com").await;
    let other_user = app.user("quinn@example.com", &["customer"]).await;
    let new = "a much better passphrase";

    // The current password is required: without it the request does not match the contract.
    app.post("/api/v1/me/password", &here, json!({"new_password": new}))
        .await
        .problem(StatusCode::BAD_REQUEST);
    // An optional field is left out, not sent as null (the spec does not say nullable).
    app.patch("/api/v1/me", &here, json!({"name": null}))
        .await
        .problem(StatusCode::BAD_REQUEST);
    app.post(
        "/api/v1/me/password",
        &here,
        json!({"new_password": new, "current_password": "not the password"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    app.get("/api/v1/me", &elsewhere)
        .await
        .expect(StatusCode::OK);

    app.post(
        "/api/v1/me/password",
        &here,
        json!({"new_password": new, "current_password": PASSWORD}),
    )
    .await
    .expect(StatusCode::NO_CONTENT);
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
