//! The owner's decisions: create, change, cancel, issue a QR code.

use std::collections::BTreeSet;

use chrono::Duration;
use uuid::Uuid;

use super::errors::ShareError;
use super::events::{ShareCreated, ShareEvent};
use super::settings::{
    MAX_ITEMS, Scope, SharedItem, validate_access_code, validate_expiry, validate_limits, validate_message,
    validate_name, validate_permissions,
};
use super::state::{QR_VALIDITY_DAYS, Share, ShareState};
use super::{ChangeShare, CodeChange, CreateShare, ShareContext};
use crate::policy::PolicyState;

pub(super) fn create(state: &ShareState, cmd: &CreateShare, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
    if state.share.is_some() {
        return Err(ShareError::AlreadyExists);
    }
    let actor = ctx
        .actor
        .as_ref()
        .filter(|a| a.can_share())
        .ok_or(ShareError::Forbidden)?;
    let items = shared_items(&cmd.items, &actor.user_id, ctx)?;
    let name = cmd.name.clone().unwrap_or_else(|| items[0].name.clone());
    validate_name(&name)?;
    let message = cmd.message.clone().unwrap_or_default();
    validate_message(&message)?;
    validate_permissions(&cmd.permissions, &items, ctx.policy.online_editing)?;
    validate_scope(cmd.scope, &ctx.policy)?;
    validate_expiry(cmd.expires_at, ctx.now)?;
    validate_limits(&cmd.limits)?;
    if let Some(code) = &cmd.access_code {
        validate_access_code(&code.code)?;
    }
    Ok(vec![ShareEvent::ShareCreated(Box::new(ShareCreated {
        share_id: cmd.share_id,
        owner_id: actor.user_id.clone(),
        owner_name: actor.display_name.clone(),
        enterprise_id: actor.enterprise_id.clone(),
        items,
        name,
        message,
        permissions: cmd.permissions,
        scope: cmd.scope,
        expires_at: cmd.expires_at,
        has_code: cmd.access_code.is_some(),
        code_version: u32::from(cmd.access_code.is_some()),
        code_generated: cmd.access_code.as_ref().is_some_and(|c| c.generated),
        autofill_code: cmd.autofill_code && cmd.access_code.is_some(),
        limits: cmd.limits,
        created_at: ctx.now,
        quota_day: ctx.today,
    }))])
}

/// The named items, checked: 1..=100 distinct, each in the actor's drive and not deleted.
fn shared_items(ids: &[Uuid], owner_id: &str, ctx: &ShareContext) -> Result<Vec<SharedItem>, ShareError> {
    if ids.is_empty() {
        return Err(ShareError::NoItems);
    }
    if ids.len() > MAX_ITEMS {
        return Err(ShareError::TooManyItems);
    }
    if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        return Err(ShareError::DuplicateItems);
    }
    ids.iter()
        .map(|id| {
            let facts = ctx
                .items
                .iter()
                .find(|f| f.id == *id && f.owner_id == owner_id)
                .ok_or(ShareError::ItemNotFound(*id))?;
            if facts.deleted {
                return Err(ShareError::ItemDeleted(*id));
            }
            Ok(SharedItem {
                id: facts.id,
                name: facts.name.clone(),
                kind: facts.kind,
            })
        })
        .collect()
}

fn validate_scope(scope: Scope, policy: &PolicyState) -> Result<(), ShareError> {
    match scope {
        Scope::Anyone if !policy.external_sharing => Err(ShareError::ExternalSharingDisabled),
        Scope::Enterprise if !policy.internal_sharing => Err(ShareError::InternalSharingDisabled),
        _ => Ok(()),
    }
}

/// The share, when the actor may manage it (owner or enterprise admin) and it is not
/// cancelled; to anyone else it does not exist.
fn managed<'a>(state: &'a ShareState, ctx: &ShareContext) -> Result<&'a Share, ShareError> {
    let share = state
        .share
        .as_ref()
        .filter(|s| {
            ctx.actor
                .as_ref()
                .is_some_and(|a| a.manages(&s.owner_id, &s.enterprise_id))
        })
        .ok_or(ShareError::NotFound)?;
    if share.cancelled {
        return Err(ShareError::Cancelled);
    }
    Ok(share)
}

pub(super) fn change(state: &ShareState, cmd: &ChangeShare, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
    let share = managed(state, ctx)?;
    let mut events = Vec::new();
    if let Some(name) = cmd.name.as_ref().filter(|n| **n != share.name) {
        validate_name(name)?;
        events.push(ShareEvent::ShareRenamed { name: name.clone() });
    }
    if let Some(message) = cmd.message.as_ref().filter(|m| **m != share.message) {
        validate_message(message)?;
        events.push(ShareEvent::ShareMessageChanged {
            message: message.clone(),
        });
    }
    if let Some(permissions) = cmd.permissions.filter(|p| *p != share.permissions) {
        // Edit already granted stays valid if the policy changes later; newly granting it
        // needs the policy now.
        let editing_ok = ctx.policy.online_editing || (share.permissions.edit && permissions.edit);
        validate_permissions(&permissions, &share.items, editing_ok)?;
        events.push(ShareEvent::SharePermissionsChanged { permissions });
    }
    if let Some(scope) = cmd.scope.filter(|s| *s != share.scope) {
        validate_scope(scope, &ctx.policy)?;
        events.push(ShareEvent::ShareScopeChanged { scope });
    }
    if let Some(expires_at) = cmd.expires_at.filter(|e| *e != share.expires_at) {
        validate_expiry(expires_at, ctx.now)?;
        events.push(ShareEvent::ShareExpiryChanged { expires_at });
    }
    if let Some(limits) = cmd.limits.filter(|l| *l != share.limits) {
        validate_limits(&limits)?;
        events.push(ShareEvent::ShareLimitsChanged { limits });
    }
    let mut has_code = share.has_code;
    match &cmd.access_code {
        Some(CodeChange::Set(code)) => {
            validate_access_code(&code.code)?;
            has_code = true;
            events.push(ShareEvent::ShareAccessCodeChanged {
                code_version: share.code_version + 1,
                generated: code.generated,
            });
        }
        Some(CodeChange::Remove) if share.has_code => {
            has_code = false;
            events.push(ShareEvent::ShareAccessCodeRemoved {
                code_version: share.code_version + 1,
            });
        }
        Some(CodeChange::Remove) | None => {}
    }
    // Auto-fill only means something with a code; removing the code switches it off.
    let wanted = cmd.autofill_code.unwrap_or(share.autofill_code) && has_code;
    if wanted != share.autofill_code {
        events.push(ShareEvent::ShareAutofillChanged { autofill_code: wanted });
    }
    Ok(events)
}

pub(super) fn cancel(
    state: &ShareState,
    reason: Option<String>,
    ctx: &ShareContext,
) -> Result<Vec<ShareEvent>, ShareError> {
    managed(state, ctx)?;
    if let Some(r) = &reason {
        validate_message(r)?;
    }
    Ok(vec![ShareEvent::ShareCancelled { reason }])
}

pub(super) fn issue_qr(state: &ShareState, qr_id: Uuid, ctx: &ShareContext) -> Result<Vec<ShareEvent>, ShareError> {
    let share = managed(state, ctx)?;
    if share.is_expired(ctx.now) {
        return Err(ShareError::Expired);
    }
    Ok(vec![ShareEvent::ShareQrCodeIssued {
        qr_id,
        expires_at: ctx.now + Duration::days(QR_VALIDITY_DAYS),
    }])
}
