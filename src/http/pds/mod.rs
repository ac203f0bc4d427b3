//! `/v2/share_link/*`: the reference product's share-link API (version 2022-03-01), so its
//! official SDK works against shareledger. A thin adapter: every action runs the same service
//! functions (commands, projections, share sessions) as `/api/v1`; only the shapes differ.
//!
//! The reference product's `share_id` is the id in the link, so here it is the link token: the
//! owner reads it from `create`, `get`, `list` and `search`, and a recipient holding the link
//! passes it to `get_by_anonymous` and `get_share_token`. Errors are the reference's
//! `{ "code": "...", "message": "..." }` with the native status.

pub mod model;
pub mod query;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use shareledger_domain::Actor;
use shareledger_domain::share::{Limits, MAX_ITEMS, Permissions};
use shareledger_projections::my_share_links::{self, Filter, OrderBy, Search, ShareRow, StatusFilter, StoredStatus};
use shareledger_projections::page::PageCursor;
use uuid::Uuid;

use super::auth::{Auth, MaybeAuth};
use super::error::ApiError;
use super::idempotency::IdempotencyKey;
use super::json::Json;
use super::middleware::RequestId;
use super::request::RequestMeta;
use crate::service::recipient::link::resolve;
use crate::service::recipient::open::{self, OpenRequest};
use crate::service::shares::dto::{CancelRequest, ChangeShareRequest, CreateShareRequest, LimitsDto, ScopeDto};
use crate::service::{secrets, shares};
use crate::state::AppState;
use model::{
    AnonymousShareLink, CreateRequest, ListRequest, SearchRequest, ShareIdRequest, ShareLink, ShareLinkPage,
    ShareToken, ShareTokenRequest, UpdateRequest,
};

/// The longest share session `get_share_token` gives (and its default), in seconds.
pub const MAX_EXPIRE_SEC: i64 = 7200;

/// The actions, under `/v2/share_link`.
pub fn router() -> Router<AppState> {
    let actions = Router::new()
        .route("/create", post(create))
        .route("/get", post(get))
        .route("/update", post(update))
        .route("/cancel", post(cancel))
        .route("/list", post(list))
        .route("/search", post(search))
        .route("/get_share_token", post(get_share_token))
        .route("/get_by_anonymous", post(get_by_anonymous))
        .fallback(unknown_action)
        .layer(axum::middleware::from_fn(reference_errors));
    Router::new().nest("/v2/share_link", actions)
}

async fn unknown_action() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "action",
        "Supported: create, get, update, cancel, list, search, get_share_token, get_by_anonymous (all POST).",
    )
}

/// The reference's error code for a native problem: a category by status, then the native code
/// in PascalCase (`NotFound.ShareLink`, `Forbidden.AccessCodeWrong`, `InvalidParameter.Query`).
pub fn reference_code(status: StatusCode, native: &str) -> String {
    let category = match status.as_u16() {
        400 | 422 => "InvalidParameter",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "EntityTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        s if s >= 500 => "InternalError",
        _ => "BadRequest",
    };
    let pascal: String = native
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect();
    if pascal.is_empty() || pascal == category {
        category.to_owned()
    } else {
        format!("{category}.{pascal}")
    }
}

/// Turns every problem document of these routes (from the handlers, the extractors, the
/// fallback) into the reference's error shape, and names the request id as the SDK reads it.
async fn reference_errors(request: Request, next: Next) -> Response {
    let request_id = request.extensions().get::<RequestId>().map(|r| r.0.clone());
    let mut response = next.run(request).await;
    if let Some(v) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert("x-ca-request-id", v);
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Problem documents are ours and small.
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let native = problem["code"].as_str().unwrap_or_default();
    let message = problem["detail"].as_str().unwrap_or("The request failed.");
    let body = json!({ "code": reference_code(parts.status, native), "message": message });
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

fn invalid(field: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::bad_request(field, detail)
}

fn not_supported(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("not_supported", detail)
}

fn no_share_link() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "share_link",
        "No share link of yours has this share_id.",
    )
}

/// `""` (or absent) is permanent; otherwise an RFC 3339 time (or one without offset, as UTC).
fn parse_expiration(text: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    if text.is_empty() {
        return Ok(None);
    }
    query::parse_time(text).map(Some).ok_or_else(|| {
        invalid(
            "expiration",
            "expiration is an RFC 3339 time, or \"\" for a permanent link.",
        )
    })
}

/// 0 is unlimited; negative is refused.
fn parse_limit(field: &'static str, value: i64) -> Result<Option<u32>, ApiError> {
    match value {
        0 => Ok(None),
        v if v < 0 => Err(invalid(field, format!("{field} is 0 (unlimited) or more."))),
        v => u32::try_from(v)
            .map(Some)
            .map_err(|_| invalid(field, format!("{field} is at most {}.", u32::MAX))),
    }
}

