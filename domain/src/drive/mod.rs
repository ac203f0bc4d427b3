//! DriveItem (`item-<id>`): the files and folders a share can point at. The service ships a
//! minimal drive of its own so it works without an external one.

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::actor::Actor;
use crate::aggregate::Aggregate;
use crate::event::{DecodeError, DomainEvent, decode_tagged, encode_tagged};
use crate::refusal::{Refusal, RefusalKind};

/// Longest item name, in characters.
pub const MAX_ITEM_NAME_CHARS: usize = 255;

/// A file (with content) or a folder (with children).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    File,
    Folder,
}

/// A stored version of a file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Where the bytes are in the content store.
    pub key: String,
    pub size: u64,
    pub sha256: String,
    pub content_type: String,
}

/// A drive item as its events made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: Uuid,
    pub owner_id: String,
    pub enterprise_id: String,
    pub parent: Option<Uuid>,
    pub name: String,
    pub kind: ItemKind,
    pub content: Option<Content>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

/// The aggregate's state: `None` until the item is created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriveItemState {
    pub item: Option<Item>,
}

/// Facts about the folder a new item goes into, looked up by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentFacts {
    pub id: Uuid,
    pub owner_id: String,
    pub kind: ItemKind,
    pub deleted: bool,
}

/// What is asked of a drive item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriveCommand {
    /// Registers an uploaded file for `owner_id` (the actor, or a share's owner for an upload
    /// through a link).
    RegisterFile {
        id: Uuid,
        owner_id: String,
        enterprise_id: String,
        parent: Option<Uuid>,
        name: String,
        content: Content,
        via_share: Option<Uuid>,
    },
    CreateFolder {
        id: Uuid,
        parent: Option<Uuid>,
        name: String,
    },
    Rename {
        name: String,
    },
    Delete,
    Restore,
    /// New content for a file (an online edit).
    ReplaceContent {
        content: Content,
        via_share: Option<Uuid>,
    },
}

/// Facts for a drive decision.
#[derive(Debug, Clone)]
pub struct DriveContext {
    pub now: DateTime<Utc>,
    pub actor: Actor,
    /// The parent folder of a new item, when it names one.
    pub parent: Option<ParentFacts>,
    /// True when the command comes through a share link the caller already checked (an
    /// upload or an edit by a recipient): ownership is then the share's, not the actor's.
    pub through_share: bool,
}

/// What happened to a drive item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum DriveEvent {
    FileRegistered {
        id: Uuid,
        owner_id: String,
        enterprise_id: String,
        parent: Option<Uuid>,
        name: String,
        content: Content,
        via_share: Option<Uuid>,
        created_at: DateTime<Utc>,
    },
    FolderCreated {
        id: Uuid,
        owner_id: String,
        enterprise_id: String,
        parent: Option<Uuid>,
        name: String,
        created_at: DateTime<Utc>,
    },
    ItemRenamed {
        name: String,
    },
    ItemDeleted,
    ItemRestored,
    ContentReplaced {
        content: Content,
        via_share: Option<Uuid>,
    },
}

/// Why a drive command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    #[error("no such item")]
    NotFound,
    #[error("the item already exists")]
    AlreadyExists,
    #[error("this role cannot own drive items")]
    Forbidden,
    #[error("names are 1 to {MAX_ITEM_NAME_CHARS} characters, without '/', control characters, '.' or '..'")]
    InvalidName,
    #[error("the parent folder does not exist")]
    ParentNotFound,
    #[error("items can only be placed inside a folder")]
    ParentNotFolder,
    #[error("the parent folder is deleted")]
    ParentDeleted,
    #[error("the item is deleted")]
    Deleted,
    #[error("the item is not deleted")]
    NotDeleted,
    #[error("only files have content")]
    NotAFile,
}

