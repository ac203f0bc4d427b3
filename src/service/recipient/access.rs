//! Operations within a share session: list, preview, download (and HEAD), save, upload, edit.
//! Every one goes through the same decision; granted and refused attempts are events.

use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use futures_util::Stream;
use serde::Serialize;
use shareledger_domain::drive::{Content, DriveCommand, DriveContext, DriveItem, ItemKind, ParentFacts, validate_name};
use shareledger_domain::quota;
use shareledger_domain::share::{
    AccessShare, ItemAccess, Operation, Share, ShareCommand, ShareContext, ShareEvent, Visitor,
};
use shareledger_domain::{Actor, Aggregate};
use shareledger_projections::drive_items::{self, DriveItemRow};
use utoipa::ToSchema;
use uuid::Uuid;

use super::also::AlsoExecute;
use super::link::{Link, refusal, resolve_with_item};
use super::session::Session;
use crate::content;
use crate::http::download::{Disposition, content_disposition, content_response, parse_range, range_not_satisfiable};
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::runtime::{CommandMeta, Rejection, TxHook, load};
use crate::service::context;
use crate::service::drive::{DriveItemDto, store_content};
use crate::service::hooks::InlineProjections;
use crate::state::AppState;

/// A request inside a share session: the link and its verified session.
pub struct InSession {
    pub link: Link,
    pub session: Session,
    /// The chain of the item the request names, read with the link (see `resolve_with_item`).
    prefetched: Option<(Uuid, Vec<DriveItemRow>)>,
}

/// Resolves the link and checks the session sent with the request. When the request names an
/// item, its chain is read in the same round trip as the link.
pub async fn enter(
    state: &AppState,
    token: &str,
    req: &RequestMeta,
    session: Option<&str>,
    item: Option<Uuid>,
) -> Result<InSession, ApiError> {
    let (link, chain) = resolve_with_item(state, token, &req.client_key(), item).await?;
    let prefetched = item.map(|id| (id, chain));
    let unauthorized =
        |code: &'static str, detail: &str| ApiError::new(axum::http::StatusCode::UNAUTHORIZED, code, detail);
    let Some(token_text) = session else {
        return Err(unauthorized(
            "session_required",
            "Open the link first (POST .../session), then send the session.",
        ));
    };
    let invalid = || {
        unauthorized(
            "session_invalid",
            "The share session is invalid or over: open the link again.",
        )
    };
    let session = Session::verify_signature(&state.keys().jwt_secret, token_text)
        .filter(|s| s.shr == link.share_id)
        .ok_or_else(invalid)?;
    let now = state.clock().now();
    if session.ended(now) {
        // A session never outlives its link: if the link has expired, let the decision say so
        // (and record it); otherwise the session simply ran out.
        let loaded = load::<Share>(state.pool(), &Share::stream_id(&link.share_id.to_string()), false).await?;
        if !loaded.state.share.is_some_and(|s| s.is_expired(now)) {
            return Err(invalid());
        }
    }
    Ok(InSession {
        link,
        session,
        prefetched,
    })
}

/// Where an item is, relative to the share: part of it or not, deleted or not.
fn access_facts(link: &Link, chain: &[DriveItemRow], id: Uuid) -> ItemAccess {
    let shared = chain.iter().position(|row| link.items.iter().any(|i| i.id == row.id));
    ItemAccess {
        id,
        name: chain.first().map(|r| r.name.clone()).unwrap_or_default(),
        in_share: shared.is_some(),
        deleted: shared.is_some_and(|i| chain[..=i].iter().any(|r| r.deleted)),
        is_file: chain.first().is_some_and(|r| r.kind == ItemKind::File),
    }
}

async fn item(state: &AppState, s: &InSession, id: Uuid) -> Result<(ItemAccess, Option<DriveItemRow>), ApiError> {
    let chain = match &s.prefetched {
        Some((prefetched, chain)) if *prefetched == id => chain.clone(),
        _ => drive_items::chain(state.pool(), id).await?,
    };
    let facts = access_facts(&s.link, &chain, id);
    Ok((facts, chain.into_iter().next()))
}

fn access(s: &InSession, operation: Operation, item: Option<ItemAccess>) -> AccessShare {
    AccessShare {
        session_id: s.session.sid,
        visitor: s.session.vis.clone(),
        code_version: s.session.cv,
        operation,
        item,
        counted: true,
        bytes: None,
        new_item: None,
        new_name: None,
    }
}

async fn context_for(state: &AppState, link: &Link, actor: Option<Actor>) -> Result<ShareContext, ApiError> {
    let now = state.clock().now();
    let policy = context::link_policy(state, link).await?;
    Ok(ShareContext {
        now,
        actor,
        today: quota::quota_day(now, quota::time_zone(&policy)),
        policy,
        items: Vec::new(),
    })
}

