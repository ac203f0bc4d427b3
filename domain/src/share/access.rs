//! The vocabulary of recipients: who visits, what they do, why they are refused.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who opens a link: a signed-in user, or an anonymous holder of the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Visitor {
    User {
        user_id: String,
        enterprise_id: String,
    },
    /// `visitor_id` is random per share session (unique-visitor counts without identifying).
    Anonymous {
        visitor_id: Uuid,
    },
}

impl Visitor {
    /// The signed-in user's id, if any.
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Visitor::User { user_id, .. } => Some(user_id),
            Visitor::Anonymous { .. } => None,
        }
    }
}

/// What a recipient does with a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Open,
    List,
    Preview,
    Download,
    Save,
    Upload,
    Edit,
}

impl Operation {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Open => "open",
            Operation::List => "list",
            Operation::Preview => "preview",
            Operation::Download => "download",
            Operation::Save => "save",
            Operation::Upload => "upload",
            Operation::Edit => "edit",
        }
    }
}

/// Why a recipient was refused: what they are told, and what the `AccessRefused` event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The owner cancelled the link.
    Cancelled,
    /// The link's expiry has passed.
    Expired,
    /// The enterprise switched off this kind of link.
    SharingDisabled,
    /// An enterprise-only link and the visitor is not signed in.
    SignInRequired,
    /// An enterprise-only link and the visitor belongs to another enterprise.
    NotAMember,
    /// A code is needed and none was given.
    CodeMissing,
    /// The code is wrong.
    CodeWrong,
    /// Too many wrong codes: attempts are paused for a while.
    CodeThrottled,
    /// The link's code changed (or the link was cancelled) since the session began.
    SessionEnded,
    /// The link does not allow this operation.
    NoPermission,
    /// The link's limit for this operation (or in total) is used up.
    LimitReached,
    /// The original file was deleted by its owner.
    ItemDeleted,
    /// The item is not part of this share.
    ItemNotShared,
    /// The visitor's daily quota of shares is used up.
    QuotaUsed,
    /// APK and IPA files cannot be downloaded from this link.
    FileTypeBlocked,
    /// The enterprise does not allow editing through links.
    EditingDisabled,
    /// The QR code used is older than its 7 days.
    QrExpired,
}

impl RefusalReason {
    /// Stable machine code (also the HTTP problem code).
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::Cancelled => "share_cancelled",
            RefusalReason::Expired => "share_expired",
            RefusalReason::SharingDisabled => "sharing_disabled",
            RefusalReason::SignInRequired => "sign_in_required",
            RefusalReason::NotAMember => "not_a_member",
            RefusalReason::CodeMissing => "access_code_required",
            RefusalReason::CodeWrong => "access_code_wrong",
            RefusalReason::CodeThrottled => "access_code_throttled",
            RefusalReason::SessionEnded => "session_ended",
            RefusalReason::NoPermission => "no_permission",
            RefusalReason::LimitReached => "limit_reached",
            RefusalReason::ItemDeleted => "item_deleted",
            RefusalReason::ItemNotShared => "item_not_shared",
            RefusalReason::QuotaUsed => "daily_quota_exceeded",
            RefusalReason::FileTypeBlocked => "file_type_blocked",
            RefusalReason::EditingDisabled => "online_editing_disabled",
            RefusalReason::QrExpired => "qr_code_expired",
        }
    }

    /// What the recipient reads.
    pub fn message(self) -> &'static str {
        match self {
            RefusalReason::Cancelled => "The owner has cancelled this link.",
            RefusalReason::Expired => "This link has expired.",
            RefusalReason::SharingDisabled => {
                "Sharing through this kind of link is switched off by the owner's organisation."
            }
            RefusalReason::SignInRequired => "This link is for members of the owner's organisation: sign in first.",
            RefusalReason::NotAMember => "This link is only for members of the owner's organisation.",
            RefusalReason::CodeMissing => "This link needs an access code.",
            RefusalReason::CodeWrong => "The access code is not right.",
            RefusalReason::CodeThrottled => "Too many wrong codes were tried. Wait a while and try again.",
            RefusalReason::SessionEnded => "The link changed since you opened it: open it again.",
            RefusalReason::NoPermission => "This link does not allow that.",
            RefusalReason::LimitReached => "This link has been used as many times as its owner allowed.",
            RefusalReason::ItemDeleted => "The original file has been deleted by its owner.",
            RefusalReason::ItemNotShared => "That file is not part of this link.",
            RefusalReason::QuotaUsed => "You have opened as many shared links today as allowed. Try again tomorrow.",
            RefusalReason::FileTypeBlocked => "App installation files (APK, IPA) cannot be downloaded from this link.",
            RefusalReason::EditingDisabled => "Editing through links is switched off by the owner's organisation.",
            RefusalReason::QrExpired => {
                "This QR code has expired: ask the owner for a new one (the link itself may still work)."
            }
        }
    }
}

/// The outcome of checking a code, done by the caller (argon2 is not the domain's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// The link has no code (or the visitor needs none).
    NotNeeded,
    Missing,
    /// Checked against the code of this version.
    Correct {
        version: u32,
    },
    Wrong,
    Throttled,
}

/// A recipient opening a link (starting a share session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenShare {
    pub session_id: Uuid,
    pub visitor: Visitor,
    pub code: CodeCheck,
    /// The QR code the link came from, if any.
    pub qr_id: Option<Uuid>,
    /// The visitor's quota day (signed-in visitors only), recorded for the quota projection.
    pub quota_day: Option<NaiveDate>,
}

/// Facts about the item an operation touches, looked up by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemAccess {
    pub id: Uuid,
    pub name: String,
    /// Part of the share: a shared item or inside a shared folder.
    pub in_share: bool,
    /// The item, or a folder above it, is deleted.
    pub deleted: bool,
    /// A file (not a folder).
    pub is_file: bool,
}

/// A recipient's operation within a share session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessShare {
    pub session_id: Uuid,
    pub visitor: Visitor,
    /// The code version the session was opened with.
    pub code_version: u32,
    pub operation: Operation,
    /// The item (for list: the folder, or none for the top level; for upload: the folder).
    pub item: Option<ItemAccess>,
    /// False for a byte range continuing a download this session already counted.
    pub counted: bool,
    /// Bytes served or stored, recorded with the event.
    pub bytes: Option<u64>,
    /// The item created by a save or an upload.
    pub new_item: Option<Uuid>,
    /// The uploaded file's name.
    pub new_name: Option<String>,
}
