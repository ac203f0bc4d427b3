//! What happens to a share, in the past tense. Fine-grained so an auditor reads exactly what
//! changed; the actor, time and origin are in each event's metadata. No secret is ever in one:
//! access codes appear only as a version number.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::access::{Operation, RefusalReason, Visitor};
use super::settings::{Limits, Permissions, Scope, SharedItem};
use crate::event::{DecodeError, DomainEvent, decode_tagged, encode_tagged};

/// The link was created with these settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareCreated {
    pub share_id: Uuid,
    pub owner_id: String,
    pub owner_name: String,
    pub enterprise_id: String,
    pub items: Vec<SharedItem>,
    pub name: String,
    pub message: String,
    pub permissions: Permissions,
    pub scope: Scope,
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether an access code protects the link (the code itself is sealed elsewhere).
    pub has_code: bool,
    /// Bumped on every code change; share sessions are bound to it.
    pub code_version: u32,
    pub code_generated: bool,
    pub autofill_code: bool,
    pub limits: Limits,
    pub created_at: DateTime<Utc>,
    /// The owner's quota day (enterprise time zone) this create counted against.
    pub quota_day: NaiveDate,
}

/// Every event of a share's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum ShareEvent {
    ShareCreated(Box<ShareCreated>),
    ShareRenamed {
        name: String,
    },
    ShareMessageChanged {
        message: String,
    },
    SharePermissionsChanged {
        permissions: Permissions,
    },
    ShareScopeChanged {
        scope: Scope,
    },
    ShareExpiryChanged {
        expires_at: Option<DateTime<Utc>>,
    },
    ShareLimitsChanged {
        limits: Limits,
    },
    ShareAccessCodeChanged {
        code_version: u32,
        generated: bool,
    },
    ShareAccessCodeRemoved {
        code_version: u32,
    },
    ShareAutofillChanged {
        autofill_code: bool,
    },
    ShareQrCodeIssued {
        qr_id: Uuid,
        expires_at: DateTime<Utc>,
    },
    ShareCancelled {
        reason: Option<String>,
    },
    /// A recipient opened the link (a share session began).
    ShareOpened {
        session_id: Uuid,
        visitor: Visitor,
        qr_id: Option<Uuid>,
        /// The visitor's quota day (signed-in visitors), for the access-quota projection.
        quota_day: Option<NaiveDate>,
    },
    FilePreviewed {
        session_id: Uuid,
        item_id: Uuid,
    },
    FileDownloaded {
        session_id: Uuid,
        item_id: Uuid,
        bytes: Option<u64>,
    },
    /// A copy went into the recipient's own drive as `saved_as`.
    FileSaved {
        session_id: Uuid,
        item_id: Uuid,
        saved_as: Uuid,
    },
    /// A file was uploaded into the shared folder `folder_id` (owned by the share's owner).
    FileUploaded {
        session_id: Uuid,
        folder_id: Uuid,
        item_id: Uuid,
        name: String,
        bytes: u64,
    },
    DocumentEdited {
        session_id: Uuid,
        item_id: Uuid,
        bytes: u64,
    },
    /// Any refused attempt, with its reason.
    AccessRefused {
        operation: Operation,
        reason: RefusalReason,
        item_id: Option<Uuid>,
        session_id: Option<Uuid>,
    },
    /// A recipient reported the link as abusive.
    ShareReported {
        reason: String,
    },
}

impl DomainEvent for ShareEvent {
    fn event_type(&self) -> &'static str {
        match self {
            ShareEvent::ShareCreated(_) => "ShareCreated",
            ShareEvent::ShareRenamed { .. } => "ShareRenamed",
            ShareEvent::ShareMessageChanged { .. } => "ShareMessageChanged",
            ShareEvent::SharePermissionsChanged { .. } => "SharePermissionsChanged",
            ShareEvent::ShareScopeChanged { .. } => "ShareScopeChanged",
            ShareEvent::ShareExpiryChanged { .. } => "ShareExpiryChanged",
            ShareEvent::ShareLimitsChanged { .. } => "ShareLimitsChanged",
            ShareEvent::ShareAccessCodeChanged { .. } => "ShareAccessCodeChanged",
            ShareEvent::ShareAccessCodeRemoved { .. } => "ShareAccessCodeRemoved",
            ShareEvent::ShareAutofillChanged { .. } => "ShareAutofillChanged",
            ShareEvent::ShareQrCodeIssued { .. } => "ShareQrCodeIssued",
            ShareEvent::ShareCancelled { .. } => "ShareCancelled",
            ShareEvent::ShareOpened { .. } => "ShareOpened",
            ShareEvent::FilePreviewed { .. } => "FilePreviewed",
            ShareEvent::FileDownloaded { .. } => "FileDownloaded",
            ShareEvent::FileSaved { .. } => "FileSaved",
            ShareEvent::FileUploaded { .. } => "FileUploaded",
            ShareEvent::DocumentEdited { .. } => "DocumentEdited",
            ShareEvent::AccessRefused { .. } => "AccessRefused",
            ShareEvent::ShareReported { .. } => "ShareReported",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }

    fn to_payload(&self) -> Value {
        encode_tagged(self)
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &crate::json::LazyJson,
    ) -> Result<Self, DecodeError> {
        if schema_version > 1 {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_owned(),
                found: schema_version,
                known: 1,
            });
        }
        decode_tagged(event_type, schema_version, payload)
    }
}