/// Decides without recording (HEAD, listings): refused -> the refusal.
async fn check_only(state: &AppState, s: &InSession, cmd: &AccessShare) -> Result<(), ApiError> {
    let ctx = context_for(state, &s.link, None).await?;
    let loaded = load::<Share>(state.pool(), &Share::stream_id(&s.link.share_id.to_string()), false).await?;
    match Share::decide(&loaded.state, &ShareCommand::Access(cmd.clone()), &ctx) {
        Ok(events) => match events.first() {
            Some(ShareEvent::AccessRefused { reason, .. }) => Err(refusal(*reason, None)),
            _ => Ok(()),
        },
        Err(e) => Err(ApiError::refused(&e)),
    }
}

/// Runs an operation under the share's lock: the granted event, or the refusal (recorded).
async fn run(
    state: &AppState,
    s: &InSession,
    req: &RequestMeta,
    cmd: AccessShare,
    extra: &[&dyn TxHook<Share>],
) -> Result<(), ApiError> {
    let ctx = context_for(state, &s.link, None).await?;
    let meta = CommandMeta {
        metadata: req.for_visitor(&s.session.vis),
        occurred_at: ctx.now,
    };
    let stream = Share::stream_id(&s.link.share_id.to_string());
    let command = ShareCommand::Access(cmd);
    let events = if extra.is_empty() {
        // Concurrent accesses, to this share or others, share a transaction (see `combine`).
        super::combine::record(state, stream, command, ctx, meta).await?
    } else {
        let mut hooks: Vec<&dyn TxHook<Share>> = vec![&InlineProjections];
        hooks.extend_from_slice(extra);
        match state
            .runtime()
            .execute_locked::<Share>(&stream, &command, &ctx, &meta, &hooks)
            .await?
        {
            Ok(done) => done.events,
            Err(Rejection::Hook { code, detail }) => {
                return Err(ApiError::new(axum::http::StatusCode::CONFLICT, code, detail));
            }
            Err(other) => return Err(other.into()),
        }
    };
    match events.first().map(|e| e.decode::<ShareEvent>()) {
        Some(Ok(ShareEvent::AccessRefused { reason, .. })) => Err(refusal(reason, None)),
        _ => Ok(()),
    }
}

/// An item as a recipient sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkItem {
    pub id: Uuid,
    pub name: String,
    /// `file` or `folder`.
    pub kind: String,
    pub size: Option<i64>,
    pub content_type: Option<String>,
    /// The owner deleted the original.
    pub deleted: bool,
}

/// A folder of the share (or its top level).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct LinkListing {
    pub parent: Option<Uuid>,
    pub items: Vec<LinkItem>,
}

fn link_item(row: DriveItemRow, deleted: bool) -> LinkItem {
    LinkItem {
        id: row.id,
        name: row.name,
        kind: if row.kind == ItemKind::Folder { "folder" } else { "file" }.to_owned(),
        size: row.size,
        content_type: row.content_type,
        deleted: deleted || row.deleted,
    }
}

/// The share's items, or a shared folder's content.
pub async fn list(state: &AppState, s: &InSession, parent: Option<Uuid>) -> Result<LinkListing, ApiError> {
    let folder = match parent {
        Some(id) => {
            let (facts, _) = item(state, s, id).await?;
            let mut cmd = access(s, Operation::List, Some(facts.clone()));
            cmd.counted = false;
            check_only(state, s, &cmd).await?;
            if facts.is_file {
                return Err(refusal(shareledger_domain::share::RefusalReason::NoPermission, None));
            }
            Some(id)
        }
        None => {
            let mut cmd = access(s, Operation::List, None);
            cmd.counted = false;
            check_only(state, s, &cmd).await?;
            None
        }
    };
    let items = match folder {
        None => {
            let ids: Vec<Uuid> = s.link.items.iter().map(|i| i.id).collect();
            let rows = drive_items::get_many_with_deleted(state.pool(), &ids).await?;
            // Keep the share's own order.
            ids.iter()
                .filter_map(|id| rows.iter().find(|(r, _)| r.id == *id).cloned())
                .map(|(row, gone)| link_item(row, gone))
                .collect()
        }
        Some(id) => drive_items::list_children(state.pool(), &s.link.owner_id, Some(id), false)
            .await?
            .into_iter()
            .map(|row| link_item(row, false))
            .collect(),
    };
    Ok(LinkListing { parent: folder, items })
}

