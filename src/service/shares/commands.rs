//! The owner's commands on shares.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shareledger_domain::quota::{self, QuotaKind};
use shareledger_domain::share::{
    ChangeShare, CodeChange, CodeInput, CreateShare, MAX_ITEMS, Permissions, Scope, Share, ShareCommand, ShareContext,
    ShareError, ShareState, validate_access_code,
};
use shareledger_domain::{Actor, Aggregate, Refusal};
use uuid::Uuid;

use super::dto::{
    BulkCancelRequest, BulkCancelResponse, BulkCancelResult, CancelRequest, ChangeShareRequest, CreateShareRequest,
};
use super::view;
use crate::crypto::{codes, tokens};
use crate::http::error::ApiError;
use crate::http::idempotency::{self, DUPLICATE, Keyed, RememberHook};
use crate::http::request::RequestMeta;
use crate::runtime::{CommandMeta, Rejection, TxHook};
use crate::service::hooks::{DailyQuota, InlineProjections};
use crate::service::secrets::{self, NewCode, WriteSecrets};
use crate::service::{Outcome, context, links};
use crate::state::AppState;
use crate::store::StoredEvent;

fn conflicting(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "conflicting_fields", detail)
}

/// The remembered answer to a keyed request, if there is one.
async fn replay(state: &AppState, key: Option<&Keyed>) -> Result<Option<Outcome>, ApiError> {
    match key {
        Some(k) => Ok(idempotency::recall(state.pool(), k).await?.map(|r| Outcome {
            status: r.status,
            body: r.body,
        })),
        None => Ok(None),
    }
}

/// Answers a refusal, remembering it for the key (or answering what a concurrent duplicate
/// with the same key did).
async fn refused<E: Refusal>(
    state: &AppState,
    key: Option<&Keyed>,
    rejection: Rejection<E>,
) -> Result<Outcome, ApiError> {
    if let (Rejection::Hook { code: DUPLICATE, .. }, Some(outcome)) = (&rejection, replay(state, key).await?) {
        return Ok(outcome);
    }
    let error = ApiError::from(rejection);
    if let Some(k) = key
        && let Some(existing) = idempotency::remember_refusal(state.pool(), k, error.status, &error.body()).await?
    {
        return Ok(Outcome {
            status: existing.status,
            body: existing.body,
        });
    }
    Err(error)
}

async fn hash(state: &AppState, code: Option<&CodeInput>) -> Result<Option<NewCode>, ApiError> {
    match code {
        None => Ok(None),
        Some(c) => Ok(Some(NewCode {
            plain: c.code.clone(),
            phc: state.hasher().hash(&c.code).await.map_err(ApiError::internal)?,
        })),
    }
}

fn command_meta(actor: &Actor, req: &RequestMeta, now: DateTime<Utc>) -> CommandMeta {
    CommandMeta {
        metadata: req.for_actor(actor),
        occurred_at: now,
    }
}

