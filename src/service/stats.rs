//! Access statistics: a share's for its owner, an enterprise's for analysts and admins.

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use shareledger_domain::quota;
use shareledger_domain::{Actor, Role};
use shareledger_projections::access_stats::{self, Bucket};
use shareledger_projections::my_share_links;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::http::auth::require_any;
use crate::http::error::ApiError;
use crate::service::context;
use crate::state::AppState;

/// The range and resolution of a statistics query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// First day (YYYY-MM-DD, enterprise time zone); default: 29 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; default: today.
    pub to: Option<NaiveDate>,
    /// `day` (default) or `hour` (at most 31 days).
    pub bucket: Option<String>,
    /// A `Shareledger-Position` from a write: wait (up to 5 s) until the statistics include it.
    pub min_position: Option<String>,
}

/// A statistics series and its totals.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsResponse {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub bucket: String,
    pub time_zone: String,
    /// One entry per bucket with any activity.
    #[schema(value_type = Vec<Object>)]
    pub series: Vec<Bucket>,
    #[schema(value_type = Object)]
    pub totals: Bucket,
}

fn invalid(code: &'static str, detail: &str) -> ApiError {
    ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, code, detail)
}

/// Waits until the statistics include a write (read-your-writes), or says they do not yet.
pub async fn caught_up(state: &AppState, projection: &str, min_position: Option<&str>) -> Result<(), ApiError> {
    let Some(text) = min_position else { return Ok(()) };
    let cursor = crate::runtime::position::parse(text)
        .ok_or_else(|| invalid("min_position_invalid", "min_position is a Shareledger-Position value."))?;
    let done = shareledger_projections::runner::wait_until_applied(
        state.pool(),
        projection,
        cursor,
        std::time::Duration::from_secs(5),
    )
    .await?;
    if done {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "not_caught_up",
            "The statistics have not caught up with that write yet; retry shortly.",
        )
        .with_retry_after(1))
    }
}

fn range(params: &StatsParams, today: NaiveDate, hourly: bool) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let to = params.to.unwrap_or(today);
    let from = params
        .from
        .unwrap_or_else(|| to.checked_sub_days(Days::new(29)).unwrap_or(to));
    if from > to {
        return Err(invalid("range_invalid", "from is after to."));
    }
    let max = if hourly { 31 } else { 366 };
    if (to - from).num_days() >= max {
        return Err(invalid(
            "range_too_long",
            &format!("Ask for at most {max} days at a time."),
        ));
    }
    Ok((from, to))
}

/// A share's statistics, for its owner (or an admin of its enterprise).
pub async fn share(state: &AppState, actor: &Actor, id: Uuid, params: StatsParams) -> Result<StatsResponse, ApiError> {
    let row = my_share_links::get(state.pool(), id)
        .await?
        .filter(|r| actor.manages(&r.owner_id, &r.enterprise_id))
        .ok_or_else(|| ApiError::not_found("No such share."))?;
    let hourly = match params.bucket.as_deref().unwrap_or("day") {
        "day" => false,
        "hour" => true,
        _ => return Err(invalid("bucket_invalid", "bucket is day or hour.")),
    };
    caught_up(state, "share_access_stats", params.min_position.as_deref()).await?;
    let policy = context::policy(state, &row.enterprise_id).await?;
    let tz = quota::time_zone(&policy);
    let (from, to) = range(&params, quota::quota_day(state.clock().now(), tz), hourly)?;
    let (series, totals) = access_stats::share_series(state.pool(), id, from, to, hourly).await?;
    Ok(StatsResponse {
        from,
        to,
        bucket: if hourly { "hour" } else { "day" }.to_owned(),
        time_zone: policy.time_zone,
        series,
        totals,
    })
}

/// The caller's enterprise's daily statistics (analysts and admins).
pub async fn enterprise(state: &AppState, actor: &Actor, params: StatsParams) -> Result<StatsResponse, ApiError> {
    require_any(actor, &[Role::Analyst, Role::Admin])?;
    if params.bucket.as_deref().is_some_and(|b| b != "day") {
        return Err(invalid("bucket_invalid", "Enterprise statistics are daily."));
    }
    caught_up(state, "share_access_stats", params.min_position.as_deref()).await?;
    let policy = context::policy(state, &actor.enterprise_id).await?;
    let (from, to) = range(&params, context::today(state, &policy), false)?;
    let (series, totals) = access_stats::enterprise_series(state.pool(), &actor.enterprise_id, from, to).await?;
    Ok(StatsResponse {
        from,
        to,
        bucket: "day".to_owned(),
        time_zone: policy.time_zone,
        series,
        totals,
    })
}