/// The share of a `share_id` (a link token), if the caller manages it.
async fn managed(state: &AppState, actor: &Actor, req: &RequestMeta, share_id: &str) -> Result<ShareRow, ApiError> {
    let link = resolve(state, share_id, &req.client_key()).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND {
            no_share_link()
        } else {
            e
        }
    })?;
    my_share_links::get(state.pool(), link.share_id)
        .await?
        .filter(|row| actor.manages(&row.owner_id, &row.enterprise_id))
        .ok_or_else(no_share_link)
}

/// The reference shape of one share, read back from the projection (kept in the write's
/// transaction, so it shows the write).
async fn share_link_of(state: &AppState, actor: &Actor, id: Uuid) -> Result<ShareLink, ApiError> {
    let row = my_share_links::get(state.pool(), id).await?.ok_or_else(no_share_link)?;
    Ok(links_of(state, actor, vec![row]).await?.remove(0))
}

/// The reference shapes of several shares, with their tokens (and codes, for their owner).
async fn links_of(state: &AppState, actor: &Actor, rows: Vec<ShareRow>) -> Result<Vec<ShareLink>, ApiError> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.share_id).collect();
    let secrets = secrets::read_many(state.pool(), &state.keys().seal, &ids)
        .await
        .map_err(ApiError::internal)?;
    let now = state.clock().now();
    rows.iter()
        .map(|row| {
            let s = secrets
                .get(&row.share_id)
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("share {} has no secrets row", row.share_id)))?;
            // The code is the owner's to pass on; an admin managing the share does not see it.
            let code = s.code.as_deref().filter(|_| actor.user_id == row.owner_id);
            Ok(model::share_link(row, &s.token, code, now))
        })
        .collect()
}

