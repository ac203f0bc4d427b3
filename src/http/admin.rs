//! `/api/v1/admin`: the enterprise policy and quota usage.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{Problem, Query};
use super::json::Json;
use super::request::RequestMeta;
use crate::service::policy::{self, PolicyChangeRequest, PolicyDto};
use crate::service::quota::{self, EnterpriseQuota};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_policy, put_policy))
        .routes(routes!(enterprise_quota))
        .routes(routes!(projections))
        .routes(routes!(rebuild_projection))
}

/// Every projection: position, lag in events and seconds, state (admins).
#[utoipa::path(get, path = "/api/v1/admin/projections", tag = "admin",
    responses((status = 200, description = "Projection states", body = Vec<crate::service::projections::ProjectionStatus>), (status = 403, description = "Admins only", body = Problem)),
    security(("bearer" = [])))]
async fn projections(
    State(state): State<AppState>,
    Auth(actor): Auth,
) -> Result<Json<Vec<crate::service::projections::ProjectionStatus>>, ApiError> {
    super::auth::require_any(&actor, &[shareledger_domain::Role::Admin])?;
    Ok(Json(crate::service::projections::status(&state).await?))
}

/// Rebuild a projection from the log while the service keeps answering from the old tables;
/// the new ones are swapped in when caught up (admins). Progress shows in the status.
#[utoipa::path(post, path = "/api/v1/admin/projections/{name}/rebuild", tag = "admin", params(("name" = String, Path)),
    responses(
        (status = 202, description = "Rebuild started", body = crate::service::projections::ProjectionStatus),
        (status = 404, description = "No such projection", body = Problem),
        (status = 409, description = "Already rebuilding", body = Problem),
    ),
    security(("bearer" = [])))]
async fn rebuild_projection(
    State(state): State<AppState>,
    Auth(actor): Auth,
    super::extract::Path(name): super::extract::Path<String>,
) -> Result<
    (
        axum::http::StatusCode,
        Json<crate::service::projections::ProjectionStatus>,
    ),
    ApiError,
> {
    let status = crate::service::projections::start_rebuild(&state, &actor, &name).await?;
    Ok((axum::http::StatusCode::ACCEPTED, Json(status)))
}

/// The enterprise's sharing policy (admins).
#[utoipa::path(get, path = "/api/v1/admin/policy", tag = "admin",
    responses((status = 200, description = "The policy", body = PolicyDto), (status = 403, description = "Admins only", body = Problem)),
    security(("bearer" = [])))]
async fn get_policy(State(state): State<AppState>, Auth(actor): Auth) -> Result<Json<PolicyDto>, ApiError> {
    Ok(Json(policy::get(&state, &actor).await?))
}

/// Change the enterprise's sharing policy (admins); only the fields given change.
#[utoipa::path(put, path = "/api/v1/admin/policy", tag = "admin", request_body = PolicyChangeRequest,
    responses((status = 200, description = "The new policy", body = PolicyDto), (status = 403, description = "Admins only", body = Problem), (status = 422, description = "Invalid value", body = Problem)),
    security(("bearer" = [])))]
async fn put_policy(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Json(body): Json<PolicyChangeRequest>,
) -> Result<Json<PolicyDto>, ApiError> {
    Ok(Json(policy::change(&state, &actor, &req, body).await?))
}

/// Which day.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct QuotaParams {
    /// YYYY-MM-DD in the enterprise's time zone (default: today).
    #[param(format = Date)]
    date: Option<String>,
}

/// Every user's quota usage on a day (admins and analysts).
#[utoipa::path(get, path = "/api/v1/admin/quota", tag = "admin", params(QuotaParams),
    responses((status = 200, description = "Usage per user", body = EnterpriseQuota), (status = 403, description = "Admins and analysts only", body = Problem)),
    security(("bearer" = [])))]
async fn enterprise_quota(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(params): Query<QuotaParams>,
) -> Result<Json<EnterpriseQuota>, ApiError> {
    Ok(Json(quota::enterprise(&state, &actor, params.date).await?))
}
