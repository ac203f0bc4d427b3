//! Recipients: a link token is the capability. Public facts, opening (code, quota, session),
//! and the operations within a session, each checked against every rule and recorded.

pub mod access;
mod also;
pub mod combine;
pub mod link;
pub mod open;
pub mod session;
pub mod throttle;

use shareledger_domain::share::{Report, Share, ShareCommand, Visitor};
use shareledger_domain::{Actor, Aggregate};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::runtime::CommandMeta;
use crate::service::hooks::InlineProjections;
use crate::state::AppState;

/// Reports a link as abusive (`ShareReported`, counted for the owner and admins).
pub async fn report(
    state: &AppState,
    token: &str,
    req: &RequestMeta,
    actor: Option<Actor>,
    reason: String,
) -> Result<(), ApiError> {
    let client = req.client_key();
    let link = link::resolve(state, token, &client).await?;
    if let Some(wait) = state.throttles().reports.hit(&client) {
        return Err(link::too_many(
            "too_many_requests",
            "Too many reports were sent from here.",
            wait,
        ));
    }
    let visitor = match &actor {
        Some(a) => Visitor::User {
            user_id: a.user_id.clone(),
            enterprise_id: a.enterprise_id.clone(),
        },
        None => Visitor::Anonymous {
            visitor_id: Uuid::now_v7(),
        },
    };
    let now = state.clock().now();
    let policy = crate::service::context::link_policy(state, &link).await?;
    let ctx = shareledger_domain::share::ShareContext {
        now,
        actor,
        today: shareledger_domain::quota::quota_day(now, shareledger_domain::quota::time_zone(&policy)),
        policy,
        items: Vec::new(),
    };
    let meta = CommandMeta {
        metadata: req.for_visitor(&visitor),
        occurred_at: now,
    };
    state
        .runtime()
        .execute_locked::<Share>(
            &Share::stream_id(&link.share_id.to_string()),
            &ShareCommand::Report(Report { reason }),
            &ctx,
            &meta,
            &[&InlineProjections],
        )
        .await?
        .map_err(ApiError::from)?;
    Ok(())
}
