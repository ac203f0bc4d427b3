//! `/api/v1/shares`: the owner's share links.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{Path, Problem, Query};
use super::idempotency::{IdempotencyKey, Keyed};
use super::json::{Json, OptionalJson};
use super::request::RequestMeta;
use crate::service::shares::dto::{
    BulkCancelRequest, BulkCancelResponse, CancelRequest, ChangeShareRequest, CreateShareRequest, HistoryResponse,
    LinkResponse, ShareDetails, SharePage,
};
use crate::service::shares::{self, ListParams};
use crate::service::{Outcome, qr};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_share, list_shares))
        .routes(routes!(bulk_cancel))
        .routes(routes!(share_details, change_share))
        .routes(routes!(cancel_share))
        .routes(routes!(share_link))
        .routes(routes!(share_qr_png))
        .routes(routes!(share_qr_svg))
        .routes(routes!(share_history))
}

/// The idempotency key of a request, bound to its caller, method, path and body.
pub(crate) fn keyed<T: serde::Serialize>(
    actor_id: &str,
    key: Option<String>,
    method: &str,
    path: &str,
    body: &T,
) -> Option<Keyed> {
    key.map(|k| {
        Keyed::new(
            actor_id,
            k,
            method,
            path,
            &serde_json::to_value(body).expect("plain data"),
        )
    })
}

/// Create a share link.
#[utoipa::path(post, path = "/api/v1/shares", tag = "shares", request_body = CreateShareRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first outcome", pattern = "^[!-~]{1,255}$")),
    responses(
        (status = 201, description = "Created", body = ShareDetails),
        (status = 422, description = "Invalid settings", body = Problem),
        (status = 429, description = "Daily quota used up", body = Problem),
    ),
    security(("bearer" = [])))]
async fn create_share(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    IdempotencyKey(key): IdempotencyKey,
    Json(body): Json<CreateShareRequest>,
) -> Result<Outcome, ApiError> {
    let keyed = keyed(&actor.user_id, key, "POST", "/api/v1/shares", &body);
    shares::create(&state, &actor, &req, keyed, body).await
}

/// Search the caller's share links.
#[utoipa::path(get, path = "/api/v1/shares", tag = "shares", params(ListParams),
    responses((status = 200, description = "A page of shares", body = SharePage), (status = 422, description = "Invalid search", body = Problem)),
    security(("bearer" = [])))]
async fn list_shares(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(params): Query<ListParams>,
) -> Result<Json<SharePage>, ApiError> {
    Ok(Json(shares::list(&state, &actor, params).await?))
}

/// Details of a share, including its access code.
#[utoipa::path(get, path = "/api/v1/shares/{id}", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The share", body = ShareDetails), (status = 404, description = "No such share of yours", body = Problem)),
    security(("bearer" = [])))]
async fn share_details(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<ShareDetails>, ApiError> {
    Ok(Json(shares::details(&state, &actor, id).await?))
}

/// Change a share's settings.
#[utoipa::path(patch, path = "/api/v1/shares/{id}", tag = "shares", params(("id" = Uuid, Path)), request_body = ChangeShareRequest,
    responses(
        (status = 200, description = "Changed", body = ShareDetails),
        (status = 404, description = "No such share of yours", body = Problem),
        (status = 409, description = "The share is cancelled", body = Problem),
        (status = 422, description = "Invalid settings", body = Problem),
    ),
    security(("bearer" = [])))]
async fn change_share(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
    Json(body): Json<ChangeShareRequest>,
) -> Result<Json<ShareDetails>, ApiError> {
    Ok(Json(shares::change(&state, &actor, &req, id, body).await?))
}

/// Cancel a share for good.
#[utoipa::path(post, path = "/api/v1/shares/{id}/cancel", tag = "shares", params(("id" = Uuid, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "Retries with the same key get the first outcome", pattern = "^[!-~]{1,255}$")),
    request_body(content = Option<CancelRequest>),
    responses(
        (status = 200, description = "Cancelled"),
        (status = 404, description = "No such share of yours", body = Problem),
        (status = 409, description = "Already cancelled", body = Problem),
    ),
    security(("bearer" = [])))]
