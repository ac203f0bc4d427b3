//! The recipient's landing page `/s/{token}`: the message and the owner, the code prompt, the
//! items with the buttons the share permits, folder browsing, saving and uploading, and a clear
//! page for every refusal.

use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::layout::{csrf_field, error, page, size};
use super::{Csrf, Page, WebUser, see_other};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::service::recipient::access::{self, InSession, LinkListing};
use crate::service::recipient::link::LinkFacts;
use crate::service::recipient::open::{self, OpenRequest};
use crate::service::recipient::session;
use crate::state::AppState;

pub fn router(max_upload_bytes: u64) -> Router<AppState> {
    let upload_limit = usize::try_from(max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/s/{token}", get(landing).post(open_with_code))
        .route("/s/{token}/items/{item}/save", post(save))
        .route(
            "/s/{token}/items/{item}/edit",
            get(edit_form)
                .post(edit)
                .layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/s/{token}/upload",
            post(upload).layer(axum::extract::DefaultBodyLimit::max(upload_limit)),
        )
}

#[derive(Debug, Default, Deserialize)]
struct LandingQuery {
    /// The code, when the owner's copied link carries it (auto-fill).
    code: Option<String>,
    /// A QR code's id, when the link was scanned.
    qr: Option<String>,
    /// A shared folder to show.
    parent: Option<Uuid>,
    /// What the last action did (`saved`, `uploaded`).
    done: Option<String>,
}

/// What a refused recipient reads: a title and an explanation, by the refusal's code.
fn refusal_text(code: &str) -> (&'static str, &'static str) {
    match code {
        "share_cancelled" => (
            "This link was cancelled",
            "The person who shared it has cancelled the link. Ask them for a new one if you still need the files.",
        ),
        "share_expired" => (
            "This link has expired",
            "The link was only valid for a limited time. Ask the person who shared it for a new one.",
        ),
        "item_deleted" => (
            "The original was deleted",
            "The shared file or folder no longer exists in the owner's drive.",
        ),
        "no_permission" => ("Not allowed", "This link does not allow that."),
        "limit_reached" => (
            "The limit is reached",
            "This link has been used as many times as its owner allowed.",
        ),
        "daily_quota_exceeded" => (
            "Your daily quota is used up",
            "You have opened as many shared links today as your organisation allows. Try again tomorrow.",
        ),
        "file_type_blocked" => (
            "This file type is blocked",
            "Your organisation does not allow this kind of file to be shared.",
        ),
        "sharing_disabled" | "external_sharing_disabled" => (
            "Sharing is switched off",
            "The owner's organisation has switched off sharing through this kind of link.",
        ),
        "sign_in_required" => (
            "Sign in to open this link",
            "This link is only for members of the owner's organisation. Sign in first, then open it again.",
        ),
        "not_a_member" => (
            "Only for the owner's organisation",
            "This link is only for members of the owner's organisation, and you are signed in as someone else.",
        ),
        "online_editing_disabled" => (
            "Online editing is switched off",
            "The owner's organisation does not allow editing shared documents online.",
        ),
        "qr_code_expired" => (
            "This QR code has expired",
            "QR codes of a link are valid for 7 days. Ask the owner for the link itself or a new QR code.",
        ),
        "too_many_requests" => (
            "Too many attempts",
            "Too many links were tried from here. Wait a minute and try again.",
        ),
        "form_expired" => (
            "Please try again",
            "This form had expired or came from another site. Go back, reload the page and send it again.",
        ),
        "not_found" | "item_not_shared" => (
            "No share at this link",
            "Check that you copied the whole link. It may also have been mistyped.",
        ),
        _ => (
            "This link cannot be opened",
            "Something stopped this link from opening. Try again later.",
        ),
    }
}

/// The page for a refusal (or any error) at a link.
fn refused(user: Option<&shareledger_domain::Actor>, csrf: &Csrf, e: &ApiError) -> Page {
    let (title, text) = refusal_text(e.code);
    let status = super::refused_status(e);
    let html = page(
        title,
        user,
        csrf,
        html! {
            div.card.narrow data-refusal=(e.code) {
                h1 { (title) }
                p { (text) }
                @if e.code == "sign_in_required" && user.is_none() {
                    p { a.button href="/signin" { "Sign in" } }
                }
            }
        },
    );
    Page::with_status(status, html, csrf)
}

fn header(facts: &LinkFacts) -> Markup {
    html! {
        h1 { (facts.name) }
        p.muted {
            "Shared by " strong { (facts.owner_name) }
            @if let Some(at) = facts.expires_at { " · available until " (super::layout::when(at)) }
        }
        @if !facts.message.is_empty() { p.message { (facts.message) } }
    }
}

fn code_prompt(token: &str, facts: &LinkFacts, csrf: &Csrf, prefill: &str, problem: Option<&str>) -> Markup {
    html! {
        div.card.narrow {
            (header(facts))
            form method="post" action={ "/s/" (token) } {
                (csrf_field(csrf))
                label for="code" { "Access code" }
                p.muted #code-help { "The person who shared this link gave you a code with it." }
                input #code type="password" name="code" value=(prefill) required autocomplete="off"
                    aria-describedby="code-help" autofocus;
                @if let Some(p) = problem { (error(p)) }
                div.actions { button type="submit" { "Open" } }
            }
        }
    }
}

fn items_page(
    token: &str,
    facts: &LinkFacts,
    listing: &LinkListing,
    csrf: &Csrf,
    signed_in: bool,
    done: Option<&str>,
) -> Markup {
    let p = facts.permissions;
    let upload_action = match listing.parent {
        Some(parent) => format!("/s/{token}/upload?parent={parent}"),
        None => format!("/s/{token}/upload"),
    };
    html! {
        div.card {
            (header(facts))
            @if done == Some("saved") {
                div.alert.ok role="status" { "Saved to your drive." }
            }
            @if done == Some("edited") {
                div.alert.ok role="status" { "Your new version is saved. The owner sees it in their drive." }
            }
            @if done == Some("uploaded") {
                div.alert.ok role="status" { "Uploaded. The owner will find it in the shared folder." }
            }
            @if listing.parent.is_some() {
                p { a href={ "/s/" (token) } { "← Back to the shared items" } }
            }
            @if listing.items.is_empty() {
                p.muted { "This folder is empty." }
            }
            ul.items aria-label="Shared items" {
                @for item in &listing.items {
                    li data-item=(item.id) {
                        span {
                            @if item.kind == "folder" {
                                a href={ "/s/" (token) "?parent=" (item.id) } { "📁 " (item.name) }
                            } @else {
                                (item.name)
                                " " span.muted { (size(item.size)) }
                            }
                            @if item.deleted { " " span.badge.cancelled { "deleted by the owner" } }
                        }
                        @if item.kind == "file" && !item.deleted {
                            span.actions {
                                @if p.preview {
                                    a.button.secondary href={ "/api/v1/links/" (token) "/items/" (item.id) "/preview" }
                                        target="_blank" rel="noopener" { "Preview" }
                                }
                                @if p.download {
                                    a.button href={ "/api/v1/links/" (token) "/items/" (item.id) "/download" } download { "Download" }
                                }
                                @if p.edit {
                                    a.button.secondary href={ "/s/" (token) "/items/" (item.id) "/edit" } { "Edit" }
                                }
                                @if p.save {
                                    @if signed_in {
                                        form method="post" action={ "/s/" (token) "/items/" (item.id) "/save" } {
                                            (csrf_field(csrf))
                                            button.secondary type="submit" { "Save to my drive" }
                                        }
                                    } @else {
                                        a.button.secondary href="/signin" title="Sign in to save a copy" { "Sign in to save" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if p.upload {
            div.card {
                h2 { "Upload into this folder" }
                form method="post" enctype="multipart/form-data" action=(upload_action) {
                    (csrf_field(csrf))
                    label for="file" { "File" }
                    input #file type="file" name="file" required;
                    div.actions { button type="submit" { "Upload" } }
                }
            }
        }
    }
}

/// The share session this browser holds for the link, if it still holds.
async fn current_session(
    state: &AppState,
    token: &str,
    req: &RequestMeta,
    headers: &axum::http::HeaderMap,
) -> Option<InSession> {
    let cookie = super::cookie(headers, &session::cookie_name(token))?;
    access::enter(state, token, req, Some(cookie), None).await.ok()
}

async fn show_items(
    state: &AppState,
    s: &InSession,
    token: &str,
    facts: &LinkFacts,
    query: &LandingQuery,
    user: Option<&shareledger_domain::Actor>,
    csrf: &Csrf,
) -> Page {
    match access::list(state, s, query.parent).await {
        Ok(listing) => Page::ok(
            page(
                &facts.name,
                user,
                csrf,
                items_page(token, facts, &listing, csrf, user.is_some(), query.done.as_deref()),
            ),
            csrf,
        ),
        Err(e) => refused(user, csrf, &e),
    }
}

fn session_cookie(state: &AppState, token: &str, session: &session::Session, signed: &str) -> String {
    let max_age = (session.expires_at() - state.clock().now()).num_seconds();
    session::set_cookie(token, signed, max_age)
}

async fn landing(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: axum::http::HeaderMap,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(token): Path<String>,
    Query(query): Query<LandingQuery>,
) -> Page {
    let facts = match open::facts(&state, &token, &req).await {
        Ok(f) => f,
        Err(e) => return refused(user.as_ref(), &csrf, &e),
    };
    if let Some(s) = current_session(&state, &token, &req, &headers).await {
        return show_items(&state, &s, &token, &facts, &query, user.as_ref(), &csrf).await;
    }
    if facts.needs_code {
        let html = page(
            &facts.name,
            user.as_ref(),
            &csrf,
            code_prompt(&token, &facts, &csrf, query.code.as_deref().unwrap_or_default(), None),
        );
        return Page::ok(html, &csrf);
    }
    // No code: opening the page opens the link (recorded as ShareOpened, or the refusal).
    let request = OpenRequest {
        code: None,
        qr: query.qr.clone(),
    };
    match open::open(&state, &token, &req, user.clone(), request, None).await {
        Ok((session, signed)) => {
            let cookie = session_cookie(&state, &token, &session, &signed);
            match access::enter(&state, &token, &req, Some(&signed), None).await {
                Ok(s) => show_items(&state, &s, &token, &facts, &query, user.as_ref(), &csrf)
                    .await
                    .cookie(cookie),
                Err(e) => refused(user.as_ref(), &csrf, &e),
            }
        }
        Err(e) => refused(user.as_ref(), &csrf, &e),
    }
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

async fn open_with_code(
    State(state): State<AppState>,
    req: RequestMeta,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(token): Path<String>,
    Query(query): Query<LandingQuery>,
    Form(form): Form<CodeForm>,
) -> Response {
    if !csrf.accepts(&form.csrf) {
        return refused(user.as_ref(), &csrf, &super::form_expired()).into_response();
    }
    let facts = match open::facts(&state, &token, &req).await {
        Ok(f) => f,
        Err(e) => return refused(user.as_ref(), &csrf, &e).into_response(),
    };
    let request = OpenRequest {
        code: Some(form.code),
        qr: query.qr.clone(),
    };
    match open::open(&state, &token, &req, user.clone(), request, None).await {
        Ok((session, signed)) => {
            let cookie = session_cookie(&state, &token, &session, &signed);
            see_other(&format!("/s/{token}"), &[cookie])
        }
        Err(e)
            if matches!(
                e.code,
                "access_code_wrong" | "access_code_throttled" | "access_code_required"
            ) =>
        {
            let problem = match e.code {
                "access_code_wrong" => "That code is not right. Check it and try again.".to_owned(),
                "access_code_throttled" => format!(
                    "Too many wrong codes. Wait {} seconds, then try again.",
                    e.retry_after.unwrap_or(60)
                ),
                _ => "Enter the access code.".to_owned(),
            };
            let html = page(
                &facts.name,
                user.as_ref(),
                &csrf,
                code_prompt(&token, &facts, &csrf, "", Some(&problem)),
            );
            Page::with_status(e.status, html, &csrf).into_response()
        }
        Err(e) => refused(user.as_ref(), &csrf, &e).into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: String,
}

async fn save(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: axum::http::HeaderMap,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path((token, item)): Path<(String, Uuid)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf.accepts(&form.csrf) {
        return refused(user.as_ref(), &csrf, &super::form_expired()).into_response();
    }
    let Some(s) = current_session(&state, &token, &req, &headers).await else {
        return see_other(&format!("/s/{token}"), &[]);
    };
    match access::save(&state, &s, &req, item).await {
        Ok(_) => see_other(&format!("/s/{token}?done=saved"), &[]),
        Err(e) => refused(user.as_ref(), &csrf, &e).into_response(),
    }
}

#[derive(Debug, Default, Deserialize)]
struct ParentQuery {
    parent: Option<Uuid>,
}

#[allow(clippy::too_many_arguments)] // an axum handler: one extractor per argument
async fn upload(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: axum::http::HeaderMap,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path(token): Path<String>,
    Query(query): Query<ParentQuery>,
    mut multipart: Multipart,
) -> Response {
    let Some(s) = current_session(&state, &token, &req, &headers).await else {
        return see_other(&format!("/s/{token}"), &[]);
    };
    let uploaded = super::with_uploaded_file(&mut multipart, &csrf, async |field| {
        let name = field.file_name().unwrap_or("upload").to_owned();
        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
        access::upload(&state, &s, &req, query.parent, name, content_type, field).await
    })
    .await;
    match uploaded {
        Ok(Ok(_)) => {
            let back = match query.parent {
                Some(p) => format!("/s/{token}?parent={p}&done=uploaded"),
                None => format!("/s/{token}?done=uploaded"),
            };
            see_other(&back, &[])
        }
        Ok(Err(e)) | Err(e) => refused(user.as_ref(), &csrf, &e).into_response(),
    }
}

/// The edit page: upload a new version of a shared document (recorded as `DocumentEdited`).
async fn edit_form(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: axum::http::HeaderMap,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path((token, item)): Path<(String, Uuid)>,
) -> Response {
    let facts = match open::facts(&state, &token, &req).await {
        Ok(f) => f,
        Err(e) => return refused(user.as_ref(), &csrf, &e).into_response(),
    };
    let Some(s) = current_session(&state, &token, &req, &headers).await else {
        return see_other(&format!("/s/{token}"), &[]);
    };
    let name = match access::list(&state, &s, None).await {
        Ok(listing) => listing.items.into_iter().find(|i| i.id == item).map(|i| i.name),
        Err(e) => return refused(user.as_ref(), &csrf, &e).into_response(),
    };
    let name = name.unwrap_or_else(|| "this document".to_owned());
    let html = page(
        &format!("Edit {name}"),
        user.as_ref(),
        &csrf,
        html! {
            form.card.narrow method="post" enctype="multipart/form-data" action={ "/s/" (token) "/items/" (item) "/edit" } #edit-document {
                h1 { "Edit " (name) }
                p.muted { "Shared by " (facts.owner_name) ". Upload the new version; it replaces the document in the owner's drive." }
                (csrf_field(&csrf))
                label for="file" { "New version" }
                input #file type="file" name="file" required;
                div.actions {
                    button type="submit" { "Save new version" }
                    a.button.secondary href={ "/s/" (token) } { "Back" }
                }
            }
        },
    );
    Page::ok(html, &csrf).into_response()
}

#[allow(clippy::too_many_arguments)] // an axum handler: one extractor per argument
async fn edit(
    State(state): State<AppState>,
    req: RequestMeta,
    headers: axum::http::HeaderMap,
    WebUser(user): WebUser,
    csrf: Csrf,
    Path((token, item)): Path<(String, Uuid)>,
    mut multipart: Multipart,
) -> Response {
    let Some(s) = current_session(&state, &token, &req, &headers).await else {
        return see_other(&format!("/s/{token}"), &[]);
    };
    let edited = super::with_uploaded_file(&mut multipart, &csrf, async |field| {
        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
        access::edit(&state, &s, &req, item, content_type, field).await
    })
    .await;
    match edited {
        Ok(Ok(_)) => see_other(&format!("/s/{token}?done=edited"), &[]),
        Ok(Err(e)) | Err(e) => refused(user.as_ref(), &csrf, &e).into_response(),
    }
}