impl Refusal for DriveError {
    fn code(&self) -> &'static str {
        match self {
            DriveError::NotFound => "not_found",
            DriveError::AlreadyExists => "item_exists",
            DriveError::Forbidden => "forbidden",
            DriveError::InvalidName => "item_name_invalid",
            DriveError::ParentNotFound => "parent_not_found",
            DriveError::ParentNotFolder => "parent_not_folder",
            DriveError::ParentDeleted => "parent_deleted",
            DriveError::Deleted => "item_deleted",
            DriveError::NotDeleted => "item_not_deleted",
            DriveError::NotAFile => "not_a_file",
        }
    }

    fn kind(&self) -> RefusalKind {
        match self {
            DriveError::NotFound => RefusalKind::NotFound,
            DriveError::Forbidden => RefusalKind::Forbidden,
            DriveError::AlreadyExists | DriveError::Deleted | DriveError::NotDeleted => RefusalKind::Conflict,
            _ => RefusalKind::Invalid,
        }
    }
}

/// The DriveItem aggregate.
pub struct DriveItem;

impl Aggregate for DriveItem {
    const STREAM_PREFIX: &'static str = "item";
    const STATE_SCHEMA: i32 = 1;
    type State = DriveItemState;
    type Command = DriveCommand;
    type Event = DriveEvent;
    type Context = DriveContext;
    type Error = DriveError;

    fn decide(
        state: &DriveItemState,
        command: &DriveCommand,
        ctx: &DriveContext,
    ) -> Result<Vec<DriveEvent>, DriveError> {
        match command {
            DriveCommand::RegisterFile {
                id,
                owner_id,
                enterprise_id,
                parent,
                name,
                content,
                via_share,
            } => {
                if state.item.is_some() {
                    return Err(DriveError::AlreadyExists);
                }
                if !ctx.through_share && (!ctx.actor.can_share() || ctx.actor.user_id != *owner_id) {
                    return Err(DriveError::Forbidden);
                }
                validate_name(name)?;
                check_parent(*parent, ctx, owner_id)?;
                Ok(vec![DriveEvent::FileRegistered {
                    id: *id,
                    owner_id: owner_id.clone(),
                    enterprise_id: enterprise_id.clone(),
                    parent: *parent,
                    name: name.clone(),
                    content: content.clone(),
                    via_share: *via_share,
                    created_at: ctx.now,
                }])
            }
            DriveCommand::CreateFolder { id, parent, name } => {
                if state.item.is_some() {
                    return Err(DriveError::AlreadyExists);
                }
                if !ctx.actor.can_share() {
                    return Err(DriveError::Forbidden);
                }
                validate_name(name)?;
                check_parent(*parent, ctx, &ctx.actor.user_id)?;
                Ok(vec![DriveEvent::FolderCreated {
                    id: *id,
                    owner_id: ctx.actor.user_id.clone(),
                    enterprise_id: ctx.actor.enterprise_id.clone(),
                    parent: *parent,
                    name: name.clone(),
                    created_at: ctx.now,
                }])
            }
            DriveCommand::Rename { name } => {
                let item = managed(state, ctx)?;
                if item.deleted {
                    return Err(DriveError::Deleted);
                }
                validate_name(name)?;
                Ok(if item.name == *name {
                    vec![]
                } else {
                    vec![DriveEvent::ItemRenamed { name: name.clone() }]
                })
            }
            DriveCommand::Delete => {
                let item = managed(state, ctx)?;
                if item.deleted {
                    return Err(DriveError::Deleted);
                }
                Ok(vec![DriveEvent::ItemDeleted])
            }
            DriveCommand::Restore => {
                let item = managed(state, ctx)?;
                if !item.deleted {
                    return Err(DriveError::NotDeleted);
                }
                Ok(vec![DriveEvent::ItemRestored])
            }
            DriveCommand::ReplaceContent { content, via_share } => {
                let item = if ctx.through_share {
                    state.item.as_ref().ok_or(DriveError::NotFound)?
                } else {
                    managed(state, ctx)?
                };
                if item.deleted {
                    return Err(DriveError::Deleted);
                }
                if item.kind != ItemKind::File {
                    return Err(DriveError::NotAFile);
                }
                Ok(vec![DriveEvent::ContentReplaced {
                    content: content.clone(),
                    via_share: *via_share,
                }])
            }
        }
    }