async fn create(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    IdempotencyKey(key): IdempotencyKey,
    Json(body): Json<CreateRequest>,
) -> Result<Response, ApiError> {
    if body.drive_id.as_deref().is_some_and(|d| d != actor.user_id) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "drive",
            "drive_id is your own drive: your user id.",
        ));
    }
    if body.user_id.as_deref().is_some_and(|u| u != actor.user_id) {
        return Err(not_supported(
            "Share links are created for yourself only: leave user_id out.",
        ));
    }
    if body.share_all_files == Some(true) {
        return Err(not_supported(
            "share_all_files is not supported: list the items in file_id_list.",
        ));
    }
    if body.creatable_file_id_list.is_some() {
        return Err(not_supported(
            "creatable_file_id_list is not supported: set creatable to let recipients upload into the shared folders.",
        ));
    }
    if body.file_id_list.is_empty() || body.file_id_list.len() > MAX_ITEMS {
        return Err(invalid(
            "file_id_list",
            format!("file_id_list holds 1 to {MAX_ITEMS} file ids."),
        ));
    }
    let items = body
        .file_id_list
        .iter()
        .map(|id| {
            id.parse::<Uuid>().map_err(|_| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    "file",
                    format!("No file of yours has the id '{id}'."),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let limits = LimitsDto {
        total: None,
        preview: parse_limit("preview_limit", body.preview_limit.unwrap_or(0))?,
        download: parse_limit("download_limit", body.download_limit.unwrap_or(0))?,
        save: parse_limit("save_limit", body.save_limit.unwrap_or(0))?,
    };
    let native = CreateShareRequest {
        items,
        name: body.share_name.clone(),
        message: body.description.clone(),
        permissions: Some(
            Permissions {
                preview: !body.disable_preview.unwrap_or(false),
                download: !body.disable_download.unwrap_or(false),
                save: !body.disable_save.unwrap_or(false),
                upload: body.creatable.unwrap_or(false),
                edit: body.office_editable.unwrap_or(false),
            }
            .into(),
        ),
        scope: Some(if body.require_login.unwrap_or(false) {
            ScopeDto::Enterprise
        } else {
            ScopeDto::Anyone
        }),
        expires_at: parse_expiration(body.expiration.as_deref().unwrap_or_default())?,
        access_code: body.share_pwd.clone().filter(|p| !p.is_empty()),
        generate_access_code: false,
        autofill_code: false,
        limits: Some(limits),
    };
    let keyed = super::shares::keyed(&actor.user_id, key, "POST", "/v2/share_link/create", &native);
    let outcome = shares::create(&state, &actor, &req, keyed, native).await?;
    // A retry of a keyed create that was refused gets that refusal again, as it was (its
    // problem document, turned into the reference's shape on the way out).
    if !outcome.status.is_success() {
        let mut response = (outcome.status, outcome.body.to_string()).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        return Ok(response);
    }
    let id = outcome.body["id"]
        .as_str()
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a created share has no id")))?;
    Ok(Json(share_link_of(&state, &actor, id).await?).into_response())
}

async fn get(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Json(body): Json<ShareIdRequest>,
) -> Result<Json<ShareLink>, ApiError> {
    let row = managed(&state, &actor, &req, &body.share_id).await?;
    Ok(Json(links_of(&state, &actor, vec![row]).await?.remove(0)))
}

async fn update(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Json(body): Json<UpdateRequest>,
) -> Result<Json<ShareLink>, ApiError> {
    let counters = [
        ("access_count", body.access_count),
        ("preview_count", body.preview_count),
        ("download_count", body.download_count),
        ("save_count", body.save_count),
        ("report_count", body.report_count),
        ("video_preview_count", body.video_preview_count),
    ];
    if let Some((name, _)) = counters.iter().find(|(_, v)| v.is_some()) {
        return Err(not_supported(format!(
            "{name} is counted from the access log and cannot be set."
        )));
    }
    let cancel = match body.status.as_deref() {
        None | Some("enabled") => false,
        Some("disabled") => true,
        Some(_) => return Err(invalid("status", "status is 'enabled' or 'disabled'.")),
    };
    let row = managed(&state, &actor, &req, &body.share_id).await?;
    if body.status.as_deref() == Some("enabled") && row.status == "cancelled" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "share_cancelled",
            "A cancelled share link cannot be enabled again; create a new one.",
        ));
    }
    let mut change = ChangeShareRequest {
        name: body.share_name.clone(),
        message: body.description.clone(),
        ..ChangeShareRequest::default()
    };
    let flags = [
        body.disable_preview,
        body.disable_download,
        body.disable_save,
        body.office_editable,
    ];
    if flags.iter().any(Option::is_some) {
        let mut p: Permissions = serde_json::from_value(row.permissions.clone()).unwrap_or_default();
        if let Some(off) = body.disable_preview {
            p.preview = !off;
        }
        if let Some(off) = body.disable_download {
            p.download = !off;
        }
        if let Some(off) = body.disable_save {
            p.save = !off;
        }
        if let Some(on) = body.office_editable {
            p.edit = on;
        }
        change.permissions = Some(p.into());
    }
    if let Some(text) = &body.expiration {
        change.expires_at = Some(parse_expiration(text)?);
    }
    match body.share_pwd.as_deref() {
        Some("") => change.remove_access_code = row.has_code,
        Some(code) => change.access_code = Some(code.to_owned()),
        None => {}
    }
    let limit_fields = [body.preview_limit, body.download_limit, body.save_limit];
    if limit_fields.iter().any(Option::is_some) {
        let mut l: Limits = serde_json::from_value(row.limits.clone()).unwrap_or_default();
        if let Some(v) = body.preview_limit {
            l.preview = parse_limit("preview_limit", v)?;
        }
        if let Some(v) = body.download_limit {
            l.download = parse_limit("download_limit", v)?;
        }
        if let Some(v) = body.save_limit {
            l.save = parse_limit("save_limit", v)?;
        }
        change.limits = Some(l.into());
    }
    let changes_something = change.name.is_some()
        || change.message.is_some()
        || change.permissions.is_some()
        || change.expires_at.is_some()
        || change.access_code.is_some()
        || change.remove_access_code
        || change.limits.is_some();
    if changes_something {
        shares::change(&state, &actor, &req, row.share_id, change).await?;
    }
    if cancel && row.status != "cancelled" {
        shares::cancel(&state, &actor, &req, None, row.share_id, CancelRequest::default()).await?;
    }
    Ok(Json(share_link_of(&state, &actor, row.share_id).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Json(body): Json<ShareIdRequest>,
) -> Result<StatusCode, ApiError> {
    let row = managed(&state, &actor, &req, &body.share_id).await?;
    shares::cancel(&state, &actor, &req, None, row.share_id, CancelRequest::default()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Limit, order and page of a list or search.
struct Paging {
    limit: u32,
    order_by: OrderBy,
    descending: bool,
    after: Option<PageCursor>,
}

fn paging(
    limit: Option<i64>,
    order_by: Option<&str>,
    direction: Option<&str>,
    marker: Option<&str>,
) -> Result<Paging, ApiError> {
    let limit = match limit.unwrap_or(20) {
        n @ 1..=100 => n as u32,
        _ => return Err(invalid("limit", "limit is 1 to 100.")),
    };
    let order_by = match order_by.unwrap_or("created_at") {
        "created_at" => OrderBy::Created,
        "updated_at" => OrderBy::Updated,
        "share_name" => OrderBy::Name,
        "description" => OrderBy::Message,
        _ => {
            return Err(invalid(
                "order_by",
                "order_by is created_at, updated_at, share_name or description.",
            ));
        }
    };
    let descending = match direction.unwrap_or("DESC").to_ascii_uppercase().as_str() {
        "DESC" => true,
        "ASC" => false,
        _ => return Err(invalid("order_direction", "order_direction is ASC or DESC.")),
    };
    let after = match marker.filter(|m| !m.is_empty()) {
        Some(m) => Some(
            PageCursor::decode(m).ok_or_else(|| invalid("marker", "The marker is not one this service gave out."))?,
        ),
        None => None,
    };
    Ok(Paging {
        limit,
        order_by,
        descending,
        after,
    })
}

/// Only the caller's own links are listed here.
fn own_only<'a>(actor: &Actor, creators: impl IntoIterator<Item = &'a String>) -> Result<(), ApiError> {
    if creators.into_iter().all(|c| c.is_empty() || *c == actor.user_id) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "other_creators",
            "Only your own share links can be listed: creator(s) may name only you.",
        ))
    }
}

