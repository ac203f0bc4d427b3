//! The recipient's decisions: open a link, then preview, download, save, upload or edit within
//! the session. A refusal is an event too (`AccessRefused`), so auditors see every attempt;
//! only an unknown share is an error (there is no stream to record on).

use chrono::{DateTime, TimeZone, Utc};

use super::access::{AccessShare, CodeCheck, OpenShare, Operation, RefusalReason, Visitor};
use super::errors::ShareError;
use super::events::ShareEvent;
use super::settings::Scope;
use super::state::{Share, ShareState};
use super::{Report, ShareContext};

/// Links created from this instant on, for anyone, in an enterprise without a custom domain,
/// may not serve APK or IPA downloads (2025-02-24T10:00:00+08:00, as in the reference product).
pub fn apk_rule_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 2, 24, 2, 0, 0)
        .single()
        .expect("valid instant")
}

/// Whether a file name is an Android or iOS app package.
pub fn is_app_package(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".apk") || lower.ends_with(".ipa")
}

fn refused(operation: Operation, reason: RefusalReason, access: Option<&AccessShare>) -> Vec<ShareEvent> {
    vec![ShareEvent::AccessRefused {
        operation,
        reason,
        item_id: access.and_then(|a| a.item.as_ref().map(|i| i.id)),
        session_id: access.map(|a| a.session_id),
    }]
}

/// The checks every recipient request starts with: cancelled, expired, switched off by policy,
/// enterprise-only.
fn link_usable(share: &Share, visitor: &Visitor, ctx: &ShareContext) -> Result<(), RefusalReason> {
    if share.cancelled {
        return Err(RefusalReason::Cancelled);
    }
    if share.is_expired(ctx.now) {
        return Err(RefusalReason::Expired);
    }
    match share.scope {
        Scope::Anyone if !ctx.policy.external_sharing => Err(RefusalReason::SharingDisabled),
        Scope::Enterprise if !ctx.policy.internal_sharing => Err(RefusalReason::SharingDisabled),
        Scope::Enterprise => match visitor {
            Visitor::Anonymous { .. } => Err(RefusalReason::SignInRequired),
            Visitor::User { enterprise_id, .. } if *enterprise_id != share.enterprise_id => {
                Err(RefusalReason::NotAMember)
            }
            Visitor::User { .. } => Ok(()),
        },
        Scope::Anyone => Ok(()),
    }
}

pub(super) fn open(state: &ShareState, cmd: &OpenShare, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
    let share = state.share.as_ref().ok_or(ShareError::NotFound)?;
    let refuse = |reason| {
        Ok(vec![ShareEvent::AccessRefused {
            operation: Operation::Open,
            reason,
            item_id: None,
            session_id: None,
        }])
    };
    if let Err(reason) = link_usable(share, &cmd.visitor, ctx) {
        return refuse(reason);
    }
    if let Some(qr) = cmd.qr_id
        && !share.qr_codes.iter().any(|q| q.id == qr && ctx.now < q.expires_at)
    {
        return refuse(RefusalReason::QrExpired);
    }
    if share.has_code {
        let reason = match cmd.code {
            CodeCheck::Correct { version } if version == share.code_version => None,
            // Checked against a code that has just been replaced.
            CodeCheck::Correct { .. } | CodeCheck::Wrong => Some(RefusalReason::CodeWrong),
            CodeCheck::Missing | CodeCheck::NotNeeded => Some(RefusalReason::CodeMissing),
            CodeCheck::Throttled => Some(RefusalReason::CodeThrottled),
        };
        if let Some(reason) = reason {
            return refuse(reason);
        }
    }
    Ok(vec![ShareEvent::ShareOpened {
        session_id: cmd.session_id,
        visitor: cmd.visitor.clone(),
        qr_id: cmd.qr_id,
        quota_day: cmd.quota_day,
    }])
}

/// Whether the link's permissions (and, for edits, the policy) allow the operation.
fn permitted(share: &Share, operation: Operation, ctx: &ShareContext) -> Result<(), RefusalReason> {
    let p = share.permissions;
    let allowed = match operation {
        Operation::Open | Operation::List => p.preview || p.download || p.save || p.upload || p.edit,
        Operation::Preview => p.preview,
        Operation::Download => p.download,
        Operation::Save => p.save,
        Operation::Upload => p.upload,
        Operation::Edit => p.edit,
    };
    if !allowed {
        return Err(RefusalReason::NoPermission);
    }
    if operation == Operation::Edit && !ctx.policy.online_editing {
        return Err(RefusalReason::EditingDisabled);
    }
    Ok(())
}

