//! Reading a link's public facts, and opening it: code check (throttled before argon2), daily
//! access quota, the `ShareOpened` event, and a share session.

use serde::{Deserialize, Serialize};
use shareledger_domain::quota::{self, QuotaKind};
use shareledger_domain::share::{
    CodeCheck, OpenShare, Operation, RefusalReason, Share, ShareCommand, ShareContext, ShareEvent, Visitor,
};
use shareledger_domain::{Actor, Aggregate};
use utoipa::ToSchema;
use uuid::Uuid;

use super::link::{Link, LinkFacts, refusal, resolve, too_many};
use super::session::Session;
use super::throttle::{release, reserve_code_attempt};
use crate::crypto::codes::Verified;
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::runtime::{CommandMeta, Rejection, TxHook, load};
use crate::service::context;
use crate::service::hooks::{DailyQuota, InlineProjections, QUOTA_EXCEEDED};
use crate::state::AppState;

/// Opening a link.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRequest {
    /// The access code, exactly as given (when the link has one).
    #[serde(default)]
    pub code: Option<String>,
    /// The QR code id, when the link was scanned from one.
    #[serde(default)]
    pub qr: Option<String>,
}

/// A share session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Send back as `X-Share-Session` (pages get it as a cookie).
    pub session: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The public facts of a link (no event: nothing is accessed). Cancelled or expired: 410.
pub async fn facts(state: &AppState, token: &str, req: &RequestMeta) -> Result<LinkFacts, ApiError> {
    let link = resolve(state, token, &req.client_key()).await?;
    let share = load::<Share>(state.pool(), &Share::stream_id(&link.share_id.to_string()), false)
        .await?
        .state
        .share
        .ok_or_else(super::link::unknown_link)?;
    if share.cancelled {
        return Err(refusal(RefusalReason::Cancelled, None));
    }
    if share.is_expired(state.clock().now()) {
        return Err(refusal(RefusalReason::Expired, None));
    }
    Ok(LinkFacts {
        name: share.name,
        message: share.message,
        owner_name: share.owner_name,
        expires_at: share.expires_at,
        needs_code: share.has_code,
        scope: share.scope.into(),
        permissions: share.permissions.into(),
        item_count: share.items.len(),
    })
}

/// Checks the code: throttle first (no argon2 while throttled), then argon2 under its cap.
async fn check_code(
    state: &AppState,
    link: &Link,
    code: Option<&str>,
    client: &str,
) -> Result<(CodeCheck, Option<u64>), ApiError> {
    let Some(phc) = &link.code_hash else {
        return Ok((CodeCheck::NotNeeded, None));
    };
    let Some(code) = code else {
        return Ok((CodeCheck::Missing, None));
    };
    let now = state.clock().now();
    let reservation = match reserve_code_attempt(state.pool(), link.share_id, client, now).await? {
        Ok(r) => r,
        Err(wait) => return Ok((CodeCheck::Throttled, Some(wait))),
    };
    // A code that cannot be valid is wrong without spending a hash on it.
    if shareledger_domain::share::validate_access_code(code).is_err() {
        return Ok((CodeCheck::Wrong, None));
    }
    let verified = match state.hasher().verify(code, phc).await {
        Ok(verified) => verified,
        // The argon2 threads are swamped (a guessing flood): nothing was checked, so the
        // attempt is not counted against this client; it is told to try again in a second.
        Err(e) if e.is::<crate::crypto::codes::Busy>() => {
            release(state.pool(), &reservation).await?;
            return Ok((CodeCheck::Throttled, Some(1)));
        }
        Err(e) => return Err(ApiError::internal(e)),
    };
    match verified {
        Verified::Yes { rehash } => {
            release(state.pool(), &reservation).await?;
            if let Some(stronger) = rehash {
                sqlx::query("UPDATE share_secrets SET code_hash = $1 WHERE share_id = $2 AND code_hash = $3")
                    .bind(stronger)
                    .bind(link.share_id)
                    .bind(phc)
                    .execute(state.pool())
                    .await?;
            }
            Ok((
                CodeCheck::Correct {
                    version: link.code_version,
                },
                None,
            ))
        }
        Verified::No => Ok((CodeCheck::Wrong, None)),
    }
}