async fn run_search(
    state: &AppState,
    actor: &Actor,
    paging: Paging,
    filter: Option<Filter>,
    total: bool,
) -> Result<ShareLinkPage, ApiError> {
    let search = Search {
        owner_id: actor.user_id.clone(),
        q: None,
        created_after: None,
        created_before: None,
        status: StatusFilter::All,
        order_by: paging.order_by,
        descending: paging.descending,
        limit: paging.limit,
        after: paging.after,
        now: state.clock().now(),
        filter,
    };
    let page = state
        .names()
        .search(state.pool(), &search)
        .await?
        .map_err(|_| invalid("marker", "The marker belongs to a search with another order."))?;
    let total_count = if total {
        Some(my_share_links::count(state.pool(), &search).await?)
    } else {
        None
    };
    Ok(ShareLinkPage {
        items: links_of(state, actor, page.rows).await?,
        next_marker: page.next.map(|c| c.encode()).unwrap_or_default(),
        total_count,
    })
}

async fn list(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<ListRequest>,
) -> Result<Json<ShareLinkPage>, ApiError> {
    own_only(&actor, body.creator.iter())?;
    let paging = paging(
        body.limit,
        body.order_by.as_deref(),
        body.order_direction.as_deref(),
        body.marker.as_deref(),
    )?;
    let filter = (!body.include_cancelled.unwrap_or(false)).then(|| Filter::StatusIn(vec![StoredStatus::Active]));
    Ok(Json(run_search(&state, &actor, paging, filter, false).await?))
}

async fn search(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Json(body): Json<SearchRequest>,
) -> Result<Json<ShareLinkPage>, ApiError> {
    own_only(&actor, body.creators.iter().flatten())?;
    let paging = paging(
        body.limit,
        body.order_by.as_deref(),
        body.order_direction.as_deref(),
        body.marker.as_deref(),
    )?;
    let filter = query::parse(body.query.as_deref().unwrap_or_default())
        .map_err(|e| invalid("query", format!("query: {e}.")).with("position", e.position))?;
    Ok(Json(
        run_search(&state, &actor, paging, filter, body.return_total_count.unwrap_or(false)).await?,
    ))
}

async fn get_share_token(
    State(state): State<AppState>,
    MaybeAuth(actor): MaybeAuth,
    req: RequestMeta,
    Json(body): Json<ShareTokenRequest>,
) -> Result<Json<ShareToken>, ApiError> {
    let seconds = body.expire_sec.unwrap_or(MAX_EXPIRE_SEC);
    if !(1..=MAX_EXPIRE_SEC).contains(&seconds) {
        return Err(invalid(
            "expire_sec",
            format!("expire_sec is more than 0 and at most {MAX_EXPIRE_SEC}."),
        ));
    }
    let open_request = OpenRequest {
        code: body.share_pwd.filter(|p| !p.is_empty()),
        qr: None,
    };
    let (session, signed) = open::open(
        &state,
        &body.share_id,
        &req,
        actor,
        open_request,
        Some(Duration::seconds(seconds)),
    )
    .await?;
    Ok(Json(ShareToken {
        share_token: signed,
        expires_in: (session.expires_at() - state.clock().now()).num_seconds().max(0),
    }))
}

async fn get_by_anonymous(
    State(state): State<AppState>,
    req: RequestMeta,
    Json(body): Json<ShareIdRequest>,
) -> Result<Json<AnonymousShareLink>, ApiError> {
    let facts = open::facts(&state, &body.share_id, &req).await?;
    Ok(Json(AnonymousShareLink {
        share_name: facts.name,
        description: facts.message,
        creator_name: facts.owner_name,
        expiration: model::expiration(facts.expires_at),
        has_pwd: facts.needs_code,
        require_login: facts.scope == ScopeDto::Enterprise,
        disable_preview: !facts.permissions.preview,
        disable_download: !facts.permissions.download,
        disable_save: !facts.permissions.save,
        file_count: facts.item_count,
    }))
}