/// Whether the operation's own limit and the total limit leave room for one more.
fn within_limits(share: &Share, operation: Operation) -> Result<(), RefusalReason> {
    let (used, limit) = match operation {
        Operation::Preview => (share.counters.previews, share.limits.preview),
        Operation::Download => (share.counters.downloads, share.limits.download),
        Operation::Save => (share.counters.saves, share.limits.save),
        _ => return Ok(()),
    };
    let reached = |used: u64, limit: Option<u32>| limit.is_some_and(|l| used >= u64::from(l));
    if reached(used, limit) || reached(share.counters.limited_total(), share.limits.total) {
        Err(RefusalReason::LimitReached)
    } else {
        Ok(())
    }
}

fn check_access(share: &Share, cmd: &AccessShare, ctx: &ShareContext) -> Result<(), RefusalReason> {
    link_usable(share, &cmd.visitor, ctx)?;
    if cmd.code_version != share.code_version {
        return Err(RefusalReason::SessionEnded);
    }
    permitted(share, cmd.operation, ctx)?;
    if let Some(item) = &cmd.item {
        if !item.in_share {
            return Err(RefusalReason::ItemNotShared);
        }
        if item.deleted {
            return Err(RefusalReason::ItemDeleted);
        }
        let needs_file = matches!(
            cmd.operation,
            Operation::Preview | Operation::Download | Operation::Save | Operation::Edit
        );
        if needs_file && !item.is_file {
            return Err(RefusalReason::NoPermission);
        }
        if cmd.operation == Operation::Upload && item.is_file {
            return Err(RefusalReason::NoPermission);
        }
        let app_rule =
            share.scope == Scope::Anyone && share.created_at >= apk_rule_start() && ctx.policy.custom_domain.is_none();
        if cmd.operation == Operation::Download && app_rule && is_app_package(&item.name) {
            return Err(RefusalReason::FileTypeBlocked);
        }
    } else if cmd.operation != Operation::List {
        return Err(RefusalReason::ItemNotShared);
    }
    if cmd.operation == Operation::Save && cmd.visitor.user_id().is_none() {
        return Err(RefusalReason::SignInRequired);
    }
    if cmd.counted {
        within_limits(share, cmd.operation)?;
    }
    Ok(())
}

pub(super) fn access(state: &ShareState, cmd: &AccessShare, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
    let share = state.share.as_ref().ok_or(ShareError::NotFound)?;
    if let Err(reason) = check_access(share, cmd, ctx) {
        return Ok(refused(cmd.operation, reason, Some(cmd)));
    }
    if !cmd.counted || cmd.operation == Operation::List {
        // Allowed, but nothing to record: browsing, or the rest of a download already counted.
        return Ok(vec![]);
    }
    let item_id = cmd.item.as_ref().map(|i| i.id).expect("checked above");
    let session_id = cmd.session_id;
    let event = match cmd.operation {
        Operation::Preview => ShareEvent::FilePreviewed { session_id, item_id },
        Operation::Download => ShareEvent::FileDownloaded {
            session_id,
            item_id,
            bytes: cmd.bytes,
        },
        Operation::Save => ShareEvent::FileSaved {
            session_id,
            item_id,
            saved_as: cmd.new_item.expect("a save names its copy"),
        },
        Operation::Upload => ShareEvent::FileUploaded {
            session_id,
            folder_id: item_id,
            item_id: cmd.new_item.expect("an upload names its item"),
            name: cmd.new_name.clone().unwrap_or_default(),
            bytes: cmd.bytes.unwrap_or(0),
        },
        Operation::Edit => ShareEvent::DocumentEdited {
            session_id,
            item_id,
            bytes: cmd.bytes.unwrap_or(0),
        },
        Operation::Open | Operation::List => unreachable!("not counted operations"),
    };
    Ok(vec![event])
}

pub(super) fn refuse(
    state: &ShareState,
    operation: Operation,
    reason: RefusalReason,
) -> Result<Vec<ShareEvent>, ShareError> {
    state.share.as_ref().ok_or(ShareError::NotFound)?;
    Ok(vec![ShareEvent::AccessRefused {
        operation,
        reason,
        item_id: None,
        session_id: None,
    }])
}

pub(super) fn report(state: &ShareState, cmd: &Report) -> Result<Vec<ShareEvent>, ShareError> {
    state.share.as_ref().ok_or(ShareError::NotFound)?;
    let reason = cmd.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1024 || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ShareError::MessageInvalid);
    }
    Ok(vec![ShareEvent::ShareReported {
        reason: reason.to_owned(),
    }])
}