/// Creates a share (`POST /api/v1/shares`), counting it against the owner's daily quota.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    key: Option<Keyed>,
    body: CreateShareRequest,
) -> Result<Outcome, ApiError> {
    if let Some(outcome) = replay(state, key.as_ref()).await? {
        return Ok(outcome);
    }
    if body.generate_access_code && body.access_code.is_some() {
        return Err(conflicting("Give `access_code` or `generate_access_code`, not both."));
    }
    let now = state.clock().now();
    let ids = if body.items.len() <= MAX_ITEMS {
        &body.items[..]
    } else {
        &[]
    };
    let (policy, items) = context::policy_and_items(state, &actor.enterprise_id, ids).await?;
    let code = if body.generate_access_code {
        Some(CodeInput {
            code: codes::generate(),
            generated: true,
        })
    } else {
        body.access_code.map(|code| CodeInput { code, generated: false })
    };
    let create = CreateShare {
        share_id: Uuid::now_v7(),
        items: body.items,
        name: body.name,
        message: body.message,
        permissions: body.permissions.map_or(Permissions::view_and_download(), Into::into),
        scope: body.scope.map_or(Scope::Anyone, Into::into),
        expires_at: body.expires_at,
        access_code: code.clone(),
        autofill_code: body.autofill_code,
        limits: body.limits.unwrap_or_default().into(),
    };
    let ctx = ShareContext {
        now,
        actor: Some(actor.clone()),
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy,
        items,
    };
    let command = ShareCommand::Create(create);
    // Invalid input is refused before any argon2 work is spent on it.
    if let Err(e) = Share::decide(&ShareState::default(), &command, &ctx) {
        return refused(state, key.as_ref(), Rejection::Domain(e)).await;
    }
    let ShareCommand::Create(create) = &command else {
        unreachable!()
    };
    let token = tokens::new_link_token();
    let new_code = hash(state, code.as_ref()).await?;
    let share_id = create.share_id;
    let write_secrets = WriteSecrets {
        share_id,
        seal: state.keys().seal.clone(),
        token: Some(token.clone()),
        code: new_code,
    };
    let daily_quota = DailyQuota {
        user_id: actor.user_id.clone(),
        enterprise_id: actor.enterprise_id.clone(),
        day: ctx.today,
        kind: QuotaKind::Create,
        limit: quota::daily_limit(&ctx.policy),
    };
    let (config, policy, plain_code) = (state.config().clone(), ctx.policy.clone(), code.map(|c| c.code));
    let respond = move |s: &ShareState, _: &[StoredEvent]| -> Value {
        let share = s.share.as_ref().expect("created");
        serde_json::to_value(view::from_state(
            share,
            &token,
            plain_code.as_deref(),
            &policy,
            &config,
            now,
            now,
        ))
        .expect("plain data")
    };
    let remember = key.clone().map(|keyed| RememberHook {
        keyed,
        status: StatusCode::CREATED,
        respond: &respond,
    });
    let mut hooks: Vec<&dyn TxHook<Share>> = vec![&InlineProjections, &write_secrets];
    if let Some(r) = &remember {
        hooks.push(r);
    }
    // The quota last: its counter row is one per user and day, locked until the commit, so every
    // other create of the same user waits for as little as possible.
    hooks.push(&daily_quota);
    let stream = Share::stream_id(&share_id.to_string());
    match state
        .runtime()
        .execute_new::<Share>(&stream, &command, &ctx, &command_meta(actor, req, now), &hooks)
        .await?
    {
        Ok(done) => Ok(Outcome {
            status: StatusCode::CREATED,
            body: respond(&done.state, &done.events),
        }),
        Err(rejection) => refused(state, key.as_ref(), rejection).await,
    }
}

/// Changes a share's settings (`PATCH /api/v1/shares/{id}`).
pub async fn change(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    id: Uuid,
    body: ChangeShareRequest,
) -> Result<super::dto::ShareDetails, ApiError> {
    let code_fields = [
        body.access_code.is_some(),
        body.generate_access_code,
        body.remove_access_code,
    ];
    if code_fields.iter().filter(|set| **set).count() > 1 {
        return Err(conflicting(
            "Give one of `access_code`, `generate_access_code`, `remove_access_code`.",
        ));
    }
    let code = if body.generate_access_code {
        Some(CodeInput {
            code: codes::generate(),
            generated: true,
        })
    } else {
        body.access_code.map(|code| CodeInput { code, generated: false })
    };
    if let Some(c) = &code {
        validate_access_code(&c.code).map_err(|e| ApiError::refused(&e))?;
    }
    let now = state.clock().now();
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let command = ShareCommand::Change(ChangeShare {
        name: body.name,
        message: body.message,
        permissions: body.permissions.map(Into::into),
        scope: body.scope.map(Into::into),
        expires_at: body.expires_at,
        access_code: match (&code, body.remove_access_code) {
            (Some(c), _) => Some(CodeChange::Set(c.clone())),
            (None, true) => Some(CodeChange::Remove),
            (None, false) => None,
        },
        autofill_code: body.autofill_code,
        limits: body.limits.map(Into::into),
    });
    let ctx = ShareContext {
        now,
        actor: Some(actor.clone()),
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy,
        items: Vec::new(),
    };
    let write_secrets = WriteSecrets {
        share_id: id,
        seal: state.keys().seal.clone(),
        token: None,
        code: hash(state, code.as_ref()).await?,
    };
    let hooks: [&dyn TxHook<Share>; 2] = [&InlineProjections, &write_secrets];
    let stream = Share::stream_id(&id.to_string());
    state
        .runtime()
        .execute::<Share>(&stream, &command, &ctx, &command_meta(actor, req, now), &hooks)
        .await?
        .map_err(ApiError::from)?;
    super::details(state, actor, id).await
}

fn cancelled_body(id: Uuid, at: DateTime<Utc>) -> Value {
    json!({ "id": id, "status": "cancelled", "cancelled_at": at })
}

