//! Facts decisions need, looked up before the command runs.

use chrono::NaiveDate;
use shareledger_domain::Aggregate;
use shareledger_domain::policy::{EnterprisePolicy, PolicyState};
use shareledger_domain::quota;
use shareledger_domain::share::ItemFacts;
use shareledger_projections::drive_items::{self, IdCount};
use sqlx::Row;
use std::sync::LazyLock;
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

/// The policy of a link's enterprise: the snapshot read with the link, or loaded when there was
/// none (an enterprise that never changed its policy, or a snapshot of an older schema).
pub async fn link_policy(
    state: &AppState,
    link: &crate::service::recipient::link::Link,
) -> Result<PolicyState, ApiError> {
    match &link.policy {
        Some(policy) => Ok(policy.clone()),
        None => policy(state, &link.enterprise_id).await,
    }
}

/// A policy from its snapshot's columns, read beside something else; `None` when there is no
/// snapshot or it is of another schema (the caller then loads the policy with `policy`).
pub fn policy_snapshot(schema: Option<i32>, state: Option<serde_json::Value>) -> Option<PolicyState> {
    match (schema, state) {
        (Some(EnterprisePolicy::STATE_SCHEMA), Some(state)) => serde_json::from_value(state).ok(),
        _ => None,
    }
}

/// Today's quota day in the policy's time zone, by the service's clock.
pub fn today(state: &AppState, policy: &PolicyState) -> NaiveDate {
    quota::quota_day(state.clock().now(), quota::time_zone(policy))
}

/// The policy-and-items read of `policy_and_items`, with `items` the rows of the items.
fn with_items(items: &str) -> String {
    format!(
        "SELECT p.state_schema AS policy_schema, p.state AS policy_state, i.* \
         FROM (SELECT 1) AS one \
         LEFT JOIN stream_snapshots p ON p.stream_id = $2 \
         LEFT JOIN ({items}) AS i ON true"
    )
}

/// The enterprise's policy and facts about the named drive items, in one round trip (what a
/// create decides on). The policy is loaded on its own when it has no current snapshot.
pub async fn policy_and_items(
    state: &AppState,
    enterprise_id: &str,
    ids: &[Uuid],
) -> Result<(PolicyState, Vec<ItemFacts>), ApiError> {
    static SQL: LazyLock<[String; 2]> =
        LazyLock::new(|| [IdCount::One, IdCount::Many].map(|count| with_items(drive_items::with_deleted(count))));
    let rows = sqlx::query(sqlx::AssertSqlSafe(SQL[IdCount::of(ids) as usize].as_str()))
        .bind(ids)
        .bind(EnterprisePolicy::stream_id(enterprise_id))
        .fetch_all(state.pool())
        .await?;
    let mut snapshot = None;
    let mut facts = Vec::with_capacity(rows.len());
    for row in &rows {
        if snapshot.is_none() {
            snapshot = policy_snapshot(row.try_get("policy_schema")?, row.try_get("policy_state")?);
        }
        if row.try_get::<Option<Uuid>, _>("item_id")?.is_some() {
            facts.push(item_fact(drive_items::decode_with_deleted(row)?));
        }
    }
    let policy = match snapshot {
        Some(policy) => policy,
        None => policy(state, enterprise_id).await?,
    };
    Ok((policy, facts))
}

fn item_fact((row, under_deleted): (drive_items::DriveItemRow, bool)) -> ItemFacts {
    ItemFacts {
        deleted: row.deleted || under_deleted,
        id: row.id,
        name: row.name,
        kind: row.kind,
        owner_id: row.owner_id,
    }
}

/// Facts about a parent folder, when one is named.
pub async fn parent_facts(
    state: &AppState,
    parent: Option<Uuid>,
) -> Result<Option<shareledger_domain::drive::ParentFacts>, ApiError> {
    let Some(id) = parent else { return Ok(None) };
    let Some((row, under_deleted)) = drive_items::get_many_with_deleted(state.pool(), &[id]).await?.pop() else {
        return Ok(None);
    };
    Ok(Some(shareledger_domain::drive::ParentFacts {
        id,
        owner_id: row.owner_id,
        kind: row.kind,
        deleted: row.deleted || under_deleted,
    }))
}
