//! Cross-cutting request handling: request ids, one log line per request (errors with their
//! cause chain, once), metrics by route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::error::ErrorCause;

/// The header carrying the request id, in and out.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The log position a write committed (pass it as `min_position` to read your writes).
pub static POSITION: HeaderName = HeaderName::from_static("shareledger-position");

/// The id of the current request, for handlers that record it (e.g. in event metadata).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Assigns a request id (or keeps a sane one from the client), runs the request in a span named
/// by its route template, records metrics, and logs once.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let span =
        tracing::info_span!("http.request", http.method = %method, http.route = %route, request.id = %request_id);
    let (mut response, written) = crate::runtime::position::track(next.run(request).instrument(span.clone())).await;
    if let Some(cursor) = written
        && let Ok(value) = HeaderValue::from_str(&crate::runtime::position::format(cursor))
    {
        response.headers_mut().insert(POSITION.clone(), value);
    }
    let status = response.status();
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method.to_string(), "route" => route)
        .record(elapsed.as_secs_f64());
    let _entered = span.enter();
    if status.is_server_error() {
        let cause = response
            .extensions()
            .get::<ErrorCause>()
            .map(|c| format!("{:#}", c.0))
            .unwrap_or_default();
        tracing::error!(http.status = status.as_u16(), latency_ms = elapsed.as_millis() as u64, error = %cause, "request failed");
    } else {
        tracing::debug!(
            http.status = status.as_u16(),
            latency_ms = elapsed.as_millis() as u64,
            "request served"
        );
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}
