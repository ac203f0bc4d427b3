//! Audit: `/api/v1/audit/verify` (auditors).

use axum::extract::State;
use shareledger_domain::actor::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{Auth, require_any};
use super::error::ApiError;
use super::extract::Problem;
use super::json::Json;
use crate::audit::verify::{Report, verify};
use crate::state::AppState;

/// The routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify_log))
}

/// Verify the whole log: every stream's hash chain, and every signed checkpoint's signature,
/// event count and digest (auditors). `verdict` is `intact` or `tampered`; each problem names
/// the stream, version, position and kind.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The verdict and every problem found", body = Report),
        (status = 403, description = "Auditors only", body = Problem),
    ),
    security(("bearer" = [])))]
async fn verify_log(State(state): State<AppState>, Auth(actor): Auth) -> Result<Json<Report>, ApiError> {
    require_any(&actor, &[Role::Auditor])?;
    let key = state.keys().audit.public();
    let report = verify(state.pool(), &key, |_| {}).await?;
    Ok(Json(report))
}
