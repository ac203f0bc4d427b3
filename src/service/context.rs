//! Facts decisions need, looked up before the command runs.

use chrono::NaiveDate;
use shareledger_domain::Aggregate;
use shareledger_domain::policy::{EnterprisePolicy, PolicyState};
use shareledger_domain::quota;
use shareledger_domain::share::ItemFacts;
use shareledger_projections::drive_items;
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::state::AppState;

/// The enterprise's current policy (defaults until an admin changed something).
pub async fn policy(state: &AppState, enterprise_id: &str) -> Result<PolicyState, ApiError> {
    let stream = EnterprisePolicy::stream_id(enterprise_id);
    Ok(crate::runtime::load::<EnterprisePolicy>(state.pool(), &stream, false)
        .await?
        .state)
}

/// Today's quota day in the policy's time zone, by the service's clock.
pub fn today(state: &AppState, policy: &PolicyState) -> NaiveDate {
    quota::quota_day(state.clock().now(), quota::time_zone(policy))
}

/// Facts about the named drive items (unknown ids are simply absent).
pub async fn item_facts(state: &AppState, ids: &[Uuid]) -> Result<Vec<ItemFacts>, ApiError> {
    let rows = drive_items::get_many(state.pool(), ids).await?;
    let deleted = drive_items::deleted_among(state.pool(), ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| ItemFacts {
            deleted: row.deleted || deleted.contains(&row.id),
            id: row.id,
            name: row.name,
            kind: row.kind,
            owner_id: row.owner_id,
        })
        .collect())
}

/// Facts about a parent folder, when one is named.
pub async fn parent_facts(
    state: &AppState,
    parent: Option<Uuid>,
) -> Result<Option<shareledger_domain::drive::ParentFacts>, ApiError> {
    let Some(id) = parent else { return Ok(None) };
    let Some(row) = drive_items::get(state.pool(), id).await? else {
        return Ok(None);
    };
    let deleted = row.deleted || !drive_items::deleted_among(state.pool(), &[id]).await?.is_empty();
    Ok(Some(shareledger_domain::drive::ParentFacts {
        id,
        owner_id: row.owner_id,
        kind: row.kind,
        deleted,
    }))
}
