//! The audit index: one flat, indexed row per event, for compliance queries (who, when, from
//! where, what happened to which share).

use shareledger_domain::log::StoredEvent;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::ProjectionError;

/// Operation and outcome of an event, for the index (`None` for owner and admin events).
pub fn operation_outcome(event: &StoredEvent) -> (Option<String>, Option<String>) {
    let granted = |op: &str| (Some(op.to_owned()), Some("granted".to_owned()));
    match event.event_type.as_str() {
        "ShareOpened" => granted("open"),
        "FilePreviewed" => granted("preview"),
        "FileDownloaded" => granted("download"),
        "FileSaved" => granted("save"),
        "FileUploaded" => granted("upload"),
        "DocumentEdited" => granted("edit"),
        "AccessRefused" => (
            event
                .payload
                .get("operation")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
            event
                .payload
                .get("reason")
                .and_then(|v| v.as_str())
                .map(|r| format!("refused:{r}")),
        ),
        _ => (None, None),
    }
}

/// The share an event concerns, if any.
pub fn share_of(event: &StoredEvent) -> Option<Uuid> {
    event.stream_id.strip_prefix("share-").and_then(|id| id.parse().ok())
}

/// Indexes a batch in one statement.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    if events.is_empty() {
        return Ok(());
    }
    let meta = |e: &StoredEvent, key: &str| e.metadata.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let owners = stream_enterprises(conn, events).await?;
    let (mut ops, mut outcomes) = (Vec::with_capacity(events.len()), Vec::with_capacity(events.len()));
    for e in events {
        let (op, outcome) = operation_outcome(e);
        ops.push(op);
        outcomes.push(outcome);
    }
    sqlx::query(
        "INSERT INTO audit_index (global_position, tx_id, recorded_at, occurred_at, stream_id, event_type, share_id, actor, \
         actor_kind, enterprise_id, client_ip, operation, outcome) \
         SELECT p, t::xid8, r, o, s, ty, sh, a, ak, en, ip, op, oc FROM unnest($1::int8[], $2::text[], $3::timestamptz[], \
         $4::timestamptz[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
         $13::text[]) AS u(p, t, r, o, s, ty, sh, a, ak, en, ip, op, oc) \
         ON CONFLICT (global_position) DO NOTHING",
    )
    .bind(events.iter().map(|e| e.global_position).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tx_id.to_string()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.stream_id.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_type.clone()).collect::<Vec<_>>())
    .bind(events.iter().map(share_of).collect::<Vec<_>>())
    .bind(events.iter().map(|e| meta(e, "actor")).collect::<Vec<_>>())
    .bind(events.iter().map(|e| meta(e, "actor_kind")).collect::<Vec<_>>())
    .bind(events.iter().map(|e| owners.get(&e.stream_id).cloned().flatten().or_else(|| meta(e, "enterprise"))).collect::<Vec<_>>())
    .bind(events.iter().map(|e| meta(e, "ip")).collect::<Vec<_>>())
    .bind(ops)
    .bind(outcomes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The enterprise each stream of the batch belongs to: the one recorded on the stream's first
/// event (a share's or an item's owner's, a policy's own), whoever acts on it later.
async fn stream_enterprises(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<std::collections::HashMap<String, Option<String>>, ProjectionError> {
    let mut owners = std::collections::HashMap::new();
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
                from_payload.or_else(|| e.metadata.get("enterprise").and_then(|v| v.as_str()).map(str::to_owned)),
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
    let new: Vec<(String, Option<String>)> = owners.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if !unknown.is_empty() {
        let rows: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT stream_id, enterprise_id FROM audit_streams WHERE stream_id = ANY($1)")
                .bind(&unknown)
                .fetch_all(&mut *conn)
                .await?;
        owners.extend(rows);
    }
    if !new.is_empty() {
        let (streams, enterprises): (Vec<String>, Vec<Option<String>>) = new.into_iter().unzip();
        sqlx::query("INSERT INTO audit_streams SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING")
            .bind(streams)
            .bind(enterprises)
            .execute(&mut *conn)
            .await?;
    }
    Ok(owners)
}