/// Serves a file for preview (inline) or download (attachment): checked, recorded, streamed.
/// HEAD is checked the same way but records nothing and consumes no limit; a byte range that
/// continues a download this session already counted is not counted again.
pub async fn read(
    state: &AppState,
    s: &InSession,
    req: &RequestMeta,
    id: Uuid,
    operation: Operation,
    headers: &HeaderMap,
    head: bool,
) -> Result<Response, ApiError> {
    let (facts, row) = item(state, s, id).await?;
    let size = row
        .as_ref()
        .and_then(|r| r.size)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0);
    let parsed = parse_range(headers, size);
    let unsatisfiable = parsed.is_err();
    let range = parsed.ok().flatten();
    let mut cmd = access(s, operation, Some(facts));
    cmd.bytes = Some(range.as_ref().map_or(size, |r| r.end - r.start));
    if head {
        // Checked exactly like the GET (limits included), but nothing is recorded or consumed.
        check_only(state, s, &cmd).await?;
    } else {
        cmd.counted =
            !(operation == Operation::Download && range.is_some() && already_counted(state, s.session.sid, id).await?);
        run(state, s, req, cmd, &[]).await?;
    }
    if unsatisfiable {
        return Ok(range_not_satisfiable(size));
    }
    let row = row.ok_or_else(|| refusal(shareledger_domain::share::RefusalReason::ItemNotShared, None))?;
    let disposition = if operation == Operation::Preview {
        Disposition::Inline
    } else {
        Disposition::Attachment
    };
    let content_type = row
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    if head {
        return Ok(head_response(&row, size, &content_type, disposition));
    }
    let key = row
        .content_key
        .clone()
        .ok_or_else(|| refusal(shareledger_domain::share::RefusalReason::NoPermission, None))?;
    let partial = range.is_some();
    let opened = state.content().open(&key, range).await.map_err(ApiError::internal)?;
    Ok(content_response(opened, &row.name, &content_type, disposition, partial))
}

fn head_response(row: &DriveItemRow, size: u64, content_type: &str, disposition: Disposition) -> Response {
    use axum::http::{HeaderValue, header};
    let mut response = Response::new(axum::body::Body::empty());
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_DISPOSITION, content_disposition(disposition, &row.name));
    response
}

async fn already_counted(state: &AppState, session_id: Uuid, item_id: Uuid) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM session_downloads WHERE session_id = $1 AND item_id = $2)",
    )
    .bind(session_id)
    .bind(item_id)
    .fetch_one(state.pool())
    .await?)
}

fn drive_meta(req: &RequestMeta, visitor: &Visitor, now: chrono::DateTime<chrono::Utc>) -> CommandMeta {
    CommandMeta {
        metadata: req.for_visitor(visitor),
        occurred_at: now,
    }
}

/// An actor standing for the share's owner when a recipient's upload or edit lands in the
/// owner's drive (ownership follows the share, not the visitor).
fn owner_actor(link: &Link) -> Actor {
    Actor {
        user_id: link.owner_id.clone(),
        enterprise_id: link.enterprise_id.clone(),
        display_name: link.owner_id.clone(),
        roles: [shareledger_domain::Role::User].into_iter().collect(),
    }
}

async fn discard(state: &AppState, key: &str) {
    if let Err(e) = state.content().delete(key).await {
        tracing::warn!(error = %e, "could not delete content of a refused operation");
    }
}

/// Saves a copy of a shared file into the signed-in recipient's own drive.
pub async fn save(state: &AppState, s: &InSession, req: &RequestMeta, id: Uuid) -> Result<DriveItemDto, ApiError> {
    let (facts, row) = item(state, s, id).await?;
    let new_id = Uuid::now_v7();
    let mut cmd = access(s, Operation::Save, Some(facts));
    cmd.new_item = Some(new_id);
    let (Some(row), Visitor::User { user_id, enterprise_id }) =
        (row.filter(|r| r.content_key.is_some()), &s.session.vis)
    else {
        // Not savable as asked: let the decision say why, and record it.
        run(state, s, req, cmd, &[]).await?;
        return Err(refusal(shareledger_domain::share::RefusalReason::NoPermission, None));
    };
    let key = content::new_key(new_id);
    let stored = state
        .content()
        .copy(row.content_key.as_deref().expect("checked"), &key)
        .await
        .map_err(ApiError::internal)?;
    cmd.bytes = Some(stored.size);
    let now = state.clock().now();
    let recipient = Actor {
        user_id: user_id.clone(),
        enterprise_id: enterprise_id.clone(),
        display_name: user_id.clone(),
        roles: [shareledger_domain::Role::User].into_iter().collect(),
    };
    let register = AlsoExecute::<DriveItem> {
        stream: DriveItem::stream_id(&new_id.to_string()),
        command: DriveCommand::RegisterFile {
            id: new_id,
            owner_id: user_id.clone(),
            enterprise_id: enterprise_id.clone(),
            parent: None,
            name: row.name.clone(),
            content: Content {
                key: key.clone(),
                size: stored.size,
                sha256: stored.sha256,
                content_type: row
                    .content_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            },
            via_share: Some(s.link.share_id),
        },
        context: DriveContext {
            now,
            actor: recipient,
            parent: None,
            through_share: true,
        },
        meta: drive_meta(req, &s.session.vis, now),
    };
    if let Err(e) = run(state, s, req, cmd, &[&register]).await {
        discard(state, &key).await;
        return Err(e);
    }
    Ok(drive_items::get(state.pool(), new_id)
        .await?
        .expect("just registered")
        .into())
}

