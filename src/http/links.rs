//! `/api/v1/links/{token}`: the recipient's side. The link token is the capability; the share
//! session (after the code, if any) rides in `X-Share-Session` or a `__Host-` cookie.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shareledger_domain::share::Operation;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::MaybeAuth;
use super::error::ApiError;
use super::extract::{Path, Problem, Query};
use super::json::{Json, OptionalJson};
use super::request::RequestMeta;
use crate::service::drive::DriveItemDto;
use crate::service::recipient::access::{self, InSession, LinkListing};
use crate::service::recipient::link::LinkFacts;
use crate::service::recipient::open::{self, OpenRequest, SessionResponse};
use crate::service::recipient::session::{self, HEADER};
use crate::state::AppState;

/// The routes of the recipient's side, all with the no-store / nosniff / no-referrer headers.
pub fn router(max_upload_bytes: u64) -> OpenApiRouter<AppState> {
    let upload_limit = usize::try_from(max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    OpenApiRouter::new()
        .routes(routes!(upload))
        .routes(routes!(edit))
        .layer(DefaultBodyLimit::max(upload_limit))
        .routes(routes!(link_facts))
        .routes(routes!(open_session))
        .routes(routes!(list_items))
        .routes(routes!(preview, preview_head))
        .routes(routes!(download, download_head))
        .routes(routes!(save))
        .routes(routes!(report))
        .layer(axum::middleware::map_response(recipient_headers))
}

/// SECURITY 11: nothing of a share is cached, sniffed, framed, indexed or leaked by referrer.
async fn recipient_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex, nofollow"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; sandbox",
        ));
    response
}

/// The session the request carries: the header (API clients) or the link's cookie (pages).
fn session_token(headers: &HeaderMap, link_token: &str) -> Option<String> {
    if let Some(v) = headers.get(HEADER).and_then(|v| v.to_str().ok()) {
        return Some(v.trim().to_owned());
    }
    crate::web::cookie(headers, &session::cookie_name(link_token)).map(str::to_owned)
}

async fn enter(
    state: &AppState,
    token: &str,
    req: &RequestMeta,
    headers: &HeaderMap,
    item: Option<Uuid>,
) -> Result<InSession, ApiError> {
    access::enter(state, token, req, session_token(headers, token).as_deref(), item).await
}

/// Public facts of a link: name, message, owner, expiry, whether a code is needed.
#[utoipa::path(get, path = "/api/v1/links/{token}", tag = "links", params(("token" = String, Path)),
    responses(
        (status = 200, description = "The link's public facts", body = LinkFacts),
        (status = 404, description = "No share at this link (unknown and malformed tokens alike)", body = Problem),
        (status = 410, description = "Cancelled (`share_cancelled`) or expired (`share_expired`)", body = Problem),
        (status = 429, description = "Too many unknown links tried from this client", body = Problem),
    ))]
async fn link_facts(
    State(state): State<AppState>,
    req: RequestMeta,
    Path(token): Path<String>,
) -> Result<Json<LinkFacts>, ApiError> {
    Ok(Json(open::facts(&state, &token, &req).await?))
}

/// Open the link (with its code): a share session, also set as a `__Host-` cookie. Recorded as
/// `ShareOpened` (or `AccessRefused` with the reason).
#[utoipa::path(post, path = "/api/v1/links/{token}/session", tag = "links", params(("token" = String, Path)),
    request_body(content = Option<OpenRequest>),
    responses(
        (status = 201, description = "A share session (<= 2 h)", body = SessionResponse),
        (status = 401, description = "Code or sign-in needed", body = Problem),
        (status = 403, description = "Wrong code, not a member, or sharing switched off", body = Problem),
        (status = 404, description = "No share at this link", body = Problem),
        (status = 410, description = "Cancelled, expired, or an old QR code", body = Problem),
        (status = 429, description = "Code attempts throttled, or the daily quota used up", body = Problem),
    ))]
async fn open_session(
    State(state): State<AppState>,
    req: RequestMeta,
    MaybeAuth(actor): MaybeAuth,
    Path(token): Path<String>,
    OptionalJson(body): OptionalJson<OpenRequest>,
) -> Result<Response, ApiError> {
    let (session, signed) = open::open(&state, &token, &req, actor, body.unwrap_or_default(), None).await?;
    let max_age = (session.expires_at() - state.clock().now()).num_seconds();
    let cookie = session::set_cookie(&token, &signed, max_age);
    let mut response = (
        StatusCode::CREATED,
        Json(SessionResponse {
            session: signed,
            expires_at: session.expires_at(),
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// A folder of the link (default: its top level).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ParentParam {
    parent: Option<Uuid>,
}

/// List the link's items, or a shared folder's content.
#[utoipa::path(get, path = "/api/v1/links/{token}/items", tag = "links", params(("token" = String, Path), ParentParam,
        ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    responses((status = 200, description = "Items", body = LinkListing), (status = 401, description = "No or ended session", body = Problem)))]
async fn list_items(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(params): Query<ParentParam>,
) -> Result<Json<LinkListing>, ApiError> {
    let s = enter(&state, &token, &req, &headers, params.parent).await?;
    Ok(Json(access::list(&state, &s, params.parent).await?))
}

async fn read(
    state: AppState,
    req: RequestMeta,
    headers: HeaderMap,
    token: String,
    item: Uuid,
    op: Operation,
    head: bool,
) -> Result<Response, ApiError> {
    let s = enter(&state, &token, &req, &headers, Some(item)).await?;
    let mut response = access::read(&state, &s, &req, item, op, &headers, head).await?;
    if op == Operation::Preview {
        // Shown in the browser, but never able to run anything.
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"),
        );
    }
    Ok(response)
}

