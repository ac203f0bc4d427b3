//! The shapes of shares in the API (requests and answers), mirrored from the domain so the API
//! contract is explicit (and documented in OpenAPI) and can evolve on its own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shareledger_domain::drive::ItemKind;
use shareledger_domain::share::{Limits, Permissions, Scope, SharedItem};
use utoipa::ToSchema;
use uuid::Uuid;

/// What recipients may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsDto {
    #[serde(default)]
    pub preview: bool,
    #[serde(default)]
    pub download: bool,
    /// Save a copy into the recipient's own drive.
    #[serde(default)]
    pub save: bool,
    /// Upload into a shared folder (folder shares only).
    #[serde(default)]
    pub upload: bool,
    /// Edit documents online (only if the enterprise allows online-editing shares).
    #[serde(default)]
    pub edit: bool,
}

impl From<PermissionsDto> for Permissions {
    fn from(p: PermissionsDto) -> Self {
        Permissions {
            preview: p.preview,
            download: p.download,
            save: p.save,
            upload: p.upload,
            edit: p.edit,
        }
    }
}

impl From<Permissions> for PermissionsDto {
    fn from(p: Permissions) -> Self {
        PermissionsDto {
            preview: p.preview,
            download: p.download,
            save: p.save,
            upload: p.upload,
            edit: p.edit,
        }
    }
}

/// Who may open the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScopeDto {
    /// Anyone holding the link.
    Anyone,
    /// Signed-in members of the owner's enterprise only.
    Enterprise,
}

impl From<ScopeDto> for Scope {
    fn from(s: ScopeDto) -> Self {
        match s {
            ScopeDto::Anyone => Scope::Anyone,
            ScopeDto::Enterprise => Scope::Enterprise,
        }
    }
}

impl From<Scope> for ScopeDto {
    fn from(s: Scope) -> Self {
        match s {
            Scope::Anyone => ScopeDto::Anyone,
            Scope::Enterprise => ScopeDto::Enterprise,
        }
    }
}

/// Operation limits; absent or null is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsDto {
    /// Previews, downloads and saves together.
    #[serde(default)]
    pub total: Option<u32>,
    #[serde(default)]
    pub preview: Option<u32>,
    #[serde(default)]
    pub download: Option<u32>,
    #[serde(default)]
    pub save: Option<u32>,
}

impl From<LimitsDto> for Limits {
    fn from(l: LimitsDto) -> Self {
        Limits {
            total: l.total,
            preview: l.preview,
            download: l.download,
            save: l.save,
        }
    }
}

impl From<Limits> for LimitsDto {
    fn from(l: Limits) -> Self {
        LimitsDto {
            total: l.total,
            preview: l.preview,
            download: l.download,
            save: l.save,
        }
    }
}

/// A shared file or folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SharedItemDto {
    pub id: Uuid,
    pub name: String,
    /// `file` or `folder`.
    pub kind: String,
}

impl From<&SharedItem> for SharedItemDto {
    fn from(i: &SharedItem) -> Self {
        SharedItemDto {
            id: i.id,
            name: i.name.clone(),
            kind: match i.kind {
                ItemKind::File => "file",
                ItemKind::Folder => "folder",
            }
            .to_owned(),
        }
    }
}

/// What recipients did with a share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CountersDto {
    pub opens: i64,
    pub previews: i64,
    pub downloads: i64,
    pub saves: i64,
    pub uploads: i64,
    pub edits: i64,
    pub refused: i64,
    pub reports: i64,
}

/// Where the share's QR codes are fetched (each fetch issues a new code valid for 7 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct QrLinks {
    pub png: String,
    pub svg: String,
}

/// The owner of a share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OwnerDto {
    pub id: String,
    pub name: String,
}

/// A share as its owner (or an enterprise admin) sees it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShareDetails {
    pub id: Uuid,
    pub name: String,
    pub message: String,
    pub owner: OwnerDto,
    pub items: Vec<SharedItemDto>,
    pub permissions: PermissionsDto,
    pub scope: ScopeDto,
    /// Null: permanent.
    pub expires_at: Option<DateTime<Utc>>,
    pub has_access_code: bool,
    /// The access code, for the owner to pass on (null when there is none).
    pub access_code: Option<String>,
    /// Whether the copied link carries the code.
    pub autofill_code: bool,
    pub limits: LimitsDto,
    /// `active`, `expired` or `cancelled`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub counters: CountersDto,
    pub last_access_at: Option<DateTime<Utc>>,
    /// The link to copy (with the code when auto-fill is on).
    pub link: String,
    pub qr: QrLinks,
}

