//! Reading shares: details, the owner's search, the link, the history.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use shareledger_domain::Actor;
use shareledger_projections::my_share_links::{self, OrderBy, Search, ShareRow, StatusFilter};
use shareledger_projections::page::PageCursor;
use utoipa::IntoParams;
use uuid::Uuid;

use super::dto::{HistoryEntry, HistoryResponse, LinkResponse, ShareDetails, SharePage};
use super::view;
use crate::http::error::ApiError;
use crate::service::{context, secrets};
use crate::state::AppState;
use crate::store::read_stream;

/// The share, if the actor may manage it (owner or enterprise admin); otherwise 404, so
/// nobody learns which share ids exist.
async fn managed_row(state: &AppState, actor: &Actor, id: Uuid) -> Result<ShareRow, ApiError> {
    my_share_links::get(state.pool(), id)
        .await?
        .filter(|row| actor.manages(&row.owner_id, &row.enterprise_id))
        .ok_or_else(|| ApiError::not_found("No such share."))
}

/// Details of a share for its owner (with the access code) or an enterprise admin (without).
pub async fn details(state: &AppState, actor: &Actor, id: Uuid) -> Result<ShareDetails, ApiError> {
    let row = managed_row(state, actor, id).await?;
    let secrets = secrets::read(state.pool(), &state.keys().seal, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("share {id} has no secrets row")))?;
    let policy = context::policy(state, &row.enterprise_id).await?;
    // The code is the owner's to pass on; an admin managing the share does not see it.
    let code = secrets.code.as_deref().filter(|_| actor.user_id == row.owner_id);
    Ok(view::from_row(
        &row,
        &secrets.token,
        code,
        &policy,
        state.config(),
        state.clock().now(),
    ))
}

/// The link to copy (with the code when auto-fill is on).
pub async fn link(state: &AppState, actor: &Actor, id: Uuid) -> Result<LinkResponse, ApiError> {
    let details = details(state, actor, id).await?;
    Ok(LinkResponse {
        includes_access_code: details.autofill_code && details.access_code.is_some(),
        url: details.link,
        expires_at: details.expires_at,
    })
}

/// The query string of `GET /api/v1/shares`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Substring of the name (case-insensitive).
    pub q: Option<String>,
    /// Created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// `active` (default), `expired`, `cancelled` or `all`.
    #[param(pattern = "^(active|expired|cancelled|all)$")]
    pub status: Option<String>,
    /// `created` (default), `updated` or `name`.
    #[param(pattern = "^(created|updated|name)$")]
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    #[param(pattern = "^(desc|asc)$")]
    pub order: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn invalid(code: &'static str, detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

/// The owner's shares, searched, sorted and paged.
pub async fn list(state: &AppState, actor: &Actor, params: ListParams) -> Result<SharePage, ApiError> {
    let status = match params.status.as_deref().unwrap_or("active") {
        "active" => StatusFilter::Active,
        "expired" => StatusFilter::Expired,
        "cancelled" => StatusFilter::Cancelled,
        "all" => StatusFilter::All,
        _ => {
            return Err(invalid(
                "status_invalid",
                "status is active, expired, cancelled or all.",
            ));
        }
    };
    let order_by = match params.order_by.as_deref().unwrap_or("created") {
        "created" | "created_at" => OrderBy::Created,
        "updated" | "updated_at" => OrderBy::Updated,
        "name" => OrderBy::Name,
        _ => return Err(invalid("order_by_invalid", "order_by is created, updated or name.")),
    };
    let descending = match params.order.as_deref().unwrap_or("desc") {
        "desc" => true,
        "asc" => false,
        _ => return Err(invalid("order_invalid", "order is asc or desc.")),
    };
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(invalid("limit_invalid", "limit is 1 to 100."));
    }
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 128) {
        return Err(invalid("q_invalid", "The search text is at most 128 characters."));
    }
    let after = match &params.cursor {
        Some(text) => Some(
            PageCursor::decode(text)
                .ok_or_else(|| invalid("cursor_invalid", "The cursor is not one this service gave out."))?,
        ),
        None => None,
    };
    let now = state.clock().now();
    let search = Search {
        owner_id: actor.user_id.clone(),
        q: params.q,
        created_after: params.created_after,
        created_before: params.created_before,
        status,
        order_by,
        descending,
        limit,
        after,
        now,
        filter: None,
    };
    let page = state
        .names()
        .search(state.pool(), &search)
        .await?
        .map_err(|_| invalid("cursor_invalid", "The cursor belongs to a search with another order."))?;
    Ok(SharePage {
        items: page.rows.iter().map(|row| view::summary(row, now)).collect(),
        next_cursor: page.next.map(|c| c.encode()),
    })
}

/// The share's own events, oldest first (no secret is ever in one).
pub async fn history(state: &AppState, actor: &Actor, id: Uuid) -> Result<HistoryResponse, ApiError> {
    managed_row(state, actor, id).await?;
    let stream = format!("share-{id}");
    let events = read_stream(state.pool(), &stream, 0).await?;
    Ok(HistoryResponse {
        events: events.into_iter().map(HistoryEntry::from).collect(),
    })
}