    fn evolve(mut state: DriveItemState, event: &DriveEvent) -> DriveItemState {
        match event {
            DriveEvent::FileRegistered {
                id,
                owner_id,
                enterprise_id,
                parent,
                name,
                content,
                created_at,
                ..
            } => {
                state.item = Some(Item {
                    id: *id,
                    owner_id: owner_id.clone(),
                    enterprise_id: enterprise_id.clone(),
                    parent: *parent,
                    name: name.clone(),
                    kind: ItemKind::File,
                    content: Some(content.clone()),
                    deleted: false,
                    created_at: *created_at,
                })
            }
            DriveEvent::FolderCreated {
                id,
                owner_id,
                enterprise_id,
                parent,
                name,
                created_at,
            } => {
                state.item = Some(Item {
                    id: *id,
                    owner_id: owner_id.clone(),
                    enterprise_id: enterprise_id.clone(),
                    parent: *parent,
                    name: name.clone(),
                    kind: ItemKind::Folder,
                    content: None,
                    deleted: false,
                    created_at: *created_at,
                })
            }
            DriveEvent::ItemRenamed { name } => {
                if let Some(item) = state.item.as_mut() {
                    item.name = name.clone();
                }
            }
            DriveEvent::ItemDeleted => {
                if let Some(item) = state.item.as_mut() {
                    item.deleted = true;
                }
            }
            DriveEvent::ItemRestored => {
                if let Some(item) = state.item.as_mut() {
                    item.deleted = false;
                }
            }
            DriveEvent::ContentReplaced { content, .. } => {
                if let Some(item) = state.item.as_mut() {
                    item.content = Some(content.clone());
                }
            }
        }
        state
    }
}

/// The item, when the actor may manage it (owner or enterprise admin); unknown otherwise.
fn managed<'a>(state: &'a DriveItemState, ctx: &DriveContext) -> Result<&'a Item, DriveError> {
    match &state.item {
        Some(item) if ctx.actor.manages(&item.owner_id, &item.enterprise_id) => Ok(item),
        _ => Err(DriveError::NotFound),
    }
}

fn check_parent(parent: Option<Uuid>, ctx: &DriveContext, owner_id: &str) -> Result<(), DriveError> {
    let Some(id) = parent else { return Ok(()) };
    match &ctx.parent {
        Some(p) if p.id == id && p.owner_id == owner_id => {
            if p.kind != ItemKind::Folder {
                Err(DriveError::ParentNotFolder)
            } else if p.deleted {
                Err(DriveError::ParentDeleted)
            } else {
                Ok(())
            }
        }
        _ => Err(DriveError::ParentNotFound),
    }
}

/// A valid item name: 1..=255 characters, no path separators or control characters, not `.`
/// or `..`.
pub fn validate_name(name: &str) -> Result<(), DriveError> {
    let chars = name.chars().count();
    let bad_char = name.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if chars == 0 || chars > MAX_ITEM_NAME_CHARS || bad_char || name == "." || name == ".." || name.trim().is_empty() {
        Err(DriveError::InvalidName)
    } else {
        Ok(())
    }
}

impl DomainEvent for DriveEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DriveEvent::FileRegistered { .. } => "FileRegistered",
            DriveEvent::FolderCreated { .. } => "FolderCreated",
            DriveEvent::ItemRenamed { .. } => "ItemRenamed",
            DriveEvent::ItemDeleted => "ItemDeleted",
            DriveEvent::ItemRestored => "ItemRestored",
            DriveEvent::ContentReplaced { .. } => "ContentReplaced",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }

    fn to_payload(&self) -> Value {
        encode_tagged(self)
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &crate::json::LazyJson,
    ) -> Result<Self, DecodeError> {
        if schema_version > 1 {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_owned(),
                found: schema_version,
                known: 1,
            });
        }
        decode_tagged(event_type, schema_version, payload)
    }
}