/// Uploads a file into a shared folder of an upload link; it lands in the owner's drive.
#[allow(clippy::too_many_arguments)]
pub async fn upload<S, E>(
    state: &AppState,
    s: &InSession,
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
    let folder_id = match parent {
        Some(id) => id,
        None => match s.link.items.as_slice() {
            [only] if only.kind == ItemKind::Folder => only.id,
            _ => {
                return Err(ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "parent_required",
                    "Name the shared folder to upload into (?parent=).",
                ));
            }
        },
    };
    validate_name(&name).map_err(|e| ApiError::refused(&e))?;
    let (facts, _) = item(state, s, folder_id).await?;
    let new_id = Uuid::now_v7();
    let mut cmd = access(s, Operation::Upload, Some(facts.clone()));
    cmd.new_item = Some(new_id);
    cmd.new_name = Some(name.clone());
    // Refuse before storing anything when the upload cannot be allowed anyway.
    let mut probe = cmd.clone();
    probe.counted = false;
    if let Err(e) = check_only(state, s, &probe).await {
        run(state, s, req, cmd, &[]).await?;
        return Err(e);
    }
    let stored = store_content(state, new_id, body).await?;
    cmd.bytes = Some(stored.size);
    let now = state.clock().now();
    let register = AlsoExecute::<DriveItem> {
        stream: DriveItem::stream_id(&new_id.to_string()),
        command: DriveCommand::RegisterFile {
            id: new_id,
            owner_id: s.link.owner_id.clone(),
            enterprise_id: s.link.enterprise_id.clone(),
            parent: Some(folder_id),
            name,
            content: Content {
                key: stored.key.clone(),
                size: stored.size,
                sha256: stored.sha256,
                content_type,
            },
            via_share: Some(s.link.share_id),
        },
        context: DriveContext {
            now,
            actor: owner_actor(&s.link),
            parent: Some(ParentFacts {
                id: folder_id,
                owner_id: s.link.owner_id.clone(),
                kind: ItemKind::Folder,
                deleted: facts.deleted,
            }),
            through_share: true,
        },
        meta: drive_meta(req, &s.session.vis, now),
    };
    if let Err(e) = run(state, s, req, cmd, &[&register]).await {
        discard(state, &stored.key).await;
        return Err(e);
    }
    Ok(drive_items::get(state.pool(), new_id)
        .await?
        .expect("just registered")
        .into())
}

/// Replaces a shared document's content (an online edit).
pub async fn edit<S, E>(
    state: &AppState,
    s: &InSession,
    req: &RequestMeta,
    id: Uuid,
    content_type: String,
    body: S,
) -> Result<DriveItemDto, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let (facts, _) = item(state, s, id).await?;
    let mut cmd = access(s, Operation::Edit, Some(facts));
    let mut probe = cmd.clone();
    probe.counted = false;
    if let Err(e) = check_only(state, s, &probe).await {
        run(state, s, req, cmd, &[]).await?;
        return Err(e);
    }
    let stored = store_content(state, id, body).await?;
    cmd.bytes = Some(stored.size);
    let now = state.clock().now();
    let replace = AlsoExecute::<DriveItem> {
        stream: DriveItem::stream_id(&id.to_string()),
        command: DriveCommand::ReplaceContent {
            content: Content {
                key: stored.key.clone(),
                size: stored.size,
                sha256: stored.sha256,
                content_type,
            },
            via_share: Some(s.link.share_id),
        },
        context: DriveContext {
            now,
            actor: owner_actor(&s.link),
            parent: None,
            through_share: true,
        },
        meta: drive_meta(req, &s.session.vis, now),
    };
    if let Err(e) = run(state, s, req, cmd, &[&replace]).await {
        discard(state, &stored.key).await;
        return Err(e);
    }
    Ok(drive_items::get(state.pool(), id).await?.expect("exists").into())
}
