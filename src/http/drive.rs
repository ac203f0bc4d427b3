//! `/api/v1/drive/items`: the built-in drive.

use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::auth::Auth;
use super::download::{Disposition, content_response, parse_range, range_not_satisfiable};
use super::error::ApiError;
use super::extract::{Path, Problem, Query};
use super::json::Json;
use super::request::RequestMeta;
use crate::service::drive::{self, CreateFolderRequest, DriveItemDto, DriveListing, RenameRequest};
use crate::state::AppState;

/// The routes of this resource; uploads may be as large as the configured maximum.
pub fn router(max_upload_bytes: u64) -> OpenApiRouter<AppState> {
    let upload_limit = usize::try_from(max_upload_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    OpenApiRouter::new()
        .routes(routes!(create_item, list_items))
        .layer(DefaultBodyLimit::max(upload_limit))
        .routes(routes!(get_item, rename_item, delete_item))
        .routes(routes!(restore_item))
        .routes(routes!(item_content))
}

/// The multipart form of an upload (documentation only: the parts are streamed).
#[derive(ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The folder to put the file in (also accepted as `?parent=`); send before `file`.
    parent: Option<Uuid>,
    /// The file's name in the drive (default: the uploaded file name); send before `file`.
    name: Option<String>,
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    file: String,
}

/// Where to upload.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The folder to put the file in.
    parent: Option<Uuid>,
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "file_too_large",
            "The upload is larger than the service accepts.",
        )
    } else {
        ApiError::bad_request("malformed_multipart", e.body_text())
    }
}

/// Upload a file (multipart/form-data with a `file` part) or create a folder (JSON).
#[utoipa::path(post, path = "/api/v1/drive/items", tag = "drive", params(UploadParams),
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (CreateFolderRequest = "application/json"),
    )),
    responses(
        (status = 201, description = "Stored", body = DriveItemDto),
        (status = 413, description = "Larger than allowed", body = Problem),
        (status = 422, description = "Invalid name or parent", body = Problem),
    ),
    security(("bearer" = [])))]
async fn create_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Query(params): Query<UploadParams>,
    request: Request,
) -> Result<(StatusCode, Json<DriveItemDto>), ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !content_type.starts_with("multipart/form-data") {
        let Json(body) = Json::<CreateFolderRequest>::from_request(request, &state).await?;
        let item = drive::create_folder(&state, &actor, &req, body).await?;
        return Ok((StatusCode::CREATED, Json(item)));
    }
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(|e| ApiError::bad_request("malformed_multipart", e.body_text()))?;
    let mut parent = params.parent;
    let mut name: Option<String> = None;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("parent") => {
                let text = field.text().await.map_err(multipart_error)?;
                parent = Some(
                    text.trim()
                        .parse()
                        .map_err(|_| ApiError::bad_request("parent_invalid", "parent is a folder id."))?,
                );
            }
            Some("name") => name = Some(field.text().await.map_err(multipart_error)?),
            Some("file") => {
                let file_name = name
                    .clone()
                    .or_else(|| field.file_name().map(str::to_owned))
                    .unwrap_or_else(|| "upload".to_owned());
                let file_type = field
                    .content_type()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "application/octet-stream".to_owned());
                let item = drive::upload(&state, &actor, &req, parent, file_name, file_type, field).await?;
                return Ok((StatusCode::CREATED, Json(item)));
            }
            _ => {}
        }
    }
    Err(ApiError::bad_request(
        "file_missing",
        "Send the file in a multipart part named `file`.",
    ))
}

/// Which items to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// A folder of yours (default: the top level).
    parent: Option<Uuid>,
    /// Also list deleted items (to restore them).
    #[serde(default)]
    include_deleted: bool,
}

/// List a folder of the caller's drive.
#[utoipa::path(get, path = "/api/v1/drive/items", tag = "drive", params(ListParams),
    responses((status = 200, description = "The folder's items", body = DriveListing), (status = 404, description = "No such folder of yours", body = Problem)),
    security(("bearer" = [])))]
async fn list_items(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Query(params): Query<ListParams>,
) -> Result<Json<DriveListing>, ApiError> {
    Ok(Json(
        drive::list(&state, &actor, params.parent, params.include_deleted).await?,
    ))
}

/// One item of the caller's drive.
#[utoipa::path(get, path = "/api/v1/drive/items/{id}", tag = "drive", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The item", body = DriveItemDto), (status = 404, description = "No such item of yours", body = Problem)),
    security(("bearer" = [])))]
async fn get_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
) -> Result<Json<DriveItemDto>, ApiError> {
    Ok(Json(drive::get(&state, &actor, id).await?))
}

/// Rename an item.
#[utoipa::path(patch, path = "/api/v1/drive/items/{id}", tag = "drive", params(("id" = Uuid, Path)), request_body = RenameRequest,
    responses((status = 200, description = "Renamed", body = DriveItemDto), (status = 404, description = "No such item of yours", body = Problem), (status = 422, description = "Invalid name", body = Problem)),
    security(("bearer" = [])))]
async fn rename_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
    Json(body): Json<RenameRequest>,
) -> Result<Json<DriveItemDto>, ApiError> {
    Ok(Json(drive::rename(&state, &actor, &req, id, body.name).await?))
}

/// Delete an item (it can be restored; shares of it refuse access meanwhile).
#[utoipa::path(delete, path = "/api/v1/drive/items/{id}", tag = "drive", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Deleted", body = DriveItemDto), (status = 404, description = "No such item of yours", body = Problem), (status = 409, description = "Already deleted", body = Problem)),
    security(("bearer" = [])))]
async fn delete_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Result<Json<DriveItemDto>, ApiError> {
    Ok(Json(drive::delete(&state, &actor, &req, id).await?))
}

/// Restore a deleted item.
#[utoipa::path(post, path = "/api/v1/drive/items/{id}/restore", tag = "drive", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Restored", body = DriveItemDto), (status = 404, description = "No such item of yours", body = Problem), (status = 409, description = "Not deleted", body = Problem)),
    security(("bearer" = [])))]
async fn restore_item(
    State(state): State<AppState>,
    Auth(actor): Auth,
    req: RequestMeta,
    Path(id): Path<Uuid>,
) -> Result<Json<DriveItemDto>, ApiError> {
    Ok(Json(drive::restore(&state, &actor, &req, id).await?))
}

/// Download one of the caller's own files (single byte ranges supported).
#[utoipa::path(get, path = "/api/v1/drive/items/{id}/content", tag = "drive", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The bytes"), (status = 206, description = "A range of the bytes"), (status = 404, description = "No such file of yours", body = Problem)),
    security(("bearer" = [])))]
async fn item_content(
    State(state): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<Uuid>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    let item = drive::get(&state, &actor, id).await?;
    let size = u64::try_from(item.size.unwrap_or(0)).unwrap_or(0);
    let range = match parse_range(&headers, size) {
        Ok(range) => range,
        Err(_) => return Ok(range_not_satisfiable(size)),
    };
    let partial = range.is_some();
    let (item, opened) = drive::open_own(&state, &actor, id, range).await?;
    let content_type = item.content_type.unwrap_or_else(|| "application/octet-stream".into());
    Ok(content_response(
        opened,
        &item.name,
        &content_type,
        Disposition::Attachment,
        partial,
    ))
}
