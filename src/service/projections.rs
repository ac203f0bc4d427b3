//! Projection status and rebuilds, for admins and the CLI.

use serde::Serialize;
use shareledger_domain::Role;
use shareledger_projections::projection::{ALL, Kind, Projection};
use shareledger_projections::{checkpoint, rebuild};
use sqlx::postgres::PgConnectOptions;
use utoipa::ToSchema;

use super::runners::RebuildStatus;
use crate::http::auth::require_any;
use crate::http::error::ApiError;
use crate::state::AppState;

/// One projection's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProjectionStatus {
    pub name: String,
    /// `inline` (applied with every write) or `async` (a runner follows the log).
    pub kind: String,
    /// The log position applied up to (`<tx_id>-<position>`), async projections only.
    pub position: Option<String>,
    pub events_applied: Option<i64>,
    /// Events not applied yet (counted up to a million).
    pub lag_events: i64,
    /// Age of the oldest event not applied yet.
    pub lag_seconds: f64,
    /// `current` (inline), `active` (a runner is applying, here or on another instance),
    /// `standby`, `failed`, `stopped` (no runner holds it), `rebuilding`.
    pub state: String,
    /// This instance's runner, when it has one.
    #[schema(value_type = Option<Object>)]
    pub runner: Option<shareledger_projections::runner::RunnerStatus>,
    #[schema(value_type = Option<Object>)]
    pub rebuild: Option<RebuildStatus>,
}

/// Every projection's status.
pub async fn status(state: &AppState) -> Result<Vec<ProjectionStatus>, ApiError> {
    let mut out = Vec::new();
    for p in ALL.iter().copied() {
        out.push(one(state, p).await?);
    }
    Ok(out)
}

async fn one(state: &AppState, p: &'static dyn Projection) -> Result<ProjectionStatus, ApiError> {
    let runner = state.runners().status(p.name());
    let rebuild = state.runners().rebuild(p.name());
    let (position, applied, lag, state_name) = match p.kind() {
        Kind::Inline => (None, None, (0, 0.0), "current".to_owned()),
        Kind::Async => {
            let cp = checkpoint::load(state.pool(), p.name(), false).await?;
            let lag = checkpoint::lag(state.pool(), cp.cursor, 1_000_000).await?;
            let held: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 AND ((classid::bigint << 32) | objid::bigint) = $1)",
            )
            .bind(shareledger_projections::runner::lock_key("runner", p.name()))
            .fetch_one(state.pool())
            .await?;
            let here = runner.as_ref().map(|r| r.state);
            let name = match (held, here) {
                (_, Some("active")) => "active",
                (true, _) => "active",
                (false, Some("failed")) => "failed",
                (false, _) => "stopped",
            };
            (
                Some(crate::runtime::position::format(cp.cursor)),
                Some(cp.events_applied),
                lag,
                name.to_owned(),
            )
        }
    };
    let state_name = if rebuild.as_ref().is_some_and(|r| r.state == "running") {
        "rebuilding".to_owned()
    } else {
        state_name
    };
    Ok(ProjectionStatus {
        name: p.name().to_owned(),
        kind: p.kind().as_str().to_owned(),
        position,
        events_applied: applied,
        lag_events: lag.0,
        lag_seconds: lag.1,
        state: state_name,
        runner,
        rebuild,
    })
}

/// Starts rebuilding a projection in the background (admins); progress shows in the status.
pub async fn start_rebuild(
    state: &AppState,
    actor: &shareledger_domain::Actor,
    name: &str,
) -> Result<ProjectionStatus, ApiError> {
    require_any(actor, &[Role::Admin])?;
    let projection = super::runners::known(name).ok_or_else(|| ApiError::not_found("No projection of that name."))?;
    if state.runners().rebuilding(name) {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "rebuild_running",
            "A rebuild of this projection is already running.",
        ));
    }
    state.runners().set_rebuild(
        name,
        RebuildStatus {
            state: "running".into(),
            ..RebuildStatus::default()
        },
    );
    let (bg, connect) = (state.clone(), state.connect_options().clone());
    tokio::spawn(async move {
        let name = projection.name();
        let progress_state = bg.clone();
        let result = run_rebuild(&connect, &[projection], move |events| {
            progress_state.runners().set_rebuild(
                name,
                RebuildStatus {
                    state: "running".into(),
                    events,
                    ..RebuildStatus::default()
                },
            );
        })
        .await;
        let status = match result {
            Ok(done) => RebuildStatus {
                state: "done".into(),
                events: done.events,
                events_per_second: Some(done.events_per_second()),
                error: None,
            },
            Err(e) => {
                tracing::error!(projection = name, error = %e, "rebuild failed");
                RebuildStatus {
                    state: "failed".into(),
                    error: Some(e.to_string()),
                    ..RebuildStatus::default()
                }
            }
        };
        bg.runners().set_rebuild(name, status);
    });
    one(state, projection).await
}

/// Rebuilds projections from the log and swaps them in (CLI and background rebuilds).
pub async fn run_rebuild(
    connect: &PgConnectOptions,
    projections: &[&'static dyn Projection],
    progress: impl FnMut(u64),
) -> Result<rebuild::Rebuilt, shareledger_projections::ProjectionError> {
    rebuild::rebuild(connect, projections, 10_000, progress).await
}
