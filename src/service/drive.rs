//! The built-in drive: upload files (streamed, size-limited), create folders, list, rename,
//! delete, restore, read one's own content.

use axum::http::StatusCode;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use shareledger_domain::drive::{Content, DriveCommand, DriveContext, DriveItem, ItemKind, validate_name};
use shareledger_domain::{Actor, Aggregate};
use shareledger_projections::drive_items::{self, DriveItemRow};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::content::{self, ContentError, Opened};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::runtime::CommandMeta;
use crate::service::context;
use crate::service::hooks::InlineProjections;
use crate::state::AppState;

/// A drive item as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DriveItemDto {
    pub id: Uuid,
    pub name: String,
    /// `file` or `folder`.
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub size: Option<i64>,
    pub content_type: Option<String>,
    pub sha256: Option<String>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DriveItemRow> for DriveItemDto {
    fn from(row: DriveItemRow) -> Self {
        DriveItemDto {
            id: row.id,
            name: row.name,
            kind: match row.kind {
                ItemKind::File => "file",
                ItemKind::Folder => "folder",
            }
            .to_owned(),
            parent_id: row.parent_id,
            size: row.size,
            content_type: row.content_type,
            sha256: row.sha256,
            deleted: row.deleted,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A folder to create.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFolderRequest {
    /// Must be `folder` (files are uploaded as multipart/form-data).
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub parent: Option<Uuid>,
}

/// A rename.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    pub name: String,
}

/// A listing of a folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DriveListing {
    pub parent: Option<Uuid>,
    pub items: Vec<DriveItemDto>,
}

fn refused(e: shareledger_domain::drive::DriveError) -> ApiError {
    ApiError::refused(&e)
}

async fn run(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    id: Uuid,
    command: DriveCommand,
    parent: Option<Uuid>,
) -> Result<DriveItemDto, ApiError> {
    let now = state.clock().now();
    let ctx = DriveContext {
        now,
        actor: actor.clone(),
        parent: context::parent_facts(state, parent).await?,
        through_share: false,
    };
    let meta = CommandMeta {
        metadata: req.for_actor(actor),
        occurred_at: now,
    };
    state
        .runtime()
        .execute::<DriveItem>(
            &DriveItem::stream_id(&id.to_string()),
            &command,
            &ctx,
            &meta,
            &[&InlineProjections],
        )
        .await?
        .map_err(ApiError::from)?;
    get(state, actor, id).await
}

/// Stores an uploaded file and registers it in the actor's drive.
pub async fn upload<S, E>(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    parent: Option<Uuid>,
    name: String,
    content_type: String,
    body: S,
) -> Result<DriveItemDto, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    validate_name(&name).map_err(refused)?;
    if !actor.can_share() {
        return Err(refused(shareledger_domain::drive::DriveError::Forbidden));
    }
    let id = Uuid::now_v7();
    let stored = store_content(state, id, body).await?;
    let command = DriveCommand::RegisterFile {
        id,
        owner_id: actor.user_id.clone(),
        enterprise_id: actor.enterprise_id.clone(),
        parent,
        name,
        content: Content {
            key: stored.key,
            size: stored.size,
            sha256: stored.sha256,
            content_type,
        },
        via_share: None,
    };
    run(state, actor, req, id, command, parent).await
}

/// Streams content into the store, mapping failures to problems.
pub async fn store_content<S, E>(state: &AppState, id: Uuid, body: S) -> Result<content::Stored, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = state.config().max_upload_bytes;
    state
        .content()
        .put_stream(&content::new_key(id), body, limit)
        .await
        .map_err(|e| match e {
            ContentError::TooLarge { limit } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "file_too_large",
                format!("Files can be at most {limit} bytes."),
            ),
            ContentError::Client(detail) => {
                ApiError::bad_request("upload_interrupted", format!("The upload could not be read: {detail}"))
            }
            other => ApiError::internal(other),
        })
}

/// Creates a folder.
pub async fn create_folder(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    body: CreateFolderRequest,
) -> Result<DriveItemDto, ApiError> {
    if body.kind != "folder" {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "kind_invalid",
            "Create folders with kind `folder`; upload files as multipart/form-data.",
        ));
    }
    let id = Uuid::now_v7();
    let command = DriveCommand::CreateFolder {
        id,
        parent: body.parent,
        name: body.name,
    };
    run(state, actor, req, id, command, body.parent).await
}

/// One of the actor's items (or their enterprise's, for an admin).
pub async fn get(state: &AppState, actor: &Actor, id: Uuid) -> Result<DriveItemDto, ApiError> {
    Ok(owned_row(state, actor, id).await?.into())
}

async fn owned_row(state: &AppState, actor: &Actor, id: Uuid) -> Result<DriveItemRow, ApiError> {
    drive_items::get(state.pool(), id)
        .await?
        .filter(|row| actor.manages(&row.owner_id, &row.enterprise_id))
        .ok_or_else(|| ApiError::not_found("No such item in your drive."))
}

/// The items in a folder of the actor's drive (top level without `parent`).
pub async fn list(
    state: &AppState,
    actor: &Actor,
    parent: Option<Uuid>,
    include_deleted: bool,
) -> Result<DriveListing, ApiError> {
    if let Some(p) = parent {
        let row = owned_row(state, actor, p).await?;
        if row.kind != ItemKind::Folder {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_a_folder",
                "Only folders have items.",
            ));
        }
    }
    let rows = drive_items::list_children(state.pool(), &actor.user_id, parent, include_deleted).await?;
    Ok(DriveListing {
        parent,
        items: rows.into_iter().map(Into::into).collect(),
    })
}

/// Renames an item.
pub async fn rename(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    id: Uuid,
    name: String,
) -> Result<DriveItemDto, ApiError> {
    run(state, actor, req, id, DriveCommand::Rename { name }, None).await
}

/// Deletes an item (restorable).
pub async fn delete(state: &AppState, actor: &Actor, req: &RequestMeta, id: Uuid) -> Result<DriveItemDto, ApiError> {
    run(state, actor, req, id, DriveCommand::Delete, None).await
}

/// Restores a deleted item.
pub async fn restore(state: &AppState, actor: &Actor, req: &RequestMeta, id: Uuid) -> Result<DriveItemDto, ApiError> {
    run(state, actor, req, id, DriveCommand::Restore, None).await
}

/// Opens one of the actor's own files (whole or a range) with its listing row.
pub async fn open_own(
    state: &AppState,
    actor: &Actor,
    id: Uuid,
    range: Option<std::ops::Range<u64>>,
) -> Result<(DriveItemDto, Opened), ApiError> {
    let row = owned_row(state, actor, id).await?;
    let key = row.content_key.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_a_file",
            "Folders have no content.",
        )
    })?;
    let opened = state.content().open(&key, range).await.map_err(ApiError::internal)?;
    Ok((row.into(), opened))
}
