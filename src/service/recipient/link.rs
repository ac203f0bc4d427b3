//! From a link token to its share: the lookup (by the token's SHA-256), the token-guessing
//! throttle, and the refusals a recipient sees.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use shareledger_domain::Aggregate;
use shareledger_domain::policy::{EnterprisePolicy, PolicyState};
use shareledger_domain::share::{RefusalReason, SharedItem};
use shareledger_projections::drive_items::{self, DriveItemRow};
use sqlx::Row;
use std::sync::LazyLock;
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
    /// The enterprise's policy as its snapshot held it when the link was resolved (read in the
    /// same query); `None` when there is no current snapshot, and the policy is loaded instead.
    pub policy: Option<PolicyState>,
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
    Ok(resolve_with_item(state, token, client, None).await?.0)
}

/// The statement behind `resolve_with_item`: the link, its enterprise's policy snapshot and,
/// when an item is named, the item and the folders above it (nearest first), as one row per
/// level (or one row with no item when none is named or found).
static RESOLVE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE link AS ( \
             SELECT s.share_id AS link_share_id, s.code_hash AS link_code_hash, \
                    s.code_version AS link_code_version, m.owner_id AS link_owner_id, \
                    m.enterprise_id AS link_enterprise_id, m.items AS link_items, \
                    p.state_schema AS link_policy_schema, p.state AS link_policy \
             FROM share_secrets s JOIN my_share_links m USING (share_id) \
             LEFT JOIN stream_snapshots p ON p.stream_id = $2 || m.enterprise_id \
             WHERE s.token_hash = $1), \
         {} \
         SELECT link.*, up.* FROM link LEFT JOIN up ON true ORDER BY up.depth",
        drive_items::chain_cte("item_id = $3 AND EXISTS (SELECT 1 FROM link)")
    )
});

/// `resolve`, and in the same round trip the chain of `item` (the item, then the folders above
/// it, nearest first; empty when it does not exist), which every request on an item needs.
pub async fn resolve_with_item(
    state: &AppState,
    token: &str,
    client: &str,
    item: Option<Uuid>,
) -> Result<(Link, Vec<DriveItemRow>), ApiError> {
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
    let rows = sqlx::query(sqlx::AssertSqlSafe(RESOLVE.as_str()))
        .bind(&token_hash(token)[..])
        .bind(format!("{}-", EnterprisePolicy::STREAM_PREFIX))
        .bind(item)
        .fetch_all(state.pool())
        .await?;
    let Some(row) = rows.first() else {
        if let Some(wait) = state.throttles().guesses.hit(client) {
            return Err(guessing().with_retry_after(wait));
        }
        return Err(unknown_link());
    };
    let link = Link {
        token: token.to_owned(),
        share_id: row.try_get("link_share_id")?,
        code_hash: row.try_get("link_code_hash")?,
        code_version: u32::try_from(row.try_get::<i32, _>("link_code_version")?).unwrap_or(0),
        owner_id: row.try_get("link_owner_id")?,
        enterprise_id: row.try_get("link_enterprise_id")?,
        items: serde_json::from_value(row.try_get("link_items")?).unwrap_or_default(),
        policy: crate::service::context::policy_snapshot(
            row.try_get("link_policy_schema")?,
            row.try_get("link_policy")?,
        ),
    };
    let mut chain = Vec::new();
    for row in &rows {
        if row.try_get::<Option<Uuid>, _>("item_id")?.is_some() {
            chain.push(drive_items::decode(row)?);
        }
    }
    Ok((link, chain))
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
