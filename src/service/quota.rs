//! Quota counters for users (their own) and admins or analysts (their enterprise's).

use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use shareledger_domain::quota;
use shareledger_domain::{Actor, Role};
use shareledger_projections::quota_usage;
use utoipa::ToSchema;

use crate::http::auth::require_any;
use crate::http::error::ApiError;
use crate::service::context;
use crate::state::AppState;

/// Used and allowed for one counter (a null limit: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Counter {
    pub used: u32,
    pub limit: Option<u32>,
}

/// Today's quota of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct MyQuota {
    /// The quota day, in the enterprise's time zone.
    pub day: NaiveDate,
    pub time_zone: String,
    /// When the counters start again from zero.
    pub resets_at: DateTime<Utc>,
    /// Shares created today.
    pub creates: Counter,
    /// Distinct shares opened today.
    pub accesses: Counter,
}

/// One user's usage in the enterprise report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserUsageDto {
    pub user_id: String,
    pub creates: u32,
    pub accesses: u32,
}

/// An enterprise's usage on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct EnterpriseQuota {
    pub date: NaiveDate,
    pub time_zone: String,
    pub daily_limit: Option<u32>,
    pub users: Vec<UserUsageDto>,
}

/// The caller's counters today.
pub async fn mine(state: &AppState, actor: &Actor) -> Result<MyQuota, ApiError> {
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let tz = quota::time_zone(&policy);
    let now = state.clock().now();
    let day = quota::quota_day(now, tz);
    let usage = quota_usage::usage(state.pool(), &actor.user_id, day).await?;
    let limit = quota::daily_limit(&policy);
    Ok(MyQuota {
        day,
        time_zone: policy.time_zone.clone(),
        resets_at: quota::next_reset(now, tz),
        creates: Counter {
            used: usage.creates,
            limit,
        },
        accesses: Counter {
            used: usage.accesses,
            limit,
        },
    })
}

/// Every user's counters on `date` (default today) in the caller's enterprise.
pub async fn enterprise(state: &AppState, actor: &Actor, date: Option<String>) -> Result<EnterpriseQuota, ApiError> {
    require_any(actor, &[Role::Admin, Role::Analyst])?;
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let date = match date {
        Some(text) => text
            .parse::<NaiveDate>()
            .map_err(|_| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "date_invalid", "date is YYYY-MM-DD."))?,
        None => context::today(state, &policy),
    };
    let users = quota_usage::enterprise_usage(state.pool(), &actor.enterprise_id, date).await?;
    Ok(EnterpriseQuota {
        date,
        time_zone: policy.time_zone.clone(),
        daily_limit: quota::daily_limit(&policy),
        users: users
            .into_iter()
            .map(|u| UserUsageDto {
                user_id: u.user_id,
                creates: u.creates,
                accesses: u.accesses,
            })
            .collect(),
    })
}
