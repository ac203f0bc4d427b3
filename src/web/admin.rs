//! The admin page: the enterprise's sharing switches and the projections' status.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;
use shareledger_domain::{Actor, Role};

use super::layout::{csrf_field, error, page};
use super::{Csrf, Fields, Page, SignedIn, see_other};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::service::policy::{self, PolicyChangeRequest};
use crate::service::projections;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin", get(admin_page).post(change))
}

#[derive(Debug, Default, Deserialize)]
struct AdminQuery {
    saved: Option<String>,
}

async fn render(
    state: &AppState,
    actor: &Actor,
    csrf: &Csrf,
    saved: bool,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let policy = match policy::get(state, actor).await {
        Ok(p) => p,
        Err(e) => return super::problem_page("Admin", Some(actor), csrf, &e, ("/links", "Back to My Share Links")),
    };
    let status_rows = projections::status(state).await.unwrap_or_default();
    let html = page(
        "Admin",
        Some(actor),
        csrf,
        html! {
            h1 { "Admin: " (policy.enterprise_id) }
            @if saved { div.alert.ok role="status" { "Saved." } }
            @if let Some(p) = problem { (error(p)) }
            form.card method="post" action="/admin" #policy {
                h2 { "Sharing policy" }
                (csrf_field(csrf))
                label.check { input type="checkbox" name="external_sharing" checked[policy.external_sharing]; " Links anyone may open (external sharing)" }
                label.check { input type="checkbox" name="internal_sharing" checked[policy.internal_sharing]; " Links for signed-in members" }
                label.check { input type="checkbox" name="online_editing" checked[policy.online_editing]; " Links that allow editing documents online" }
                label for="custom_domain" { "Custom domain " span.muted { "(empty: the service's own address; lifts the daily quota)" } }
                input #custom_domain type="text" name="custom_domain" value=(policy.custom_domain.as_deref().unwrap_or_default());
                label for="daily_quota" { "Share links per person per day" }
                input #daily_quota type="number" min="1" name="daily_quota" value=(policy.daily_quota);
                label for="time_zone" { "Time zone of the quota day (IANA, e.g. Europe/Berlin)" }
                input #time_zone type="text" name="time_zone" value=(policy.time_zone);
                div.actions { button type="submit" { "Save policy" } }
            }
            div.card #projections {
                h2 { "Projections" }
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "State" }
                        th scope="col" { "Position" } th scope="col" { "Lag (events)" } th scope="col" { "Lag (s)" }
                    } }
                    tbody {
                        @for p in &status_rows {
                            tr {
                                td { (p.name) } td { (p.kind) } td { (p.state) }
                                td { (p.position.as_deref().unwrap_or("—")) } td { (p.lag_events) }
                                td { (format!("{:.1}", p.lag_seconds)) }
                            }
                        }
                    }
                }
            }
        },
    );
    Page::with_status(status, html, csrf).into_response()
}

async fn admin_page(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    Query(query): Query<AdminQuery>,
) -> Response {
    render(&state, &actor, &csrf, query.saved.is_some(), None, StatusCode::OK).await
}

async fn change(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let result = if !form.csrf_ok(&csrf) {
        Err(super::form_expired())
    } else {
        match form.get("daily_quota").unwrap_or_default().trim().parse::<u32>() {
            Err(_) => Err(ApiError::bad_request(
                "daily_quota_invalid",
                "The daily quota is a whole number.",
            )),
            Ok(quota) => {
                let change = PolicyChangeRequest {
                    external_sharing: Some(form.checked("external_sharing")),
                    internal_sharing: Some(form.checked("internal_sharing")),
                    online_editing: Some(form.checked("online_editing")),
                    custom_domain: Some(form.text("custom_domain").map(|d| d.trim().to_owned())),
                    daily_quota: Some(quota),
                    time_zone: form.text("time_zone").map(|z| z.trim().to_owned()),
                };
                policy::change(&state, &actor, &req, change).await.map(|_| ())
            }
        }
    };
    match result {
        Ok(()) => see_other("/admin?saved=1", &[]),
        Err(e) => {
            let status = super::refused_status(&e);
            render(&state, &actor, &csrf, false, Some(&e.detail), status).await
        }
    }
}

/// Whether the admin link belongs in the navigation.
pub fn is_admin(actor: &Actor) -> bool {
    actor.has(Role::Admin)
}
