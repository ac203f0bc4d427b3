//! Operations endpoints: liveness, readiness, metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiError;
use crate::state::AppState;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "ops", responses((status = 200, description = "Alive")))]
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers and every migration of this build is applied.
#[utoipa::path(get, path = "/readyz", tag = "ops", responses((status = 200, description = "Ready"), (status = 503, description = "Not ready", body = super::extract::Problem)))]
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let check = tokio::time::timeout(Duration::from_secs(2), crate::db::migrations_applied(state.pool())).await;
    match check {
        Ok(Ok(true)) => Ok(Json(json!({
            "status": "ready",
            "checks": { "database": "ok", "migrations": "ok" }
        }))),
        Ok(Ok(false)) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "The database schema is behind this build; run `shareledger migrate`.",
        )
        .with("checks", json!({ "database": "ok", "migrations": "pending" }))
        .with_retry_after(5)),
        Ok(Err(e)) => Err(ApiError::unavailable(e).with("checks", json!({ "database": "unreachable" }))),
        Err(_) => Err(ApiError::unavailable(anyhow::anyhow!("readiness check timed out"))
            .with("checks", json!({ "database": "timeout" }))),
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics().render(),
    )
}
