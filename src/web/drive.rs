//! My Drive (minimal): upload files, create folders, select items, and "Share Link": the
//! create form with every setting.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Query, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Duration;
use maud::{Markup, html};
use serde::Deserialize;
use shareledger_domain::Actor;
use uuid::Uuid;

use super::layout::{csrf_field, error, page, size, when};
use super::{Csrf, Fields, Page, SignedIn, see_other};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::service::drive::{self, CreateFolderRequest, DriveItemDto};
use crate::service::shares::dto::{CreateShareRequest, LimitsDto, PermissionsDto, ScopeDto};
use crate::service::{Outcome, shares};
use crate::state::AppState;

pub fn router(max_upload_bytes: u64) -> Router<AppState> {
    let upload_limit = usize::try_from(max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/drive", get(my_drive))
        .route("/drive/upload", post(upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/drive/folders", post(new_folder))
        .route("/share/new", get(create_form).post(create))
}

#[derive(Debug, Default, Deserialize)]
struct DriveQuery {
    parent: Option<Uuid>,
    problem: Option<String>,
}

fn drive_href(parent: Option<Uuid>) -> String {
    match parent {
        Some(p) => format!("/drive?parent={p}"),
        None => "/drive".to_owned(),
    }
}

async fn my_drive(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    Query(query): Query<DriveQuery>,
) -> Response {
    let listing = match drive::list(&state, &actor, query.parent, false).await {
        Ok(l) => l,
        Err(e) => return super::problem_page("My Drive", Some(&actor), &csrf, &e, ("/drive", "Back to My Drive")),
    };
    let folder = match query.parent {
        Some(id) => drive::get(&state, &actor, id).await.ok(),
        None => None,
    };
    let upload_action = match query.parent {
        Some(p) => format!("/drive/upload?parent={p}"),
        None => "/drive/upload".to_owned(),
    };
    let html = page(
        "My Drive",
        Some(&actor),
        &csrf,
        html! {
            h1 {
                @if let Some(f) = &folder { a href=(drive_href(f.parent_id)) { "My Drive" } " / " (f.name) }
                @else { "My Drive" }
            }
            @if let Some(p) = &query.problem { (error(p)) }
            div.card.filters {
                form method="post" enctype="multipart/form-data" action=(upload_action) {
                    (csrf_field(&csrf))
                    label for="file" { "Upload a file" }
                    input #file type="file" name="file" required;
                    div.actions { button type="submit" { "Upload" } }
                }
                form method="post" action="/drive/folders" {
                    (csrf_field(&csrf))
                    @if let Some(p) = query.parent { input type="hidden" name="parent" value=(p); }
                    label for="folder-name" { "New folder" }
                    input #folder-name type="text" name="name" required maxlength="255";
                    div.actions { button.secondary type="submit" { "Create folder" } }
                }
            }
            form method="get" action="/share/new" #select-items {
                @if listing.items.is_empty() {
                    p.card.muted { "Nothing here yet: upload a file or create a folder." }
                } @else {
                    table {
                        thead { tr {
                            th scope="col" { span.skip { "Select" } }
                            th scope="col" { "Name" }
                            th.optional scope="col" { "Size" }
                            th.optional scope="col" { "Changed" }
                        } }
                        tbody {
                            @for item in &listing.items {
                                tr data-item=(item.id) {
                                    td {
                                        input type="checkbox" name="items" value=(item.id) id={ "select-" (item.id) }
                                            aria-label={ "Select " (item.name) };
                                    }
                                    td {
                                        @if item.kind == "folder" {
                                            a href=(drive_href(Some(item.id))) { "📁 " (item.name) }
                                        } @else {
                                            label.inline for={ "select-" (item.id) } { (item.name) }
                                        }
                                    }
                                    td.optional { (size(item.size)) }
                                    td.optional { (when(item.updated_at)) }
                                }
                            }
                        }
                    }
                    div.actions { button type="submit" { "Share Link" } }
                }
            }
        },
    );
    Page::ok(html, &csrf).into_response()
}

fn back_with_problem(parent: Option<Uuid>, e: &ApiError) -> Response {
    let problem = crate::service::links::encode_query_value(&e.detail);
    let to = match parent {
        Some(p) => format!("/drive?parent={p}&problem={problem}"),
        None => format!("/drive?problem={problem}"),
    };
    see_other(&to, &[])
}

#[derive(Debug, Default, Deserialize)]
struct ParentQuery {
    parent: Option<Uuid>,
}

async fn upload(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    Query(query): Query<ParentQuery>,
    mut multipart: Multipart,
) -> Response {
    let uploaded = super::with_uploaded_file(&mut multipart, &csrf, async |field| {
        let name = field.file_name().unwrap_or("upload").to_owned();
        let content_type = field.content_type().unwrap_or("application/octet-stream").to_owned();
        drive::upload(&state, &actor, &req, query.parent, name, content_type, field).await
    })
    .await;
    match uploaded {
        Ok(Ok(_)) => see_other(&drive_href(query.parent), &[]),
        Ok(Err(e)) | Err(e) => back_with_problem(query.parent, &e),
    }
}

async fn new_folder(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let parent = form.text("parent").and_then(|p| p.parse::<Uuid>().ok());
    if !form.csrf_ok(&csrf) {
        return back_with_problem(parent, &super::form_expired());
    }
    let request = CreateFolderRequest {
        kind: "folder".to_owned(),
        name: form.get("name").unwrap_or_default().to_owned(),
        parent,
    };
    match drive::create_folder(&state, &actor, &req, request).await {
        Ok(_) => see_other(&drive_href(parent), &[]),
        Err(e) => back_with_problem(parent, &e),
    }
}

/// The expiry presets of the create form, in days (`0`: permanent).
const EXPIRY_PRESETS: [(&str, &str); 4] = [("1", "1 day"), ("7", "7 days"), ("30", "30 days"), ("0", "Permanent")];

/// The settings part of the create form (also used to show what was sent back after a refusal).
fn create_page(actor: &Actor, csrf: &Csrf, items: &[DriveItemDto], form: &Fields, problem: Option<&str>) -> Markup {
    let fresh = form.get("csrf").is_none();
    let ticked = |name: &str, default: bool| if fresh { default } else { form.checked(name) };
    let value = |name: &str| form.get(name).unwrap_or_default().to_owned();
    let code_mode = form.get("code_mode").unwrap_or("none").to_owned();
    let expiry = form.get("expiry").unwrap_or("7").to_owned();
    let scope = form.get("scope").unwrap_or("anyone").to_owned();
    page(
        "Share Link",
        Some(actor),
        csrf,
        html! {
            h1 { "Share Link" }
            @if let Some(p) = problem { (error(p)) }
            form.card method="post" action="/share/new" #create-share {
                (csrf_field(csrf))
                p { "Sharing: "
                    @for (i, item) in items.iter().enumerate() {
                        @if i > 0 { ", " }
                        strong { (item.name) }
                        input type="hidden" name="items" value=(item.id);
                    }
                }
                label for="name" { "Name " span.muted { "(default: the first item's name)" } }
                input #name type="text" name="name" maxlength="128" value=(value("name"));
                label for="message" { "Message to recipients" }
                textarea #message name="message" maxlength="1024" { (value("message")) }

                fieldset {
                    legend { "Recipients may" }
                    @for (name, label, default) in [("preview", "Preview", true), ("download", "Download", true),
                        ("save", "Save to their drive", false), ("upload", "Upload into shared folders", false),
                        ("edit", "Edit documents online", false)] {
                        label.check { input type="checkbox" name=(name) checked[ticked(name, default)]; " " (label) }
                    }
                }
                fieldset {
                    legend { "Who can open it" }
                    label.check { input type="radio" name="scope" value="anyone" checked[scope == "anyone"]; " Anyone with the link" }
                    label.check { input type="radio" name="scope" value="enterprise" checked[scope == "enterprise"]; " Only members of my organisation" }
                }
                fieldset {
                    legend { "Access code" }
                    label.check { input type="radio" name="code_mode" value="none" checked[code_mode == "none"]; " No code" }
                    label.check { input type="radio" name="code_mode" value="generate" checked[code_mode == "generate"]; " Generate a code" }
                    label.check { input type="radio" name="code_mode" value="custom" checked[code_mode == "custom"]; " Use this code:" }
                    input #code type="text" name="code" aria-label="Custom access code" maxlength="64" value=(value("code")) autocomplete="off";
                    label.check { input type="checkbox" name="autofill" checked[ticked("autofill", false)]; " Put the code in the link (recipients need not type it)" }
                }
                fieldset {
                    legend { "Expires" }
                    @for (days, label) in EXPIRY_PRESETS {
                        label.check { input type="radio" name="expiry" value=(days) checked[expiry == days]; " " (label) }
                    }
                }
                fieldset {
                    legend { "Limits " span.muted { "(empty: unlimited)" } }
                    div.filters {
                        @for (name, label) in [("limit_total", "In all"), ("limit_preview", "Previews"), ("limit_download", "Downloads"), ("limit_save", "Saves")] {
                            div {
                                label for=(name) { (label) }
                                input id=(name) type="number" min="1" name=(name) value=(value(name));
                            }
                        }
                    }
                }
                div.actions { button type="submit" { "Create link" } a.button.secondary href="/drive" { "Cancel" } }
            }
        },
    )
}

async fn items_of(state: &AppState, actor: &Actor, ids: &[&str]) -> Result<Vec<DriveItemDto>, ApiError> {
    let mut items = Vec::new();
    for id in ids {
        let id = id
            .parse::<Uuid>()
            .map_err(|_| ApiError::bad_request("item_invalid", "Select items of your drive."))?;
        items.push(drive::get(state, actor, id).await?);
    }
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "items_required",
            "Select at least one file or folder to share.",
        ));
    }
    Ok(items)
}

