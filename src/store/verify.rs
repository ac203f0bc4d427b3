//! Recomputing the per-stream hash chains: any edited, removed or inserted event breaks them.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;

use super::chain::{HashInput, ZERO_HASH, event_hash};
use super::error::StoreError;
use super::event::StoredEvent;
use super::read::decode_event;
use shareledger_projections::event_columns;

/// What is wrong with one event of a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainProblemKind {
    /// The stored hash does not match the event's fields: something in the row was edited.
    ContentChanged,
    /// `prev_hash` is not the predecessor's hash: an event before it was removed, replaced or
    /// inserted.
    ChainBroken,
    /// The version is not the predecessor's plus one: an event is missing.
    VersionGap,
    /// Positions or transaction ids do not grow with versions: the log order was rewritten.
    OrderChanged,
}

/// One finding of the verifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    pub stream_id: String,
    pub stream_version: i64,
    pub global_position: i64,
    pub kind: ChainProblemKind,
}

/// The verifier's verdict over the whole log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainReport {
    pub events: u64,
    pub streams: u64,
    pub problems: Vec<ChainProblem>,
}

impl ChainReport {
    /// True when no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks one event against its predecessor in the same stream (`None` for the first one read).
pub fn check_event(prev: Option<&StoredEvent>, event: &StoredEvent, problems: &mut Vec<ChainProblem>) {
    let mut flag = |kind| {
        problems.push(ChainProblem {
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            global_position: event.global_position,
            kind,
        })
    };
    let recomputed = event_hash(
        &event.prev_hash,
        &HashInput {
            stream_id: &event.stream_id,
            stream_version: event.stream_version,
            event_id: &event.event_id,
            event_type: &event.event_type,
            schema_version: event.schema_version,
            payload: &event.payload,
            metadata: &event.metadata,
            occurred_at: &event.occurred_at,
            recorded_at: &event.recorded_at,
        },
    );
    if recomputed != event.hash {
        flag(ChainProblemKind::ContentChanged);
    }
    let (expected_version, expected_prev) = match prev {
        Some(p) => (p.stream_version + 1, p.hash),
        None => (1, ZERO_HASH),
    };
    if event.stream_version != expected_version {
        flag(ChainProblemKind::VersionGap);
    }
    if event.prev_hash != expected_prev {
        flag(ChainProblemKind::ChainBroken);
    }
    if let Some(p) = prev
        && (p.global_position >= event.global_position || p.tx_id > event.tx_id)
    {
        flag(ChainProblemKind::OrderChanged);
    }
}

/// Walks every stream in version order and reports each broken link. Streams the rows; memory
/// stays flat. `progress` is called with the number of events checked so far.
pub async fn verify_chains(pool: &PgPool, mut progress: impl FnMut(u64)) -> Result<ChainReport, StoreError> {
    const SQL: &str = concat!(
        "SELECT ",
        event_columns!(),
        " FROM events ORDER BY stream_id, stream_version"
    );
    let mut report = ChainReport::default();
    let mut rows = sqlx::query(SQL).fetch(pool);
    let mut prev: Option<StoredEvent> = None;
    while let Some(row) = rows.try_next().await? {
        let event = decode_event(&row)?;
        let same_stream = prev.as_ref().is_some_and(|p| p.stream_id == event.stream_id);
        if !same_stream {
            report.streams += 1;
        }
        check_event(prev.as_ref().filter(|_| same_stream), &event, &mut report.problems);
        report.events += 1;
        if report.events % 10_000 == 0 {
            progress(report.events);
        }
        prev = Some(event);
    }
    progress(report.events);
    Ok(report)
}
