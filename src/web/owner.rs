//! Signing in (with a token from `shareledger token`), signing out, and the owner's
//! "My Share Links" list: search by name and creation time, status filter, pages.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use chrono::{DateTime, NaiveDate, Utc};
use maud::html;
use serde::Deserialize;

use super::layout::{csrf_field, error, page, when};
use super::{AUTH_COOKIE, Csrf, Page, SignedIn, WebUser, see_other, set_cookie};
use crate::http::auth;
use crate::service::shares::{self, ListParams};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_form).post(signin))
        .route("/signin/once/{code}", get(once_form).post(once))
        .route("/signout", post(signout))
        .route("/links", get(my_links))
}

async fn home(WebUser(user): WebUser) -> Response {
    see_other(if user.is_some() { "/links" } else { "/signin" }, &[])
}

fn signin_page(csrf: &Csrf, problem: Option<&str>) -> maud::Markup {
    page(
        "Sign in",
        None,
        csrf,
        html! {
            div.card.narrow {
                h1 { "Sign in" }
                p { "Paste the sign-in token you were given (an administrator mints one with "
                    code { "shareledger token" } ")." }
                form method="post" action="/signin" {
                    (csrf_field(csrf))
                    label for="token" { "Sign-in token" }
                    textarea #token name="token" required autocomplete="off" spellcheck="false" {}
                    @if let Some(p) = problem { (error(p)) }
                    div.actions { button type="submit" { "Sign in" } }
                }
            }
        },
    )
}

async fn signin_form(WebUser(user): WebUser, csrf: Csrf) -> Response {
    if user.is_some() {
        return see_other("/links", &[]);
    }
    Page::ok(signin_page(&csrf, None), &csrf).into_response()
}

#[derive(Debug, Deserialize)]
struct SigninForm {
    csrf: String,
    token: String,
}

async fn signin(State(state): State<AppState>, csrf: Csrf, Form(form): Form<SigninForm>) -> Response {
    if !csrf.accepts(&form.csrf) {
        let html = signin_page(&csrf, Some("The form had expired. Please sign in again."));
        return Page::with_status(StatusCode::FORBIDDEN, html, &csrf).into_response();
    }
    let token = form.token.trim();
    let now = state.clock().now();
    match auth::verify_until(&state.keys().jwt_secret, token, now) {
        Ok((_, exp)) => {
            // The cookie lives as long as the token does.
            let max_age = exp - now.timestamp();
            see_other("/links", &[set_cookie(AUTH_COOKIE, token, max_age)])
        }
        Err(_) => {
            let html = signin_page(&csrf, Some("That token is not valid or has expired."));
            Page::with_status(StatusCode::UNAUTHORIZED, html, &csrf).into_response()
        }
    }
}

fn used_link(csrf: &Csrf) -> Response {
    let html = page(
        "Sign-in link",
        None,
        csrf,
        html! {
            div.card.narrow {
                h1 { "This sign-in link cannot be used" }
                p { "Sign-in links work once, for a day. This one was used already or has expired: ask for a new one." }
                p { a href="/signin" { "Sign in with a token instead" } }
            }
        },
    );
    Page::with_status(StatusCode::GONE, html, csrf).into_response()
}

/// A one-time link asks before it signs in, so that link previewers and mail scanners that
/// fetch it do not use it up.
async fn once_form(State(state): State<AppState>, csrf: Csrf, Path(code): Path<String>) -> Response {
    match crate::service::signin::peek(state.pool(), &code, state.clock().now()).await {
        Ok(Some(who)) => {
            let name = who.display_name.unwrap_or(who.user_id);
            let html = page(
                "Sign in",
                None,
                &csrf,
                html! {
                    form.card.narrow method="post" action={ "/signin/once/" (code) } #signin-once {
                        h1 { "Sign in as " (name) }
                        p.muted { "Organisation: " (who.enterprise_id) }
                        (csrf_field(&csrf))
                        div.actions { button type="submit" { "Continue as " (name) } }
                    }
                },
            );
            Page::ok(html, &csrf).into_response()
        }
        Ok(None) => used_link(&csrf),
        Err(e) => crate::http::error::ApiError::from(e).into_response(),
    }
}

