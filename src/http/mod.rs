//! The HTTP surface: one router per resource, merged here, behind the shared middleware.

pub mod error;
pub mod middleware;
pub mod ops;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tower_http::catch_panic::CatchPanicLayer;

use crate::state::AppState;
use error::ApiError;

/// The whole application as a router (tests drive it with `oneshot`, `serve` with a socket).
pub fn app(state: AppState) -> Router {
    let body_limit = state.config().max_body_bytes;
    Router::new()
        .merge(ops::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("There is nothing at this address.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This address does not accept that method.",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
