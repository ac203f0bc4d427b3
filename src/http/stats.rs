//! Access statistics: `/api/v1/shares/{id}/stats` (owners) and `/api/v1/stats/enterprise`
//! (analysts and admins).

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::error::ApiError;
use super::extract::{Path, Problem, Query};
use super::json::Json;
use crate::service::stats::{self, StatsParams, StatsResponse};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(share_stats))
        .routes(routes!(enterprise_stats))
}

/// A share's access statistics by day or hour: counts by operation, refusals by reason, unique
/// visitors, and totals.
#[utoipa::path(get, path = "/api/v1/shares/{id}/stats", tag = "stats", params(("id" = Uuid, Path), StatsParams),
    responses(
        (status = 200, description = "Series and totals", body = StatsResponse),
        (status = 404, description = "No such share of yours", body = Problem),
        (status = 503, description = "Not caught up with `min_position` yet", body = Problem),
    ),
    security(("bearer" = [])))]
async fn share_stats(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    Ok(Json(stats::share(&state, &actor, id, params).await?))
}

/// The enterprise's daily access statistics (analysts and admins).
#[utoipa::path(get, path = "/api/v1/stats/enterprise", tag = "stats", params(StatsParams),
    responses((status = 200, description = "Series and totals", body = StatsResponse), (status = 403, description = "Analysts and admins only", body = Problem)),
    security(("bearer" = [])))]
async fn enterprise_stats(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    Ok(Json(stats::enterprise(&state, &actor, params).await?))
}
