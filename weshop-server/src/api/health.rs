//! Liveness, metrics and the landing page: plain poem handlers outside the OpenAPI spec.

use std::sync::Arc;

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Html, Json},
};

use super::ApiState;

/// `GET /health`: the process answers.
#[handler]
pub fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /metrics`: the Prometheus text exposition.
#[handler]
pub fn metrics(state: Data<&Arc<ApiState>>) -> Response {
    state
        .metrics
        .render()
        .with_content_type("text/plain; version=0.0.4; charset=utf-8")
        .into_response()
}

/// `GET /`: where to go from here.
#[handler]
pub fn landing() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>WeShop</title></head>
<body>
<h1>WeShop</h1>
<p>The shop's HTTP API lives under <code>/api/v1</code>.</p>
<ul>
<li><a href="/api/docs">API documentation (Swagger UI)</a></li>
<li><a href="/api/openapi.json">OpenAPI specification</a></li>
<li><a href="/health">Health</a> and <a href="/metrics">metrics</a></li>
</ul>
</body>
</html>
"#,
    )
}
