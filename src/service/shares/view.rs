//! Building the answers about a share.

use chrono::{DateTime, Utc};
use shareledger_domain::policy::PolicyState;
use shareledger_domain::share::{Limits, Permissions, ShareView, SharedItem};
use shareledger_projections::my_share_links::ShareRow;

use super::dto::{CountersDto, OwnerDto, QrLinks, ShareDetails, ShareSummary, SharedItemDto};
use crate::config::Config;
use crate::service::links;

fn qr_links(id: uuid::Uuid) -> QrLinks {
    QrLinks {
        png: format!("/api/v1/shares/{id}/qr.png"),
        svg: format!("/api/v1/shares/{id}/qr.svg"),
    }
}

fn status(cancelled: bool, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    if cancelled {
        "cancelled"
    } else if expires_at.is_some_and(|at| now >= at) {
        "expired"
    } else {
        "active"
    }
    .to_owned()
}

/// Details of a share just created or replayed from its state (no access yet).
pub fn from_state(
    share: &ShareView,
    token: &str,
    code: Option<&str>,
    policy: &PolicyState,
    config: &Config,
    updated_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> ShareDetails {
    let autofill = code.filter(|_| share.autofill_code);
    ShareDetails {
        id: share.id,
        name: share.name.clone(),
        message: share.message.clone(),
        owner: OwnerDto {
            id: share.owner_id.clone(),
            name: share.owner_name.clone(),
        },
        items: share.items.iter().map(SharedItemDto::from).collect(),
        permissions: share.permissions.into(),
        scope: share.scope.into(),
        expires_at: share.expires_at,
        has_access_code: share.has_code,
        access_code: code.map(str::to_owned),
        autofill_code: share.autofill_code,
        limits: share.limits.into(),
        status: status(share.cancelled, share.expires_at, now),
        created_at: share.created_at,
        updated_at,
        cancelled_at: None,
        counters: CountersDto::default(),
        last_access_at: None,
        link: links::link(config, policy, token, autofill),
        qr: qr_links(share.id),
    }
}

fn items(row: &ShareRow) -> Vec<SharedItemDto> {
    serde_json::from_value::<Vec<SharedItem>>(row.items.clone())
        .unwrap_or_default()
        .iter()
        .map(SharedItemDto::from)
        .collect()
}

fn counters(row: &ShareRow) -> CountersDto {
    let c = row.counters;
    CountersDto {
        opens: c.opens,
        previews: c.previews,
        downloads: c.downloads,
        saves: c.saves,
        uploads: c.uploads,
        edits: c.edits,
        refused: c.refused,
        reports: c.reports,
    }
}

fn permissions(row: &ShareRow) -> Permissions {
    serde_json::from_value(row.permissions.clone()).unwrap_or_default()
}

fn limits(row: &ShareRow) -> Limits {
    serde_json::from_value(row.limits.clone()).unwrap_or_default()
}

fn scope(row: &ShareRow) -> super::dto::ScopeDto {
    if row.scope == "enterprise" {
        super::dto::ScopeDto::Enterprise
    } else {
        super::dto::ScopeDto::Anyone
    }
}

/// Details of a share from its projection row and secrets.
pub fn from_row(
    row: &ShareRow,
    token: &str,
    code: Option<&str>,
    policy: &PolicyState,
    config: &Config,
    now: DateTime<Utc>,
) -> ShareDetails {
    let autofill = code.filter(|_| row.autofill_code);
    ShareDetails {
        id: row.share_id,
        name: row.name.clone(),
        message: row.message.clone(),
        owner: OwnerDto {
            id: row.owner_id.clone(),
            name: row.owner_name.clone(),
        },
        items: items(row),
        permissions: permissions(row).into(),
        scope: scope(row),
        expires_at: row.expires_at,
        has_access_code: row.has_code,
        access_code: code.map(str::to_owned),
        autofill_code: row.autofill_code,
        limits: limits(row).into(),
        status: row.status_at(now).to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        cancelled_at: row.cancelled_at,
        counters: counters(row),
        last_access_at: row.last_access_at,
        link: links::link(config, policy, token, autofill),
        qr: qr_links(row.share_id),
    }
}

/// A row of the owner's list.
pub fn summary(row: &ShareRow, now: DateTime<Utc>) -> ShareSummary {
    ShareSummary {
        id: row.share_id,
        name: row.name.clone(),
        items: items(row),
        item_count: row.item_count,
        permissions: permissions(row).into(),
        scope: scope(row),
        expires_at: row.expires_at,
        has_access_code: row.has_code,
        limits: limits(row).into(),
        status: row.status_at(now).to_owned(),
        created_at: row.created_at,
        updated_at: row.updated_at,
        counters: counters(row),
        last_access_at: row.last_access_at,
    }
}
