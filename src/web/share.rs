//! Share Details: the link (Copy), the code, the QR code (shown after creation, downloadable),
//! the settings and their change, cancel behind a confirmation, access statistics as a chart
//! (per day, by operation: server-rendered SVG) and the share's history. Also the bulk cancel
//! of My Share Links.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Duration;
use maud::{Markup, html};
use serde::Deserialize;
use shareledger_domain::Actor;
use shareledger_projections::access_stats::Bucket;
use uuid::Uuid;

use super::layout::{csrf_field, error, page, when};
use super::{Csrf, Fields, Page, SignedIn, form_expired, see_other};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::service::shares;
use crate::service::shares::dto::{
    BulkCancelRequest, CancelRequest, ChangeShareRequest, LimitsDto, PermissionsDto, ShareDetails,
};
use crate::service::stats::{self, StatsParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/links/cancel", post(bulk_cancel))
        .route("/links/{id}", get(details).post(change))
        .route("/links/{id}/cancel", post(cancel))
        .route("/links/{id}/qr.png", get(qr_png))
        .route("/links/{id}/qr.svg", get(qr_svg))
}

const BACK_TO_LIST: (&str, &str) = ("/links", "Back to My Share Links");

#[derive(Debug, Default, Deserialize)]
struct DetailsQuery {
    /// Just created: show the link, the code and the QR code prominently.
    created: Option<String>,
    /// Just changed.
    changed: Option<String>,
}

fn status_badge(status: &str) -> Markup {
    html! { span class={ "badge " (status) } { (status) } }
}

