//! A share's state, folded from its events: what decisions need, nothing more.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::events::ShareEvent;
use super::settings::{Limits, Permissions, Scope, SharedItem};

/// How long a QR code stays valid after it is issued.
pub const QR_VALIDITY_DAYS: i64 = 7;

/// A QR code issued for the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrCode {
    pub id: Uuid,
    pub expires_at: DateTime<Utc>,
}

/// What recipients did (the limits count previews, downloads and saves).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub opens: u64,
    pub previews: u64,
    pub downloads: u64,
    pub saves: u64,
    pub uploads: u64,
    pub edits: u64,
    pub refused: u64,
    pub reports: u64,
}

impl Counters {
    /// Operations counted against the total limit.
    pub fn limited_total(&self) -> u64 {
        self.previews + self.downloads + self.saves
    }
}

/// The share as its events made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub id: Uuid,
    pub owner_id: String,
    pub owner_name: String,
    pub enterprise_id: String,
    pub items: Vec<SharedItem>,
    pub name: String,
    pub message: String,
    pub permissions: Permissions,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
    pub has_code: bool,
    pub code_version: u32,
    pub autofill_code: bool,
    pub limits: Limits,
    pub cancelled: bool,
    pub created_at: DateTime<Utc>,
    /// QR codes still worth remembering (issued within their validity).
    pub qr_codes: Vec<QrCode>,
    #[serde(default)]
    pub counters: Counters,
}

impl Share {
    /// Expired: the expiry instant has been reached (at the boundary: expired).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }
}

/// The aggregate's state: `None` until created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareState {
    pub share: Option<Share>,
}

/// Applies one event.
pub fn evolve(mut state: ShareState, event: &ShareEvent) -> ShareState {
    if let ShareEvent::ShareCreated(c) = event {
        state.share = Some(Share {
            id: c.share_id,
            owner_id: c.owner_id.clone(),
            owner_name: c.owner_name.clone(),
            enterprise_id: c.enterprise_id.clone(),
            items: c.items.clone(),
            name: c.name.clone(),
            message: c.message.clone(),
            permissions: c.permissions,
            scope: c.scope,
            expires_at: c.expires_at,
            has_code: c.has_code,
            code_version: c.code_version,
            autofill_code: c.autofill_code,
            limits: c.limits,
            cancelled: false,
            created_at: c.created_at,
            qr_codes: Vec::new(),
            counters: Counters::default(),
        });
        return state;
    }
    let Some(share) = state.share.as_mut() else {
        return state;
    };
    match event {
        ShareEvent::ShareCreated(_) => unreachable!("handled above"),
        ShareEvent::ShareRenamed { name } => share.name = name.clone(),
        ShareEvent::ShareMessageChanged { message } => share.message = message.clone(),
        ShareEvent::SharePermissionsChanged { permissions } => share.permissions = *permissions,
        ShareEvent::ShareScopeChanged { scope } => share.scope = *scope,
        ShareEvent::ShareExpiryChanged { expires_at } => share.expires_at = *expires_at,
        ShareEvent::ShareLimitsChanged { limits } => share.limits = *limits,
        ShareEvent::ShareAccessCodeChanged { code_version, .. } => {
            share.has_code = true;
            share.code_version = *code_version;
        }
        ShareEvent::ShareAccessCodeRemoved { code_version } => {
            share.has_code = false;
            share.code_version = *code_version;
        }
        ShareEvent::ShareAutofillChanged { autofill_code } => share.autofill_code = *autofill_code,
        ShareEvent::ShareQrCodeIssued { qr_id, expires_at } => {
            // Codes issued more than a validity period before this one have expired by now.
            let horizon = *expires_at - chrono::Duration::days(QR_VALIDITY_DAYS);
            share.qr_codes.retain(|q| q.expires_at > horizon);
            share.qr_codes.push(QrCode {
                id: *qr_id,
                expires_at: *expires_at,
            });
        }
        ShareEvent::ShareCancelled { .. } => share.cancelled = true,
        ShareEvent::ShareOpened { .. } => share.counters.opens += 1,
        ShareEvent::FilePreviewed { .. } => share.counters.previews += 1,
        ShareEvent::FileDownloaded { .. } => share.counters.downloads += 1,
        ShareEvent::FileSaved { .. } => share.counters.saves += 1,
        ShareEvent::FileUploaded { .. } => share.counters.uploads += 1,
        ShareEvent::DocumentEdited { .. } => share.counters.edits += 1,
        ShareEvent::AccessRefused { .. } => share.counters.refused += 1,
        ShareEvent::ShareReported { .. } => share.counters.reports += 1,
    }
    state
}