async fn once(
    State(state): State<AppState>,
    csrf: Csrf,
    Path(code): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !csrf.accepts(&form.csrf) {
        return see_other(&format!("/signin/once/{code}"), &[]);
    }
    let now = state.clock().now();
    match crate::service::signin::redeem(state.pool(), &code, now).await {
        Ok(Some(claims)) => {
            let max_age = claims.exp - now.timestamp();
            let token = auth::mint(&state.keys().jwt_secret, &claims);
            see_other("/links", &[set_cookie(AUTH_COOKIE, &token, max_age)])
        }
        Ok(None) => used_link(&csrf),
        Err(e) => crate::http::error::ApiError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn signout(csrf: Csrf, Form(form): Form<CsrfOnly>) -> Response {
    if !csrf.accepts(&form.csrf) {
        return see_other("/links", &[]);
    }
    see_other("/signin", &[set_cookie(AUTH_COOKIE, "", 0)])
}

/// The list page's query: the filters of the form and the page.
#[derive(Debug, Default, Deserialize)]
struct LinksQuery {
    q: Option<String>,
    status: Option<String>,
    /// `YYYY-MM-DD`, the first day of the creation range.
    from: Option<String>,
    /// `YYYY-MM-DD`, the last day of the creation range.
    to: Option<String>,
    cursor: Option<String>,
    /// How many links the last bulk cancel cancelled.
    cancelled: Option<usize>,
}

fn day(text: Option<&str>, end: bool) -> Result<Option<DateTime<Utc>>, String> {
    match text.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .map(|d| {
                let d = if end { d.succ_opt().unwrap_or(d) } else { d };
                Some(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
            })
            .map_err(|_| format!("'{t}' is not a date (YYYY-MM-DD).")),
    }
}

async fn my_links(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    Query(query): Query<LinksQuery>,
) -> Response {
    let status = query.status.clone().unwrap_or_else(|| "active".to_owned());
    let range = day(query.from.as_deref(), false).and_then(|from| Ok((from, day(query.to.as_deref(), true)?)));
    let (result, problem) = match range {
        Ok((created_after, created_before)) => {
            let params = ListParams {
                q: query.q.clone().filter(|q| !q.is_empty()),
                created_after,
                created_before,
                status: Some(status.clone()),
                order_by: None,
                order: None,
                limit: Some(20),
                cursor: query.cursor.clone(),
            };
            match shares::list(&state, &actor, params).await {
                Ok(page) => (Some(page), None),
                Err(e) => (None, Some(e.detail)),
            }
        }
        Err(p) => (None, Some(p)),
    };
    // The link of each share on the page, for its Copy button (without any code).
    let mut links = std::collections::HashMap::new();
    if let Some(page) = &result {
        let ids: Vec<uuid::Uuid> = page.items.iter().map(|s| s.id).collect();
        if let (Ok(secrets), Ok(policy)) = (
            crate::service::secrets::read_many(state.pool(), &state.keys().seal, &ids).await,
            crate::service::context::policy(&state, &actor.enterprise_id).await,
        ) {
            for (id, s) in secrets {
                links.insert(id, crate::service::links::link(state.config(), &policy, &s.token, None));
            }
        }
    }
    let next_href = result.as_ref().and_then(|p| p.next_cursor.as_ref()).map(|cursor| {
        let mut url = url_query(&[
            ("q", query.q.as_deref().unwrap_or_default()),
            ("status", &status),
            ("from", query.from.as_deref().unwrap_or_default()),
            ("to", query.to.as_deref().unwrap_or_default()),
            ("cursor", cursor),
        ]);
        url.insert_str(0, "/links?");
        url
    });
    let statuses = [
        ("active", "Active"),
        ("expired", "Expired"),
        ("cancelled", "Cancelled"),
        ("all", "All"),
    ];
    let html = page(
        "My Share Links",
        Some(&actor),
        &csrf,
        html! {
            h1 { "My Share Links" }
            form.card.filters method="get" action="/links" role="search" {
                div {
                    label for="q" { "Name contains" }
                    input #q type="search" name="q" value=(query.q.as_deref().unwrap_or_default());
                }
                div {
                    label for="status" { "Status" }
                    select #status name="status" {
                        @for (value, label) in statuses {
                            option value=(value) selected[value == status] { (label) }
                        }
                    }
                }
                div {
                    label for="from" { "Created from" }
                    input #from type="date" name="from" value=(query.from.as_deref().unwrap_or_default());
                }
                div {
                    label for="to" { "Created until" }
                    input #to type="date" name="to" value=(query.to.as_deref().unwrap_or_default());
                }
                div { button type="submit" { "Search" } }
            }
            @if let Some(p) = &problem { (error(p)) }
            @if let Some(n) = query.cancelled {
                div.alert.ok role="status" { (n) " share link" @if n != 1 { "s" } " cancelled." }
            }
            @if let Some(result) = &result {
                @if result.items.is_empty() {
                    p.card.muted { "No share links match." }
                } @else {
                    form method="post" action="/links/cancel" #bulk-cancel {
                    (csrf_field(&csrf))
                    table {
                        caption.muted { "Newest first" }
                        thead { tr {
                            th scope="col" { span.skip { "Select" } }
                            th scope="col" { "Name" }
                            th scope="col" { "Items" }
                            th scope="col" { "Status" }
                            th.optional scope="col" { "Created" }
                            th.optional scope="col" { "Expires" }
                            th scope="col" { "Opens / downloads" }
                            th scope="col" { span.skip { "Link" } }
                        } }
                        tbody {
                            @for s in &result.items {
                                tr data-share=(s.id) {
                                    td {
                                        @if s.status == "active" {
                                            input type="checkbox" name="ids" value=(s.id) aria-label={ "Select " (s.name) };
                                        }
                                    }
                                    td { a href={ "/links/" (s.id) } { (s.name) } }
                                    td { (s.item_count) }
                                    td { span class={ "badge " (s.status) } { (s.status) } }
                                    td.optional { (when(s.created_at)) }
                                    td.optional { @if let Some(at) = s.expires_at { (when(at)) } @else { "Never" } }
                                    td { (s.counters.opens) " / " (s.counters.downloads) }
                                    td {
                                        @if let Some(link) = links.get(&s.id) {
                                            button.secondary type="button" data-copy=(link) { "Copy Link" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div.actions { button.danger type="submit" { "Cancel Share" } }
                    }
                }
                @if let Some(href) = &next_href {
                    p.pager { a.button.secondary href=(href) { "Next page" } }
                }
            }
        },
    );
    let status_code = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Page::with_status(status_code, html, &csrf).into_response()
}

/// `k=v&...`, percent-encoded.
fn url_query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", crate::service::links::encode_query_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}