/// Cancels a share for good (`POST /api/v1/shares/{id}/cancel`).
pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    key: Option<Keyed>,
    id: Uuid,
    body: CancelRequest,
) -> Result<Outcome, ApiError> {
    if let Some(outcome) = replay(state, key.as_ref()).await? {
        return Ok(outcome);
    }
    let now = state.clock().now();
    let respond = move |_: &ShareState, _: &[StoredEvent]| cancelled_body(id, now);
    let remember = key.clone().map(|keyed| RememberHook {
        keyed,
        status: StatusCode::OK,
        respond: &respond,
    });
    let mut hooks: Vec<&dyn TxHook<Share>> = vec![&InlineProjections];
    if let Some(r) = &remember {
        hooks.push(r);
    }
    match run_cancel(state, actor, req, id, body.reason, now, &hooks).await? {
        Ok(()) => Ok(Outcome {
            status: StatusCode::OK,
            body: cancelled_body(id, now),
        }),
        Err(rejection) => refused(state, key.as_ref(), rejection).await,
    }
}

async fn run_cancel(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    id: Uuid,
    reason: Option<String>,
    now: DateTime<Utc>,
    hooks: &[&dyn TxHook<Share>],
) -> Result<Result<(), Rejection<ShareError>>, ApiError> {
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let ctx = ShareContext {
        now,
        actor: Some(actor.clone()),
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy,
        items: Vec::new(),
    };
    let stream = Share::stream_id(&id.to_string());
    Ok(state
        .runtime()
        .execute::<Share>(
            &stream,
            &ShareCommand::Cancel { reason },
            &ctx,
            &command_meta(actor, req, now),
            hooks,
        )
        .await?
        .map(|_| ()))
}

/// Cancels several shares, answering for each id (`POST /api/v1/shares/cancel`).
pub async fn bulk_cancel(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    body: BulkCancelRequest,
) -> Result<BulkCancelResponse, ApiError> {
    if body.ids.is_empty() || body.ids.len() > MAX_ITEMS {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "ids_invalid",
            format!("Give 1 to {MAX_ITEMS} share ids."),
        ));
    }
    let mut results = Vec::with_capacity(body.ids.len());
    for id in body.ids {
        let now = state.clock().now();
        let outcome = match run_cancel(state, actor, req, id, None, now, &[&InlineProjections]).await? {
            Ok(()) => ("cancelled", Some(now)),
            Err(Rejection::Domain(ShareError::Cancelled)) => ("already_cancelled", None),
            Err(Rejection::Domain(ShareError::NotFound)) => ("not_found", None),
            Err(other) => return Err(ApiError::from(other)),
        };
        results.push(BulkCancelResult {
            id,
            outcome: outcome.0.to_owned(),
            cancelled_at: outcome.1,
        });
    }
    Ok(BulkCancelResponse { results })
}

/// A QR code just issued: what it encodes and until when it is valid.
#[derive(Debug, Clone)]
pub struct IssuedQr {
    pub qr_id: Uuid,
    pub target: String,
    pub expires_at: DateTime<Utc>,
}

/// Issues a QR code for a share, valid for 7 days (`GET /api/v1/shares/{id}/qr.*`).
pub async fn issue_qr(state: &AppState, actor: &Actor, req: &RequestMeta, id: Uuid) -> Result<IssuedQr, ApiError> {
    let now = state.clock().now();
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let qr_id = Uuid::now_v7();
    let ctx = ShareContext {
        now,
        actor: Some(actor.clone()),
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy: policy.clone(),
        items: Vec::new(),
    };
    let stream = Share::stream_id(&id.to_string());
    let done = state
        .runtime()
        .execute::<Share>(
            &stream,
            &ShareCommand::IssueQrCode { qr_id },
            &ctx,
            &command_meta(actor, req, now),
            &[],
        )
        .await?
        .map_err(ApiError::from)?;
    let share = done.state.share.expect("issued on an existing share");
    let issued = share.qr_codes.iter().find(|q| q.id == qr_id).expect("just issued");
    let secrets = secrets::read(state.pool(), &state.keys().seal, id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found("No such share."))?;
    let autofill = secrets.code.as_deref().filter(|_| share.autofill_code);
    let link = links::link(state.config(), &policy, &secrets.token, autofill);
    Ok(IssuedQr {
        qr_id,
        target: links::qr_target(&link, qr_id),
        expires_at: issued.expires_at,
    })
}
