//! Why a share command is refused, each with a stable code.

use crate::refusal::{Refusal, RefusalKind};

use super::settings::{CODE_MAX_LEN, CODE_MIN_LEN, MAX_ITEMS, MAX_MESSAGE_CHARS, MAX_NAME_CHARS};

/// A refused share command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareError {
    #[error("no such share")]
    NotFound,
    #[error("a share with this id already exists")]
    AlreadyExists,
    #[error("this role cannot create shares")]
    Forbidden,
    #[error("a share needs at least one item")]
    NoItems,
    #[error("a share can hold at most {MAX_ITEMS} items")]
    TooManyItems,
    #[error("the same item is listed twice")]
    DuplicateItems,
    #[error("item {0} does not exist in your drive")]
    ItemNotFound(uuid::Uuid),
    #[error("item {0} is deleted")]
    ItemDeleted(uuid::Uuid),
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    NameTooLong,
    #[error("the name is empty or contains control characters")]
    NameInvalid,
    #[error("the message is longer than {MAX_MESSAGE_CHARS} characters")]
    MessageTooLong,
    #[error("the message contains control characters")]
    MessageInvalid,
    #[error("the expiry is not in the future")]
    ExpiryInPast,
    #[error("access codes are {CODE_MIN_LEN} to {CODE_MAX_LEN} visible ASCII characters")]
    AccessCodeInvalid,
    #[error("limits are whole numbers from 1 up, or absent for unlimited")]
    LimitInvalid,
    #[error("a share must allow at least one operation")]
    NoPermissions,
    #[error("upload is only possible on shares of folders")]
    UploadNeedsFolders,
    #[error("the enterprise does not allow online-editing shares")]
    OnlineEditingDisabled,
    #[error("the enterprise does not allow links for anyone (external sharing is off)")]
    ExternalSharingDisabled,
    #[error("the enterprise does not allow enterprise-only links (internal sharing is off)")]
    InternalSharingDisabled,
    #[error("the share is cancelled")]
    Cancelled,
    #[error("the share has expired")]
    Expired,
}

impl Refusal for ShareError {
    fn code(&self) -> &'static str {
        match self {
            ShareError::NotFound => "not_found",
            ShareError::AlreadyExists => "share_exists",
            ShareError::Forbidden => "forbidden",
            ShareError::NoItems => "items_required",
            ShareError::TooManyItems => "too_many_items",
            ShareError::DuplicateItems => "duplicate_items",
            ShareError::ItemNotFound(_) => "item_not_found",
            ShareError::ItemDeleted(_) => "item_deleted",
            ShareError::NameTooLong => "name_too_long",
            ShareError::NameInvalid => "name_invalid",
            ShareError::MessageTooLong => "message_too_long",
            ShareError::MessageInvalid => "message_invalid",
            ShareError::ExpiryInPast => "expiry_in_past",
            ShareError::AccessCodeInvalid => "access_code_invalid",
            ShareError::LimitInvalid => "limit_invalid",
            ShareError::NoPermissions => "no_permissions",
            ShareError::UploadNeedsFolders => "upload_requires_folder",
            ShareError::OnlineEditingDisabled => "online_editing_disabled",
            ShareError::ExternalSharingDisabled => "external_sharing_disabled",
            ShareError::InternalSharingDisabled => "internal_sharing_disabled",
            ShareError::Cancelled => "share_cancelled",
            ShareError::Expired => "share_expired",
        }
    }

    fn kind(&self) -> RefusalKind {
        match self {
            ShareError::NotFound => RefusalKind::NotFound,
            ShareError::Forbidden
            | ShareError::OnlineEditingDisabled
            | ShareError::ExternalSharingDisabled
            | ShareError::InternalSharingDisabled => RefusalKind::Forbidden,
            ShareError::AlreadyExists | ShareError::Cancelled | ShareError::Expired => RefusalKind::Conflict,
            _ => RefusalKind::Invalid,
        }
    }
}
