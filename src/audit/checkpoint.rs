//! Writing signed checkpoints: periodically from `serve`, and on demand.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use shareledger_domain::log::{Cursor, StoredEvent, StreamHead};
use shareledger_projections::log;
use sqlx::PgPool;

use super::key::{AuditKey, PublicKey};
use super::{CHECKPOINT_EVENT, CHECKPOINT_STREAM, digest};
use crate::store::{EventMetadata, EventStore, NewEvent, StoreError, StreamAppend, append_on};

/// What a checkpoint event holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// The last event covered, as a catch-up cursor: its transaction id (decimal) ...
    pub covered_tx_id: String,
    /// ... and its position (0 and "0" when the log was empty).
    pub covered_position: i64,
    /// How many events the log held up to and including that one.
    pub events: u64,
    /// The running digest over all of them in read order (hex).
    pub digest: String,
    /// When the checkpoint was made.
    pub created_at: DateTime<Utc>,
    /// Fingerprint of the signing key.
    pub key_id: String,
    /// Ed25519 signature (base64) of `signed_message()`.
    pub signature: String,
}

impl Checkpoint {
    /// The cursor covered.
    pub fn covered(&self) -> Result<Cursor, String> {
        Ok(Cursor {
            tx_id: self
                .covered_tx_id
                .parse()
                .map_err(|_| format!("covered_tx_id {:?} is not a number", self.covered_tx_id))?,
            position: self.covered_position,
        })
    }

    /// The exact bytes signed: every field but the signature, in a fixed layout.
    pub fn signed_message(&self) -> Vec<u8> {
        format!(
            "shareledger-audit-checkpoint-v1\n{}\n{}\n{}\n{}\n{}\n{}",
            self.covered_tx_id,
            self.covered_position,
            self.events,
            self.digest,
            self.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            self.key_id
        )
        .into_bytes()
    }

    /// Whether the signature is `key`'s over this checkpoint.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        STANDARD
            .decode(&self.signature)
            .is_ok_and(|s| key.verifies(&self.signed_message(), &s))
    }

    /// Reads a checkpoint event's payload.
    pub fn from_event(event: &StoredEvent) -> Result<Checkpoint, String> {
        event.payload.read().map_err(|e| format!("unreadable checkpoint: {e}"))
    }
}

/// Makes a checkpoint covering every event a catch-up reader can see now, unless nothing but
/// checkpoints happened since the last one (then `None`, except when `always`). Serialized across
/// instances by an advisory lock; the events are read incrementally from the last checkpoint.
pub async fn make_checkpoint(
    pool: &PgPool,
    store: Option<&EventStore>,
    key: &AuditKey,
    now: DateTime<Utc>,
    always: bool,
) -> Result<Option<(Checkpoint, StoredEvent)>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('shareledger-audit-checkpoint'))")
        .execute(&mut *tx)
        .await?;
    let head = log::stream_head(&mut *tx, CHECKPOINT_STREAM).await?;
    let (mut cursor, mut running, mut events) = (Cursor::START, digest::START, 0u64);
    if head.version > 0 {
        let last = log::read_stream(&mut *tx, CHECKPOINT_STREAM, head.version - 1).await?;
        let last = last
            .last()
            .ok_or_else(|| StoreError::Corrupt("the last checkpoint vanished".into()))?;
        let checkpoint = Checkpoint::from_event(last).map_err(StoreError::Corrupt)?;
        cursor = checkpoint.covered().map_err(StoreError::Corrupt)?;
        running = hex::decode(&checkpoint.digest)
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| StoreError::Corrupt("checkpoint digest".into()))?;
        events = checkpoint.events;
    }
    let mut news = false;
    {
        let mut stream = std::pin::pin!(log::stream_all(&mut *tx, cursor));
        while let Some(event) = stream.try_next().await? {
            running = digest::fold(&running, &event);
            events += 1;
            cursor = event.cursor();
            news |= event.stream_id != CHECKPOINT_STREAM;
        }
    }
    if !news && !always {
        return Ok(None);
    }
    let mut checkpoint = Checkpoint {
        covered_tx_id: cursor.tx_id.to_string(),
        covered_position: cursor.position,
        events,
        digest: hex::encode(running),
        created_at: now,
        key_id: key.public().id(),
        signature: String::new(),
    };
    checkpoint.signature = STANDARD.encode(key.sign(&checkpoint.signed_message()));
    let event = NewEvent::new(
        CHECKPOINT_EVENT,
        1,
        serde_json::to_value(&checkpoint).expect("plain data"),
        &EventMetadata::system("audit-checkpoint"),
        now,
    );
    let outcome = append_on(
        &mut tx,
        &[StreamAppend {
            stream_id: CHECKPOINT_STREAM.to_owned(),
            expected: StreamHead {
                version: head.version,
                hash: head.hash,
            },
            events: vec![event],
        }],
    )
    .await?;
    tx.commit().await?;
    if let Some(store) = store {
        store.committed();
    }
    let stored = outcome
        .events
        .into_iter()
        .next()
        .ok_or_else(|| StoreError::Corrupt("the checkpoint was not stored".into()))?;
    Ok(Some((checkpoint, stored)))
}

/// Makes checkpoints every `interval` until the task is dropped (`serve`).
pub async fn run_periodically(
    pool: PgPool,
    store: EventStore,
    key: AuditKey,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    interval: std::time::Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        match make_checkpoint(&pool, Some(&store), &key, clock.now(), false).await {
            Ok(Some((c, _))) => tracing::info!(events = c.events, position = c.covered_position, "audit checkpoint"),
            Ok(None) => tracing::debug!("audit checkpoint: nothing new"),
            Err(e) => tracing::warn!(error = %e, "audit checkpoint failed; trying again at the next tick"),
        }
    }
}
