//! `/api/v1/me`: the caller's own facts.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Auth;
use super::error::ApiError;
use super::json::Json;
use crate::service::quota::{self, MyQuota};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me)).routes(routes!(my_quota))
}

/// Who the token says the caller is.
#[derive(Debug, Serialize, ToSchema)]
struct Me {
    user_id: String,
    enterprise_id: String,
    display_name: String,
    roles: Vec<String>,
}

/// The caller, as the token identifies them.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, description = "The caller", body = Me)), security(("bearer" = [])))]
async fn me(Auth(actor): Auth) -> Json<Me> {
    Json(Me {
        roles: actor.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        user_id: actor.user_id,
        enterprise_id: actor.enterprise_id,
        display_name: actor.display_name,
    })
}

/// Today's quota: shares created and opened, the limits, and when they reset.
#[utoipa::path(get, path = "/api/v1/me/quota", tag = "me", responses((status = 200, description = "Today's counters", body = MyQuota)), security(("bearer" = [])))]
async fn my_quota(State(state): State<AppState>, Auth(actor): Auth) -> Result<Json<MyQuota>, ApiError> {
    Ok(Json(quota::mine(&state, &actor).await?))
}
