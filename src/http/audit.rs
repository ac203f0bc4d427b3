//! Audit: `/api/v1/audit/events` (auditors; admins for their own enterprise) as pages or
//! streamed NDJSON/CSV, and `/api/v1/audit/verify` (auditors).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use shareledger_domain::actor::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Auth, require_any};
use super::error::ApiError;
use super::extract::{Path, Problem, Query};
use super::json::Json;
use crate::audit::verify::{Report, Window, verify_window};
use crate::service::audit::{
    AsOfQuery, AuditPage, AuditQuery, CSV_HEADER, Selection, ShareStateAsOf, csv_line, share_state_as_of,
};
use crate::state::AppState;
use uuid::Uuid;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events))
        .routes(routes!(share_state))
        .routes(routes!(verify_log))
}

/// The header saying how client addresses appear in the output.
pub const CLIENT_IP_HEADER: &str = "shareledger-client-ip";

/// Audited events, filtered, in log order. JSON: a page (`limit`, then `after=next_cursor`).
/// `Accept: application/x-ndjson` or `text/csv`: the whole selection streamed (from `after`).
/// Auditors see every enterprise; admins only their own.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(AuditQuery),
    responses(
        (status = 200, description = "A page of events (or, by `Accept`, the whole selection as \
            `application/x-ndjson` or `text/csv`); the `Shareledger-Client-Ip` header says how \
            addresses are shown", body = AuditPage),
        (status = 400, description = "Invalid filters", body = Problem),
        (status = 403, description = "Auditors, and admins for their own enterprise, only", body = Problem),
    ),
    security(("bearer" = [])))]
async fn events(
    State(state): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Result<Response, ApiError> {
    let selection = Selection::new(Some(&actor), query)?;
    let mode = state.config().audit_client_ip;
    let key = state.keys().jwt_secret.clone();
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = if accept.contains("application/x-ndjson") {
        Some(("application/x-ndjson", false))
    } else if accept.contains("text/csv") {
        Some(("text/csv; charset=utf-8", true))
    } else {
        None
    };
    let mut response = match format {
        None => Json(selection.page(state.pool(), mode, &key).await?).into_response(),
        Some((content_type, csv)) => {
            let rows = selection.stream(state.pool().clone(), mode, key);
            // Rows are grouped into chunks of about 64 KiB on their way out.
            let lines = rows.map(move |row| {
                row.map(|r| {
                    if csv {
                        csv_line(&r)
                    } else {
                        let mut line = serde_json::to_string(&r).expect("plain data");
                        line.push('\n');
                        line
                    }
                })
            });
            let head = futures_util::stream::iter(csv.then(|| Ok(CSV_HEADER.to_owned())));
            let body = head
                .chain(lines)
                .ready_chunks(256)
                .map(|chunk| -> Result<Bytes, std::io::Error> {
                    let mut out = String::new();
                    for line in chunk {
                        out.push_str(&line.map_err(std::io::Error::other)?);
                    }
                    Ok(Bytes::from(out))
                });
            let mut response = axum::body::Body::from_stream(body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response
        }
    };
    response
        .headers_mut()
        .insert(CLIENT_IP_HEADER, HeaderValue::from_static(mode.as_str()));
    Ok(response)
}

/// A share's settings, status and counters as of an instant (a replay of its events recorded
/// up to then), plus those events (auditors; admins for their own enterprise).
#[utoipa::path(get, path = "/api/v1/audit/shares/{id}/state", tag = "audit", params(("id" = Uuid, Path), AsOfQuery),
    responses(
        (status = 200, description = "The state at that instant", body = ShareStateAsOf),
        (status = 403, description = "Auditors and admins only", body = Problem),
        (status = 404, description = "No such share at that time", body = Problem),
    ),
    security(("bearer" = [])))]
async fn share_state(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    Query(query): Query<AsOfQuery>,
) -> Result<Json<ShareStateAsOf>, ApiError> {
    let as_of = query.as_of.unwrap_or_else(|| state.clock().now());
    Ok(Json(share_state_as_of(state.pool(), &actor, id, as_of).await?))
}

/// Verify the whole log: every stream's hash chain, and every signed checkpoint's signature,
/// event count and digest (auditors). `verdict` is `intact` or `tampered`; each problem names
/// the stream, version, position and kind. `from`/`to` limit the verdict to events recorded and
/// checkpoints made in that window (the whole log is read all the same).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(Window),
    responses(
        (status = 200, description = "The verdict and every problem found", body = Report),
        (status = 403, description = "Auditors only", body = Problem),
    ),
    security(("bearer" = [])))]
async fn verify_log(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(window): Query<Window>,
) -> Result<Json<Report>, ApiError> {
    require_any(&actor, &[Role::Auditor])?;
    let key = state.keys().audit.public();
    let report = verify_window(state.pool(), &key, window, |_| {}).await?;
    Ok(Json(report))
}