async fn cancel_share(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    IdempotencyKey(key): IdempotencyKey,
    Path(id): Path<Uuid>,
    OptionalJson(body): OptionalJson<CancelRequest>,
) -> Result<Outcome, ApiError> {
    let body = body.unwrap_or_default();
    let keyed = keyed(
        &actor.user_id,
        key,
        "POST",
        &format!("/api/v1/shares/{id}/cancel"),
        &body,
    );
    shares::cancel(&state, &actor, &req, keyed, id, body).await
}

/// Cancel several shares; one result per id.
#[utoipa::path(post, path = "/api/v1/shares/cancel", tag = "shares", request_body = BulkCancelRequest,
    responses((status = 200, description = "A result per id", body = BulkCancelResponse), (status = 422, description = "No or too many ids", body = Problem)),
    security(("bearer" = [])))]
async fn bulk_cancel(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Json(body): Json<BulkCancelRequest>,
) -> Result<Json<BulkCancelResponse>, ApiError> {
    Ok(Json(shares::bulk_cancel(&state, &actor, &req, body).await?))
}

/// The link to copy (with the code when auto-fill is on).
#[utoipa::path(get, path = "/api/v1/shares/{id}/link", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The link", body = LinkResponse), (status = 404, description = "No such share of yours", body = Problem)),
    security(("bearer" = [])))]
async fn share_link(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<LinkResponse>, ApiError> {
    Ok(Json(shares::link(&state, &actor, id).await?))
}

fn qr_response(
    issued: &shares::IssuedQr,
    content_type: &'static str,
    body: Vec<u8>,
    extension: &str,
    id: Uuid,
) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&issued.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
        headers.insert("x-qr-expires-at", v);
    }
    if let Ok(v) = HeaderValue::from_str(&issued.qr_id.to_string()) {
        headers.insert("x-qr-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"share-{id}.{extension}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// Issue a QR code (valid 7 days) as PNG; `X-QR-Expires-At` says until when.
#[utoipa::path(get, path = "/api/v1/shares/{id}/qr.png", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, description = "PNG image", content_type = "image/png"), (status = 404, description = "No such share of yours", body = Problem)),
    security(("bearer" = [])))]
async fn share_qr_png(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    qr_image(&state, &actor, &req, id, false).await
}

/// Issue a QR code (valid 7 days) as SVG; `X-QR-Expires-At` says until when.
#[utoipa::path(get, path = "/api/v1/shares/{id}/qr.svg", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, description = "SVG image", content_type = "image/svg+xml"), (status = 404, description = "No such share of yours", body = Problem)),
    security(("bearer" = [])))]
async fn share_qr_svg(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    qr_image(&state, &actor, &req, id, true).await
}

/// Issues a QR code of the share and answers it as an SVG or PNG image (the API and the pages).
pub(crate) async fn qr_image(
    state: &AppState,
    actor: &shareledger_domain::Actor,
    req: &RequestMeta,
    id: Uuid,
    svg: bool,
) -> Result<Response, ApiError> {
    let issued = shares::issue_qr(state, actor, req, id).await?;
    Ok(if svg {
        let svg = qr::svg(&issued.target).map_err(ApiError::internal)?;
        qr_response(&issued, "image/svg+xml", svg.into_bytes(), "svg", id)
    } else {
        let png = qr::png(&issued.target).map_err(ApiError::internal)?;
        qr_response(&issued, "image/png", png, "png", id)
    })
}

/// The share's own events, oldest first.
#[utoipa::path(get, path = "/api/v1/shares/{id}/history", tag = "shares", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Events", body = HistoryResponse), (status = 404, description = "No such share of yours", body = Problem)),
    security(("bearer" = [])))]
async fn share_history(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<HistoryResponse>, ApiError> {
    Ok(Json(shares::history(&state, &actor, id).await?))
}