/// Preview a file (inline). Recorded as `FilePreviewed`; counts against the preview limit.
#[utoipa::path(get, path = "/api/v1/links/{token}/items/{item}/preview", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path), ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    responses((status = 200, description = "The file, inline"), (status = 403, description = "Not permitted or limit reached", body = Problem), (status = 410, description = "Cancelled, expired, or deleted original", body = Problem)))]
async fn preview(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    read(state, req, headers, token, item, Operation::Preview, false).await
}

/// Check a preview without taking it (no event, no limit used).
#[utoipa::path(head, path = "/api/v1/links/{token}/items/{item}/preview", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path)), responses((status = 200, description = "Would be served")))]
async fn preview_head(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    read(state, req, headers, token, item, Operation::Preview, true).await
}

/// Download a file (attachment, single byte ranges). Recorded as `FileDownloaded`; counts
/// against the download limit (a range continuing a counted download does not).
#[utoipa::path(get, path = "/api/v1/links/{token}/items/{item}/download", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path), ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    responses((status = 200, description = "The file"), (status = 206, description = "A byte range"), (status = 403, description = "Not permitted, limit reached, or blocked file type", body = Problem), (status = 410, description = "Cancelled, expired, or deleted original", body = Problem)))]
async fn download(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    read(state, req, headers, token, item, Operation::Download, false).await
}

/// Check a download without taking it (no event, no limit used).
#[utoipa::path(head, path = "/api/v1/links/{token}/items/{item}/download", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path)), responses((status = 200, description = "Would be served")))]
async fn download_head(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
) -> Result<Response, ApiError> {
    read(state, req, headers, token, item, Operation::Download, true).await
}

/// Save a copy into the signed-in recipient's own drive. Recorded as `FileSaved`.
#[utoipa::path(post, path = "/api/v1/links/{token}/items/{item}/save", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path), ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    responses((status = 201, description = "The copy in your drive", body = DriveItemDto), (status = 401, description = "Sign in first", body = Problem), (status = 403, description = "Not permitted or limit reached", body = Problem)))]
async fn save(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
) -> Result<(StatusCode, Json<DriveItemDto>), ApiError> {
    let s = enter(&state, &token, &req, &headers, Some(item)).await?;
    Ok((StatusCode::CREATED, Json(access::save(&state, &s, &req, item).await?)))
}

/// Upload a file (multipart `file` part) into a shared folder; it lands in the owner's drive.
#[utoipa::path(post, path = "/api/v1/links/{token}/upload", tag = "links",
    params(("token" = String, Path), ParentParam, ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    request_body(content_type = "multipart/form-data", description = "A `file` part"),
    responses((status = 201, description = "Stored in the owner's folder", body = DriveItemDto), (status = 403, description = "Not an upload link", body = Problem), (status = 413, description = "Too large", body = Problem)))]
async fn upload(
    State(state): State<AppState>,
    req: RequestMeta,
    Path(token): Path<String>,
    Query(params): Query<ParentParam>,
    request: Request,
) -> Result<(StatusCode, Json<DriveItemDto>), ApiError> {
    let headers = request.headers().clone();
    let s = enter(&state, &token, &req, &headers, params.parent).await?;
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?
    {
        if field.name() == Some("file") {
            let name = field.file_name().unwrap_or("upload").to_owned();
            let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
            let item = access::upload(&state, &s, &req, params.parent, name, content_type, field).await?;
            return Ok((StatusCode::CREATED, Json(item)));
        }
    }
    Err(ApiError::bad_request(
        "file_missing",
        "Send the file in a multipart part named `file`.",
    ))
}

/// Replace a shared document's content (online edit). Recorded as `DocumentEdited`.
#[utoipa::path(put, path = "/api/v1/links/{token}/items/{item}/content", tag = "links",
    params(("token" = String, Path), ("item" = Uuid, Path), ("X-Share-Session" = Option<String>, Header, description = "The share session")),
    request_body(content_type = "application/octet-stream", description = "The new content"),
    responses((status = 200, description = "Saved", body = DriveItemDto), (status = 403, description = "Editing not allowed", body = Problem)))]
async fn edit(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: HeaderMap,
    Path((token, item)): Path<(String, Uuid)>,
    body: Body,
) -> Result<Json<DriveItemDto>, ApiError> {
    let s = enter(&state, &token, &req, &headers, Some(item)).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(Json(
        access::edit(&state, &s, &req, item, content_type, body.into_data_stream()).await?,
    ))
}

/// A report of abuse.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// What is wrong with the link (at most 1024 characters).
    pub reason: String,
}

/// Report the link as abusive (`ShareReported`; the owner and admins see the count).
#[utoipa::path(post, path = "/api/v1/links/{token}/report", tag = "links", params(("token" = String, Path)), request_body = ReportRequest,
    responses((status = 202, description = "Recorded"), (status = 404, description = "No share at this link", body = Problem), (status = 422, description = "No reason given", body = Problem)))]
async fn report(
    State(state): State<AppState>,
    req: RequestMeta,
    MaybeAuth(actor): MaybeAuth,
    Path(token): Path<String>,
    Json(body): Json<ReportRequest>,
) -> Result<StatusCode, ApiError> {
    crate::service::recipient::report(&state, &token, &req, actor, body.reason).await?;
    Ok(StatusCode::ACCEPTED)
}
