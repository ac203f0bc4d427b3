//! The reference product's share-link shapes (API version 2022-03-01), field for field, and
//! the mapping from the `my_share_links` projection.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shareledger_domain::share::{Limits, Permissions, SharedItem};
use shareledger_projections::my_share_links::ShareRow;

/// `POST /v2/share_link/create`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The owner's drive: the caller's user id (the only drive a user has here).
    pub drive_id: Option<String>,
    /// 1 to 100 drive items of the caller.
    pub file_id_list: Vec<String>,
    pub share_name: Option<String>,
    pub description: Option<String>,
    /// The access code; `""` is none.
    pub share_pwd: Option<String>,
    /// RFC 3339; `""` is permanent.
    pub expiration: Option<String>,
    pub disable_preview: Option<bool>,
    pub disable_download: Option<bool>,
    pub disable_save: Option<bool>,
    /// 0 is unlimited.
    pub preview_limit: Option<i64>,
    pub download_limit: Option<i64>,
    pub save_limit: Option<i64>,
    /// Members of the owner's enterprise only.
    pub require_login: Option<bool>,
    /// Recipients may edit documents online.
    pub office_editable: Option<bool>,
    /// Recipients may upload into shared folders.
    pub creatable: Option<bool>,
    /// Not supported (refused when given).
    pub creatable_file_id_list: Option<Vec<String>>,
    /// Not supported when true.
    pub share_all_files: Option<bool>,
    /// Only the caller's own id.
    pub user_id: Option<String>,
}

/// `POST /v2/share_link/get`, `/cancel`, `/get_by_anonymous`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareIdRequest {
    pub share_id: String,
}

/// `POST /v2/share_link/update`: only the fields given change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    pub share_id: String,
    pub share_name: Option<String>,
    pub description: Option<String>,
    pub share_pwd: Option<String>,
    pub expiration: Option<String>,
    pub disable_preview: Option<bool>,
    pub disable_download: Option<bool>,
    pub disable_save: Option<bool>,
    pub preview_limit: Option<i64>,
    pub download_limit: Option<i64>,
    pub save_limit: Option<i64>,
    pub office_editable: Option<bool>,
    /// `disabled` cancels the share (for good); `enabled` keeps it.
    pub status: Option<String>,
    /// The counters are the log's to keep: refused when given.
    pub access_count: Option<i64>,
    pub preview_count: Option<i64>,
    pub download_count: Option<i64>,
    pub save_count: Option<i64>,
    pub report_count: Option<i64>,
    pub video_preview_count: Option<i64>,
}

/// `POST /v2/share_link/list`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRequest {
    pub creator: Option<String>,
    pub include_cancelled: Option<bool>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub order_by: Option<String>,
    pub order_direction: Option<String>,
}

/// `POST /v2/share_link/search`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub creators: Option<Vec<String>>,
    pub query: Option<String>,
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub order_by: Option<String>,
    pub order_direction: Option<String>,
    pub return_total_count: Option<bool>,
}

/// `POST /v2/share_link/get_share_token`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareTokenRequest {
    pub share_id: String,
    pub share_pwd: Option<String>,
    /// Seconds, in (0, 7200]; default 7200.
    pub expire_sec: Option<i64>,
}

/// A share link as the reference product describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareLink {
    /// The link's id: the token in the link (`/s/{share_id}`), as in the reference product.
    pub share_id: String,
    pub share_name: String,
    pub description: String,
    pub creator: String,
    pub drive_id: String,
    pub file_id_list: Vec<String>,
    /// The access code, for the owner only (`""`: none, or not the owner asking).
    pub share_pwd: String,
    /// RFC 3339, `""` when permanent.
    pub expiration: String,
    pub expired: bool,
    /// `enabled` or `disabled` (cancelled).
    pub status: String,
    pub disable_preview: bool,
    pub disable_download: bool,
    pub disable_save: bool,
    pub preview_limit: i64,
    pub download_limit: i64,
    pub save_limit: i64,
    pub require_login: bool,
    pub office_editable: bool,
    pub creatable: bool,
    pub created_at: String,
    pub updated_at: String,
    pub access_count: i64,
    pub preview_count: i64,
    pub download_count: i64,
    pub save_count: i64,
    pub report_count: i64,
}

/// A page of share links.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareLinkPage {
    pub items: Vec<ShareLink>,
    /// Pass as `marker` for the next page; `""` on the last one.
    pub next_marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}

/// A share token: what a recipient sends as `X-Share-Session`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShareToken {
    pub share_token: String,
    pub expires_in: i64,
}

/// What anyone holding the link may know.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnonymousShareLink {
    pub share_name: String,
    pub description: String,
    pub creator_name: String,
    pub expiration: String,
    pub has_pwd: bool,
    pub require_login: bool,
    pub disable_preview: bool,
    pub disable_download: bool,
    pub disable_save: bool,
    pub file_count: usize,
}

/// RFC 3339 in UTC, to the microsecond the log keeps (so a time read here, put in a query,
/// finds exactly that share).
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// An optional expiry: `""` when permanent.
pub fn expiration(at: Option<DateTime<Utc>>) -> String {
    at.map(time).unwrap_or_default()
}

/// A limit: 0 for unlimited.
pub fn limit(value: Option<u32>) -> i64 {
    value.map_or(0, i64::from)
}

/// A share link from its projection row, its token and (for its owner) its code.
pub fn share_link(row: &ShareRow, token: &str, code: Option<&str>, now: DateTime<Utc>) -> ShareLink {
    let permissions: Permissions = serde_json::from_value(row.permissions.clone()).unwrap_or_default();
    let limits: Limits = serde_json::from_value(row.limits.clone()).unwrap_or_default();
    let items: Vec<SharedItem> = serde_json::from_value(row.items.clone()).unwrap_or_default();
    let c = row.counters;
    ShareLink {
        share_id: token.to_owned(),
        share_name: row.name.clone(),
        description: row.message.clone(),
        creator: row.owner_id.clone(),
        drive_id: row.owner_id.clone(),
        file_id_list: items.iter().map(|i| i.id.to_string()).collect(),
        share_pwd: code.unwrap_or_default().to_owned(),
        expiration: expiration(row.expires_at),
        expired: row.status_at(now) == "expired",
        status: if row.status == "cancelled" {
            "disabled"
        } else {
            "enabled"
        }
        .to_owned(),
        disable_preview: !permissions.preview,
        disable_download: !permissions.download,
        disable_save: !permissions.save,
        preview_limit: limit(limits.preview),
        download_limit: limit(limits.download),
        save_limit: limit(limits.save),
        require_login: row.scope == "enterprise",
        office_editable: permissions.edit,
        creatable: permissions.upload,
        created_at: time(row.created_at),
        updated_at: time(row.updated_at),
        access_count: c.opens,
        preview_count: c.previews,
        download_count: c.downloads,
        save_count: c.saves,
        report_count: c.reports,
    }
}