async fn create_form(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    RawQuery(query): RawQuery,
) -> Response {
    let query = Fields::parse(query.unwrap_or_default().as_bytes());
    match items_of(&state, &actor, &query.all("items")).await {
        Ok(items) => Page::ok(create_page(&actor, &csrf, &items, &Fields::default(), None), &csrf).into_response(),
        Err(e) => back_with_problem(None, &e),
    }
}

fn limit(form: &Fields, name: &str) -> Result<Option<u32>, ApiError> {
    match form.text(name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("limit_invalid", "Limits are whole numbers from 1, or empty.")),
    }
}

/// The create request the form describes.
fn create_request(state: &AppState, form: &Fields, items: &[DriveItemDto]) -> Result<CreateShareRequest, ApiError> {
    let days: i64 = form
        .get("expiry")
        .unwrap_or("7")
        .parse()
        .map_err(|_| ApiError::bad_request("expiry_invalid", "Choose an expiry."))?;
    let (access_code, generate) = match form.get("code_mode").unwrap_or("none") {
        "generate" => (None, true),
        "custom" => (Some(form.get("code").unwrap_or_default().to_owned()), false),
        _ => (None, false),
    };
    Ok(CreateShareRequest {
        items: items.iter().map(|i| i.id).collect(),
        name: form.text("name").map(str::to_owned),
        message: form.text("message").map(str::to_owned),
        permissions: Some(PermissionsDto {
            preview: form.checked("preview"),
            download: form.checked("download"),
            save: form.checked("save"),
            upload: form.checked("upload"),
            edit: form.checked("edit"),
        }),
        scope: Some(if form.get("scope") == Some("enterprise") {
            ScopeDto::Enterprise
        } else {
            ScopeDto::Anyone
        }),
        expires_at: (days > 0).then(|| state.clock().now() + Duration::days(days)),
        access_code,
        generate_access_code: generate,
        autofill_code: form.checked("autofill"),
        limits: Some(LimitsDto {
            total: limit(form, "limit_total")?,
            preview: limit(form, "limit_preview")?,
            download: limit(form, "limit_download")?,
            save: limit(form, "limit_save")?,
        }),
    })
}

async fn create(
    State(state): State<AppState>,
    SignedIn(actor): SignedIn,
    csrf: Csrf,
    req: RequestMeta,
    body: Bytes,
) -> Response {
    let form = Fields::parse(&body);
    let items = match items_of(&state, &actor, &form.all("items")).await {
        Ok(items) => items,
        Err(e) => return back_with_problem(None, &e),
    };
    let refuse = |e: &ApiError| {
        let status = super::refused_status(e);
        Page::with_status(
            status,
            create_page(&actor, &csrf, &items, &form, Some(&e.detail)),
            &csrf,
        )
        .into_response()
    };
    if !form.csrf_ok(&csrf) {
        return refuse(&super::form_expired());
    }
    let request = match create_request(&state, &form, &items) {
        Ok(r) => r,
        Err(e) => return refuse(&e),
    };
    match shares::create(&state, &actor, &req, None, request).await {
        Ok(Outcome { body, .. }) => match body["id"].as_str() {
            Some(id) => see_other(&format!("/links/{id}?created=1"), &[]),
            None => refuse(&ApiError::internal(anyhow::anyhow!("a created share has no id"))),
        },
        Err(e) => refuse(&e),
    }
}
