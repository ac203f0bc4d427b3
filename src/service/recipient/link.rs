//! From a link token to its share: the lookup (by the token's SHA-256), the token-guessing
//! throttle, and the refusals a recipient sees.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shareledger_domain::share::{RefusalReason, SharedItem};
use sqlx::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::crypto::tokens::{is_well_formed, token_hash};
use crate::http::error::ApiError;
use crate::service::shares::dto::{PermissionsDto, ScopeDto};
use crate::state::AppState;

/// A resolved link.
#[derive(Debug, Clone)]
pub struct Link {
    pub token: String,
    pub share_id: Uuid,
    pub owner_id: String,
    pub enterprise_id: String,
    pub items: Vec<SharedItem>,
    pub code_hash: Option<String>,
    pub code_version: u32,
}

/// The same answer for an unknown and a malformed token: nothing to tell them apart.
pub fn unknown_link() -> ApiError {
    ApiError::not_found("There is no share at this link.")
}

/// Too many attempts from this client.
pub fn too_many(code: &'static str, detail: &str, retry_after: u64) -> ApiError {
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, detail).with_retry_after(retry_after)
}

/// The answer to a refused recipient: the status for the reason, its code and message.
pub fn refusal(reason: RefusalReason, retry_after: Option<u64>) -> ApiError {
    let status = match reason {
        RefusalReason::Cancelled | RefusalReason::Expired | RefusalReason::ItemDeleted | RefusalReason::QrExpired => {
            StatusCode::GONE
        }
        RefusalReason::SignInRequired | RefusalReason::CodeMissing | RefusalReason::SessionEnded => {
            StatusCode::UNAUTHORIZED
        }
        RefusalReason::CodeThrottled | RefusalReason::QuotaUsed => StatusCode::TOO_MANY_REQUESTS,
        RefusalReason::ItemNotShared => StatusCode::NOT_FOUND,
        RefusalReason::SharingDisabled
        | RefusalReason::NotAMember
        | RefusalReason::CodeWrong
        | RefusalReason::NoPermission
        | RefusalReason::LimitReached
        | RefusalReason::FileTypeBlocked
        | RefusalReason::EditingDisabled => StatusCode::FORBIDDEN,
    };
    let error = ApiError::new(status, reason.code(), reason.message()).with("reason", reason.code());
    match retry_after {
        Some(seconds) => error.with_retry_after(seconds),
        None => error,
    }
}

/// Finds the share of a link token. Unknown tokens count against the client's guessing budget;
/// a client over it gets 429 for every token until the window passes.
pub async fn resolve(state: &AppState, token: &str, client: &str) -> Result<Link, ApiError> {
    let guessing = || {
        too_many(
            "too_many_requests",
            "Too many unknown links were tried from here. Wait and try again.",
            60,
        )
    };
    if let Some(wait) = state.throttles().guesses.blocked(client) {
        return Err(guessing().with_retry_after(wait));
    }
    if !is_well_formed(token) {
        state.throttles().guesses.hit(client);
        return Err(unknown_link());
    }
    let row = sqlx::query(
        "SELECT s.share_id, s.code_hash, s.code_version, m.owner_id, m.enterprise_id, m.items \
         FROM share_secrets s JOIN my_share_links m USING (share_id) WHERE s.token_hash = $1",
    )
    .bind(&token_hash(token)[..])
    .fetch_optional(state.pool())
    .await?;
    let Some(row) = row else {
        if let Some(wait) = state.throttles().guesses.hit(client) {
            return Err(guessing().with_retry_after(wait));
        }
        return Err(unknown_link());
    };
    Ok(Link {
        token: token.to_owned(),
        share_id: row.try_get(0)?,
        code_hash: row.try_get(1)?,
        code_version: u32::try_from(row.try_get::<i32, _>(2)?).unwrap_or(0),
        owner_id: row.try_get(3)?,
        enterprise_id: row.try_get(4)?,
        items: serde_json::from_value(row.try_get(5)?).unwrap_or_default(),
    })
}

/// What anyone holding the link may know before opening it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkFacts {
    pub name: String,
    pub message: String,
    pub owner_name: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether an access code must be given to open it.
    pub needs_code: bool,
    pub scope: ScopeDto,
    pub permissions: PermissionsDto,
    pub item_count: usize,
}