/// A share in the owner's list: no access code, and a link without it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ShareSummary {
    pub id: Uuid,
    pub name: String,
    pub items: Vec<SharedItemDto>,
    pub item_count: i32,
    pub permissions: PermissionsDto,
    pub scope: ScopeDto,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_access_code: bool,
    pub limits: LimitsDto,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub counters: CountersDto,
    pub last_access_at: Option<DateTime<Utc>>,
}

/// One page of the owner's shares.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SharePage {
    pub items: Vec<ShareSummary>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A new share.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShareRequest {
    /// 1 to 100 drive items (files or folders) of yours.
    #[schema(min_items = 1, max_items = 100)]
    pub items: Vec<Uuid>,
    /// At most 128 characters; default: the first item's name.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub name: Option<String>,
    /// At most 1024 characters.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub message: Option<String>,
    /// Default: preview and download.
    #[serde(default)]
    pub permissions: Option<PermissionsDto>,
    /// Default: anyone.
    #[serde(default)]
    pub scope: Option<ScopeDto>,
    /// Omitted or null: permanent. Must be in the future.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// 4 to 64 visible ASCII characters, taken exactly as given.
    #[serde(default)]
    #[schema(pattern = "^[!-~]{4,64}$")]
    pub access_code: Option<String>,
    /// Let the service generate a code (instead of `access_code`).
    #[serde(default)]
    pub generate_access_code: bool,
    /// Put the code in the link the owner copies.
    #[serde(default)]
    pub autofill_code: bool,
    #[serde(default)]
    pub limits: Option<LimitsDto>,
}

/// A change of settings: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeShareRequest {
    /// At most 128 characters.
    #[serde(default)]
    #[schema(max_length = 128)]
    pub name: Option<String>,
    /// At most 1024 characters.
    #[serde(default)]
    #[schema(max_length = 1024)]
    pub message: Option<String>,
    #[serde(default)]
    pub permissions: Option<PermissionsDto>,
    #[serde(default)]
    pub scope: Option<ScopeDto>,
    /// A new expiry; `null` makes the link permanent; omit to keep it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    /// A new access code: 4 to 64 visible ASCII characters, taken exactly as given.
    #[serde(default)]
    #[schema(pattern = "^[!-~]{4,64}$")]
    pub access_code: Option<String>,
    /// Generate a new access code.
    #[serde(default)]
    pub generate_access_code: bool,
    /// Remove the access code.
    #[serde(default)]
    pub remove_access_code: bool,
    #[serde(default)]
    pub autofill_code: Option<bool>,
    /// Replaces all limits.
    #[serde(default)]
    pub limits: Option<LimitsDto>,
}

/// Tells "given as null" (`Some(None)`) from "not given" (`None`, by `default`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Option::deserialize(deserializer)?))
}

/// A cancel, with an optional reason for the record.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    #[serde(default)]
    pub reason: Option<String>,
}

/// Cancel several shares.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkCancelRequest {
    /// 1 to 100 share ids.
    #[schema(min_items = 1, max_items = 100)]
    pub ids: Vec<Uuid>,
}

/// The result for one id of a bulk cancel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BulkCancelResult {
    pub id: Uuid,
    /// `cancelled`, `already_cancelled` or `not_found`.
    pub outcome: String,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// Results of a bulk cancel, in the order of the ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BulkCancelResponse {
    pub results: Vec<BulkCancelResult>,
}

/// The link to copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkResponse {
    pub url: String,
    /// Whether the URL carries the access code.
    pub includes_access_code: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One event of a share's history.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub position: i64,
    pub version: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The user who acted (absent for anonymous visitors).
    pub actor: Option<String>,
    /// `user`, `admin`, `anonymous` or `system`.
    pub actor_kind: Option<String>,
    pub data: serde_json::Value,
}

impl From<shareledger_domain::log::StoredEvent> for HistoryEntry {
    fn from(e: shareledger_domain::log::StoredEvent) -> Self {
        let meta = e.meta();
        let (actor, actor_kind) = (meta.actor.0.map(Into::into), meta.actor_kind.0.map(Into::into));
        HistoryEntry {
            position: e.global_position,
            version: e.stream_version,
            occurred_at: e.occurred_at,
            actor,
            actor_kind,
            event_type: e.event_type,
            data: e.payload.into_value(),
        }
    }
}

/// A share's own events, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HistoryResponse {
    pub events: Vec<HistoryEntry>,
}
