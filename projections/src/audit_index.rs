//! The audit index: one flat, indexed row per event, for compliance queries (who, when, from
//! where, what happened to which share).

use shareledger_domain::log::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ProjectionError;
use crate::copy::CopyRows;

/// A recipient's attempt, as an event records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt<'a> {
    /// `open`, `list`, `preview`, `download`, `save`, `upload`, `edit` (`other` if unknown).
    pub operation: &'static str,
    /// The reason, for a refusal.
    pub refused: Option<&'a str>,
}

/// What an event records of a recipient's attempt (`None` for owner and admin events). The
/// audit index and the access statistics read attempts through this one place.
pub fn attempt(event: &StoredEvent) -> Option<Attempt<'_>> {
    let granted = |operation| {
        Some(Attempt {
            operation,
            refused: None,
        })
    };
    match event.event_type.as_str() {
        "ShareOpened" => granted("open"),
        "FilePreviewed" => granted("preview"),
        "FileDownloaded" => granted("download"),
        "FileSaved" => granted("save"),
        "FileUploaded" => granted("upload"),
        "DocumentEdited" => granted("edit"),
        "AccessRefused" => {
            let operation = match event.payload.get("operation").and_then(|v| v.as_str())? {
                "open" => "open",
                "list" => "list",
                "preview" => "preview",
                "download" => "download",
                "save" => "save",
                "upload" => "upload",
                "edit" => "edit",
                _ => "other",
            };
            let reason = event.payload.get("reason").and_then(|v| v.as_str()).unwrap_or_default();
            Some(Attempt {
                operation,
                refused: Some(reason),
            })
        }
        _ => None,
    }
}

/// Operation and outcome of an event, for the index: `granted` or `refused:<reason>`.
pub fn operation_outcome(event: &StoredEvent) -> (Option<&'static str>, Option<std::borrow::Cow<'_, str>>) {
    match attempt(event) {
        None => (None, None),
        Some(a) => (
            Some(a.operation),
            Some(match a.refused {
                None => "granted".into(),
                Some(reason) => format!("refused:{reason}").into(),
            }),
        ),
    }
}

/// The share an event concerns, if any.
pub fn share_of(event: &StoredEvent) -> Option<Uuid> {
    event.stream_id.strip_prefix("share-").and_then(|id| id.parse().ok())
}

/// Indexes a batch with one `COPY`. Every event is indexed exactly once (the runner's checkpoint
/// moves in the same transaction), so a duplicate would be a bug and fails the batch loudly.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    let owners = stream_enterprises(conn, events).await?;
    let mut rows = CopyRows::new(10, events.len());
    for e in events {
        let (op, outcome) = operation_outcome(e);
        let meta = e.meta();
        let enterprise = owners
            .get(&e.stream_id)
            .and_then(|owner| owner.as_deref())
            .or_else(|| meta.enterprise.as_deref());
        rows.int8(e.global_position)
            .xid8(e.tx_id)
            .time(e.recorded_at)
            .text(&e.event_type)
            .opt_uuid(share_of(e))
            .opt_text(meta.actor.as_deref())
            .opt_text(enterprise)
            .opt_text(meta.ip.as_deref())
            .opt_text(op)
            .opt_text(outcome.as_deref());
        rows.end_row();
    }
    rows.send(
        conn,
        "COPY audit_index (global_position, tx_id, recorded_at, event_type, share_id, actor, enterprise_id, client_ip, \
         operation, outcome) FROM STDIN (FORMAT binary)",
    )
    .await?;
    Ok(())
}

/// The enterprise each stream of the batch belongs to: the one recorded on the stream's first
/// event (a share's or an item's owner's, a policy's own), whoever acts on it later.
async fn stream_enterprises(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<foldhash::HashMap<String, Option<String>>, ProjectionError> {
    let mut owners = foldhash::HashMap::default();
    for e in events {
        if let Some(enterprise) = e.stream_id.strip_prefix("policy-") {
            owners.insert(e.stream_id.clone(), Some(enterprise.to_owned()));
        } else if e.stream_version == 1 {
            let from_payload = e
                .payload
                .get("enterprise_id")
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            owners.insert(
                e.stream_id.clone(),
                from_payload.or_else(|| e.meta().enterprise.0.map(Into::into)),
            );
        }
    }
    let unknown: Vec<String> = events
        .iter()
        .map(|e| e.stream_id.clone())
        .filter(|s| !owners.contains_key(s))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if unknown.is_empty() && owners.is_empty() {
        return Ok(owners);
    }
    // One round trip: remember the new streams, look the others up (the lookup cannot see the
    // rows this statement adds, and needs none of them).
    let (streams, enterprises): (Vec<String>, Vec<Option<String>>) =
        owners.iter().map(|(k, v)| (k.clone(), v.clone())).unzip();
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "WITH new AS (INSERT INTO audit_streams SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING) \
         SELECT stream_id, enterprise_id FROM audit_streams WHERE stream_id = ANY($3)",
    )
    .bind(streams)
    .bind(enterprises)
    .bind(&unknown)
    .fetch_all(&mut *conn)
    .await?;
    owners.extend(rows);
    Ok(owners)
}