fn permissions_text(p: &PermissionsDto) -> String {
    let mut parts = Vec::new();
    for (on, name) in [
        (p.preview, "preview"),
        (p.download, "download"),
        (p.save, "save"),
        (p.upload, "upload"),
        (p.edit, "edit online"),
    ] {
        if on {
            parts.push(name);
        }
    }
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

fn limits_text(l: &LimitsDto) -> String {
    let mut parts = Vec::new();
    for (value, name) in [
        (l.total, "in all"),
        (l.preview, "previews"),
        (l.download, "downloads"),
        (l.save, "saves"),
    ] {
        if let Some(n) = value {
            parts.push(format!("{n} {name}"));
        }
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// The chart of a share's daily activity, by operation: stacked bars, with a title per bar for
/// screen readers and pointer users, and the numbers as a table beside it.
fn chart(series: &[Bucket], from: chrono::NaiveDate, to: chrono::NaiveDate) -> Markup {
    const OPS: [(&str, &str); 5] = [
        ("opens", "#1f5fbf"),
        ("previews", "#7c3aed"),
        ("downloads", "#137333"),
        ("saves", "#b45309"),
        ("refused", "#b42318"),
    ];
    let value = |b: &Bucket, op: &str| match op {
        "opens" => b.opens,
        "previews" => b.previews,
        "downloads" => b.downloads,
        "saves" => b.saves,
        _ => b.refused,
    };
    let days: Vec<chrono::NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let by_day = |d: &chrono::NaiveDate| series.iter().find(|b| b.bucket == d.to_string());
    let max = days
        .iter()
        .filter_map(by_day)
        .map(|b| OPS.iter().map(|(op, _)| value(b, op)).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (width, height, left, bottom) = (640.0_f64, 180.0_f64, 32.0_f64, 20.0_f64);
    let bar = (width - left) / days.len().max(1) as f64;
    // Each day's bar, its operations stacked from the bottom.
    let mut rects = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let Some(b) = by_day(day) else { continue };
        let mut y = height;
        for (op, colour) in OPS {
            let n = value(b, op);
            if n > 0 {
                let h = n as f64 / max as f64 * height;
                y -= h;
                rects.push((
                    left + i as f64 * bar + 1.0,
                    y,
                    (bar - 2.0).max(1.0),
                    h,
                    colour,
                    format!("{day}: {n} {op}"),
                ));
            }
        }
    }
    let last = days.len().saturating_sub(1);
    html! {
        svg.chart role="img" aria-labelledby="chart-title" viewBox={ "0 0 " (width) " " (height + bottom) }
            width="100%" xmlns="http://www.w3.org/2000/svg" {
            title #chart-title { "Activity per day from " (from) " to " (to) }
            line x1=(left) y1="0" x2=(left) y2=(height) stroke="#d9dee7" {}
            line x1=(left) y1=(height) x2=(width) y2=(height) stroke="#d9dee7" {}
            text x="0" y="12" font-size="11" fill="#5b6577" { (max) }
            text x="0" y=(height) font-size="11" fill="#5b6577" { "0" }
            @for (x, y, w, h, colour, label) in &rects {
                rect x=(x) y=(y) width=(w) height=(h) fill=(colour) { title { (label) } }
            }
            @if let (Some(first), Some(final_day)) = (days.first(), days.get(last)) {
                text x=(left) y=(height + 14.0) font-size="11" fill="#5b6577" { (first.format("%m-%d")) }
                text x=(width) y=(height + 14.0) font-size="11" fill="#5b6577" text-anchor="end" { (final_day.format("%m-%d")) }
            }
        }
        p.legend {
            @for (op, colour) in OPS {
                span { svg width="10" height="10" aria-hidden="true" { rect width="10" height="10" fill=(colour) {} } " " (op) " " }
            }
        }
    }
}

fn details_page(
    csrf: &Csrf,
    d: &ShareDetails,
    stats: Option<&stats::StatsResponse>,
    history: &[crate::service::shares::dto::HistoryEntry],
    query: &DetailsQuery,
    problem: Option<&str>,
) -> Markup {
    let expiry_text = d.expires_at.map_or("never".to_owned(), when);
    let active = d.status == "active";
    html! {
        h1 { (d.name) " " (status_badge(&d.status)) }
        @if let Some(p) = problem { (error(p)) }
        @if query.changed.is_some() { div.alert.ok role="status" { "Saved." } }
        div.card #link-card {
            @if query.created.is_some() { h2 { "Your link is ready" } }
            label for="link" { "Link" }
            input #link type="text" readonly value=(d.link);
            @if let Some(code) = &d.access_code {
                label for="access-code" { "Access code" }
                input #access-code type="text" readonly value=(code);
            }
            div.actions {
                button.secondary type="button" data-copy=(d.link) { "Copy link" }
                @if let Some(code) = &d.access_code {
                    button.secondary type="button" data-copy=(code) { "Copy code" }
                }
                @if active { a.button.secondary href={ "/links/" (d.id) "/qr.png" } download { "Download QR code" } }
            }
            @if query.created.is_some() && active {
                img.qr src={ "/links/" (d.id) "/qr.svg" } alt="QR code of the link" width="180" height="180";
                p.muted { "QR codes are valid for 7 days." }
            }
        }
        div.card {
            h2 { "Settings" }
            dl.settings {
                dt { "Items" } dd { @for (i, item) in d.items.iter().enumerate() { @if i > 0 { ", " } (item.name) } }
                dt { "Recipients may" } dd { (permissions_text(&d.permissions)) }
                dt { "Who can open it" } dd { @if d.scope == crate::service::shares::dto::ScopeDto::Enterprise { "members of my organisation" } @else { "anyone with the link" } }
                dt { "Access code" } dd { @if d.has_access_code { "yes" @if d.autofill_code { ", in the link" } } @else { "none" } }
                dt { "Expires" } dd { (expiry_text) }
                dt { "Limits" } dd { (limits_text(&d.limits)) }
                dt { "Created" } dd { (when(d.created_at)) }
                dt { "Opens / previews / downloads / saves" }
                dd { (d.counters.opens) " / " (d.counters.previews) " / " (d.counters.downloads) " / " (d.counters.saves) }
            }
        }
        @if active {
            form.card method="post" action={ "/links/" (d.id) } #change-share {
                h2 { "Change" }
                (csrf_field(csrf))
                label for="name" { "Name" }
                input #name type="text" name="name" maxlength="128" value=(d.name);
                label for="message" { "Message" }
                textarea #message name="message" maxlength="1024" { (d.message) }
                fieldset {
                    legend { "Recipients may" }
                    @for (name, label, on) in [("preview", "Preview", d.permissions.preview), ("download", "Download", d.permissions.download),
                        ("save", "Save to their drive", d.permissions.save), ("upload", "Upload into shared folders", d.permissions.upload),
                        ("edit", "Edit documents online", d.permissions.edit)] {
                        label.check { input type="checkbox" name=(name) checked[on]; " " (label) }
                    }
                }
                fieldset {
                    legend { "Expires" }
                    label.check { input type="radio" name="expiry" value="keep" checked; " Keep (" (expiry_text) ")" }
                    @for (days, label) in [("1", "1 day from now"), ("7", "7 days from now"), ("30", "30 days from now"), ("0", "Never")] {
                        label.check { input type="radio" name="expiry" value=(days); " " (label) }
                    }
                }
                fieldset {
                    legend { "Access code" }
                    label.check { input type="radio" name="code_mode" value="keep" checked; " Keep" }
                    label.check { input type="radio" name="code_mode" value="generate"; " Generate a new code" }
                    label.check { input type="radio" name="code_mode" value="custom"; " Use this code:" }
                    input type="text" name="code" aria-label="New access code" maxlength="64" autocomplete="off";
                    @if d.has_access_code { label.check { input type="radio" name="code_mode" value="remove"; " Remove the code" } }
                }
                div.actions { button type="submit" { "Save changes" } }
            }
            form.card method="post" action={ "/links/" (d.id) "/cancel" } #cancel-share {
                h2 { "Cancel the link" }
                p { "Cancelling is final: the link stops working at once for everyone." }
                (csrf_field(csrf))
                label.check { input type="checkbox" name="confirm" required; " Yes, cancel this link" }
                div.actions { button.danger type="submit" { "Cancel Share" } }
            }
        }
        @if let Some(s) = stats {
            div.card #statistics {
                h2 { "Access in the last 30 days" }
                (chart(&s.series, s.from, s.to))
                p { "In all: " (s.totals.opens) " opens, " (s.totals.previews) " previews, " (s.totals.downloads)
                    " downloads, " (s.totals.saves) " saves, " (s.totals.refused) " refused." }
            }
        }
        div.card #history {
            h2 { "History" }
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "What" } th scope="col" { "Who" } } }
                tbody {
                    @for e in history.iter().rev() {
                        tr { td { (when(e.occurred_at)) } td { (e.event_type) } td { (e.actor.as_deref().unwrap_or("anonymous visitor")) } }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &AppState,
    actor: &Actor,
    csrf: &Csrf,
    id: Uuid,
    query: &DetailsQuery,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let d = match shares::details(state, actor, id).await {
        Ok(d) => d,
        Err(e) => return super::problem_page("No such share", Some(actor), csrf, &e, BACK_TO_LIST),
    };
    let today = chrono::Utc::now().date_naive();
    let stats = stats::share(
        state,
        actor,
        id,
        StatsParams {
            from: Some(today - Duration::days(29)),
            to: Some(today),
            bucket: Some("day".to_owned()),
            min_position: None,
        },
    )
    .await
    .ok();
    let history = shares::history(state, actor, id)
        .await
        .map(|h| h.events)
        .unwrap_or_default();
    let html = page(
        &d.name,
        Some(actor),
        csrf,
        details_page(csrf, &d, stats.as_ref(), &history, query, problem),
    );
    Page::with_status(status, html, csrf).into_response()
}

async fn details(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    Path(id): Path<Uuid>,
    Query(query): Query<DetailsQuery>,
) -> Response {
    render(&state, &actor, &csrf, id, &query, None, StatusCode::OK).await
}

/// After a form of the details page: on to `done`, or the page again with the refusal.
async fn answer(
    state: &AppState,
    actor: &Actor,
    csrf: &Csrf,
    id: Uuid,
    result: Result<(), ApiError>,
    done: &str,
) -> Response {
    match result {
        Ok(()) => see_other(done, &[]),
        Err(e) => {
            let status = super::refused_status(&e);
            render(
                state,
                actor,
                csrf,
                id,
                &DetailsQuery::default(),
                Some(&e.detail),
                status,
            )
            .await
        }
    }
}

/// The change the form describes.
fn change_request(state: &AppState, form: &Fields) -> Result<ChangeShareRequest, ApiError> {
    let mut change = ChangeShareRequest {
        name: form.get("name").map(str::to_owned),
        message: form.get("message").map(str::to_owned),
        permissions: Some(PermissionsDto {
            preview: form.checked("preview"),
            download: form.checked("download"),
            save: form.checked("save"),
            upload: form.checked("upload"),
            edit: form.checked("edit"),
        }),
        ..ChangeShareRequest::default()
    };
    match form.get("expiry").unwrap_or("keep") {
        "keep" => {}
        "0" => change.expires_at = Some(None),
        days => {
            let days: i64 = days
                .parse()
                .map_err(|_| ApiError::bad_request("expiry_invalid", "Choose an expiry."))?;
            change.expires_at = Some(Some(state.clock().now() + Duration::days(days)));
        }
    }
    match form.get("code_mode").unwrap_or("keep") {
        "generate" => change.generate_access_code = true,
        "custom" => change.access_code = Some(form.get("code").unwrap_or_default().to_owned()),
        "remove" => change.remove_access_code = true,
        _ => {}
    }
    Ok(change)
}

async fn change(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let result = if form.csrf_ok(&csrf) {
        match change_request(&state, &form) {
            Ok(change) => shares::change(&state, &actor, &req, id, change).await.map(|_| ()),
            Err(e) => Err(e),
        }
    } else {
        Err(form_expired())
    };
    answer(&state, &actor, &csrf, id, result, &format!("/links/{id}?changed=1")).await
}

async fn cancel(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let result = if !form.csrf_ok(&csrf) {
        Err(form_expired())
    } else if !form.checked("confirm") {
        Err(ApiError::bad_request(
            "confirm",
            "Tick the box to confirm the cancellation.",
        ))
    } else {
        shares::cancel(&state, &actor, &req, None, id, CancelRequest::default())
            .await
            .map(|_| ())
    };
    answer(&state, &actor, &csrf, id, result, &format!("/links/{id}")).await
}

/// Bulk cancel from My Share Links: the first post shows what would be cancelled and asks to
/// confirm; the confirmed post cancels them.
async fn bulk_cancel(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let problem = |e: &ApiError| super::problem_page("Cancel Share", Some(&actor), &csrf, e, BACK_TO_LIST);
    if !form.csrf_ok(&csrf) {
        return problem(&form_expired());
    }
    let ids: Vec<Uuid> = form.all("ids").iter().filter_map(|i| i.parse().ok()).collect();
    if ids.is_empty() {
        return problem(&ApiError::bad_request(
            "ids_required",
            "Select the share links to cancel.",
        ));
    }
    if !form.checked("confirmed") {
        let mut names = Vec::new();
        for id in &ids {
            if let Ok(d) = shares::details(&state, &actor, *id).await {
                names.push((d.id, d.name));
            }
        }
        let html = page(
            "Cancel Share",
            Some(&actor),
            &csrf,
            html! {
                form.card.narrow method="post" action="/links/cancel" #confirm-cancel {
                    h1 { "Cancel " (names.len()) " share link" @if names.len() != 1 { "s" } "?" }
                    p { "Cancelling is final: these links stop working at once for everyone." }
                    ul { @for (id, name) in &names { li { (name) input type="hidden" name="ids" value=(id); } } }
                    (csrf_field(&csrf))
                    input type="hidden" name="confirmed" value="1";
                    div.actions {
                        button.danger type="submit" { "Yes, cancel them" }
                        a.button.secondary href="/links" { "No, keep them" }
                    }
                }
            },
        );
        return Page::ok(html, &csrf).into_response();
    }
    match shares::bulk_cancel(&state, &actor, &req, BulkCancelRequest { ids }).await {
        Ok(result) => {
            let cancelled = result.results.iter().filter(|r| r.outcome == "cancelled").count();
            see_other(&format!("/links?status=all&cancelled={cancelled}"), &[])
        }
        Err(e) => problem(&e),
    }
}

async fn qr_png(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Response {
    crate::http::shares::qr_image(&state, &actor, &req, id, false)
        .await
        .into_response()
}

async fn qr_svg(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Response {
    crate::http::shares::qr_image(&state, &actor, &req, id, true)
        .await
        .into_response()
}