/// Opens a link: a `ShareOpened` event and a session, or an `AccessRefused` event and the reason.
/// The session lasts at most `ttl` when one is asked for (never past the 2 hours of any session).
pub async fn open(
    state: &AppState,
    token: &str,
    req: &RequestMeta,
    actor: Option<Actor>,
    body: OpenRequest,
    ttl: Option<chrono::Duration>,
) -> Result<(Session, String), ApiError> {
    let client = req.client_key();
    let link = resolve(state, token, &client).await?;
    let visitor = match &actor {
        Some(a) => Visitor::User {
            user_id: a.user_id.clone(),
            enterprise_id: a.enterprise_id.clone(),
        },
        None => Visitor::Anonymous {
            visitor_id: Uuid::now_v7(),
        },
    };
    if actor.is_none()
        && let Some(wait) = state.throttles().anonymous_opens.hit(&client)
    {
        return Err(too_many(
            "too_many_requests",
            "Too many links were opened from here. Wait and try again.",
            wait,
        ));
    }
    let qr_id = match body.qr.as_deref() {
        Some(text) => Some(
            text.parse::<Uuid>()
                .map_err(|_| refusal(RefusalReason::QrExpired, None))?,
        ),
        None => None,
    };
    let (code, retry_after) = check_code(state, &link, body.code.as_deref(), &client).await?;
    let now = state.clock().now();
    let policy = context::link_policy(state, &link).await?;
    // Signed-in visitors count distinct shares a day against their own enterprise's quota.
    let access_quota = match &actor {
        Some(a) => {
            let theirs = if a.enterprise_id == link.enterprise_id {
                policy.clone()
            } else {
                context::policy(state, &a.enterprise_id).await?
            };
            Some(DailyQuota {
                user_id: a.user_id.clone(),
                enterprise_id: a.enterprise_id.clone(),
                day: quota::quota_day(now, quota::time_zone(&theirs)),
                kind: QuotaKind::Access,
                limit: quota::daily_limit(&theirs),
            })
        }
        None => None,
    };
    let session_id = Uuid::now_v7();
    let command = ShareCommand::Open(OpenShare {
        session_id,
        visitor: visitor.clone(),
        code,
        qr_id,
        quota_day: access_quota.as_ref().map(|q| q.day),
    });
    let ctx = ShareContext {
        now,
        actor: actor.clone(),
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy,
        items: Vec::new(),
    };
    let quota_hook = access_quota.map(|q| AccessQuota {
        quota: q,
        share_id: link.share_id,
    });
    let mut hooks: Vec<&dyn TxHook<Share>> = vec![&InlineProjections];
    if let Some(q) = &quota_hook {
        hooks.push(q);
    }
    let meta = CommandMeta {
        metadata: req.for_visitor(&visitor),
        occurred_at: now,
    };
    let stream = Share::stream_id(&link.share_id.to_string());
    let done = match state
        .runtime()
        .execute_locked::<Share>(&stream, &command, &ctx, &meta, &hooks)
        .await?
    {
        Ok(done) => done,
        Err(Rejection::Hook {
            code: QUOTA_EXCEEDED, ..
        }) => {
            record_refusal(state, &link, Operation::Open, RefusalReason::QuotaUsed, &ctx, &meta).await?;
            return Err(refusal(RefusalReason::QuotaUsed, None));
        }
        Err(other) => return Err(other.into()),
    };
    match done.events.first().map(|e| e.decode::<ShareEvent>()) {
        Some(Ok(ShareEvent::ShareOpened { .. })) => {
            let share = done.state.share.expect("opened");
            let mut session = Session::new(link.share_id, share.code_version, visitor, now, share.expires_at);
            if let Some(ttl) = ttl {
                session.exp = session.exp.min((now + ttl).timestamp());
            }
            let signed = session.sign(&state.keys().jwt_secret);
            Ok((session, signed))
        }
        Some(Ok(ShareEvent::AccessRefused { reason, .. })) => Err(refusal(reason, retry_after)),
        _ => Err(ApiError::internal(anyhow::anyhow!(
            "opening a link produced no outcome"
        ))),
    }
}

/// Records a refusal decided by a transactional check (the quota), after that transaction
/// rolled back.
pub async fn record_refusal(
    state: &AppState,
    link: &Link,
    operation: Operation,
    reason: RefusalReason,
    ctx: &ShareContext,
    meta: &CommandMeta,
) -> Result<(), ApiError> {
    let stream = Share::stream_id(&link.share_id.to_string());
    state
        .runtime()
        .execute_locked::<Share>(
            &stream,
            &ShareCommand::Refuse { operation, reason },
            ctx,
            meta,
            &[&InlineProjections],
        )
        .await?
        .map_err(ApiError::from)?;
    Ok(())
}

/// The daily access quota of a signed-in visitor: distinct shares per day.
struct AccessQuota {
    quota: DailyQuota,
    share_id: Uuid,
}

impl TxHook<Share> for AccessQuota {
    fn apply<'a>(
        &'a self,
        tx: &'a mut sqlx::PgConnection,
        _: &'a shareledger_domain::share::ShareState,
        events: &'a [crate::store::StoredEvent],
    ) -> futures_util::future::BoxFuture<'a, Result<(), crate::runtime::HookError>> {
        Box::pin(async move {
            // Only a successful open counts.
            if !events.iter().any(|e| e.event_type == "ShareOpened") {
                return Ok(());
            }
            let q = &self.quota;
            let granted = shareledger_projections::quota_usage::try_consume_access(
                tx,
                &q.user_id,
                &q.enterprise_id,
                q.day,
                self.share_id,
                q.limit,
            )
            .await?;
            if granted {
                Ok(())
            } else {
                Err(crate::runtime::HookError::Refused {
                    code: QUOTA_EXCEEDED,
                    detail: "daily access quota used up".into(),
                })
            }
        })
    }
}
