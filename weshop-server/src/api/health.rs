//! Liveness and metrics: plain poem handlers outside the OpenAPI spec.

use std::sync::Arc;

use poem::{
    IntoResponse, Response, handler,
    web::{Data, Json},
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
