//! The whole verification: every stream's hash chain, then the log in read order against every
//! signed checkpoint (its signature, the number of events it covered and their digest).

use futures_util::TryStreamExt;
use serde::Serialize;
use shareledger_domain::log::{Cursor, StoredEvent};
use sqlx::PgPool;

use super::checkpoint::Checkpoint;
use super::key::PublicKey;
use super::{CHECKPOINT_STREAM, digest};
use crate::store::StoreError;
use crate::store::verify::{ChainProblemKind, verify_chains};

/// What kind of tampering a finding shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// An event's stored fields no longer match its hash, or a checkpoint's digest differs while
    /// the number of events it covered is the same: an event was edited or replaced.
    PayloadChanged,
    /// An event covered by a checkpoint, or inside a stream, is gone.
    EventMissing,
    /// An event appeared inside history a checkpoint already covered, or out of order in a stream.
    EventInserted,
    /// A stream's `prev_hash` links do not connect.
    ChainBroken,
    /// The last events a checkpoint covered are gone (the tail of the log was cut off).
    TailTruncated,
    /// A checkpoint's signature is not the audit key's (forged, altered, or another key).
    SignatureInvalid,
}

/// One finding: where, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The stream of the event concerned (for checkpoint findings, the checkpoint's own event).
    pub stream_id: String,
    pub stream_version: i64,
    pub global_position: i64,
    /// What exactly did not match.
    pub detail: String,
}

/// The verdict.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `intact` or `tampered`.
    pub verdict: String,
    pub events: u64,
    pub streams: u64,
    pub checkpoints: u64,
    /// The key the checkpoints were checked against.
    pub public_key: String,
    /// The last position a valid checkpoint vouches for (0 when none).
    pub covered_position: i64,
    pub problems: Vec<Problem>,
}

/// A time window for the verdict: only problems with events recorded, and checkpoints made,
/// inside it are reported. The whole log is still read: chains and the running digest start
/// at the beginning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// From this instant (RFC 3339), inclusive.
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Up to this instant, exclusive.
    pub to: Option<chrono::DateTime<chrono::Utc>>,
}

impl Window {
    fn contains(&self, at: chrono::DateTime<chrono::Utc>) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at < t)
    }
}

/// Checks everything. `progress` gets the number of events read so far (both passes).
pub async fn verify(pool: &PgPool, key: &PublicKey, progress: impl FnMut(u64)) -> Result<Report, StoreError> {
    verify_window(pool, key, Window::default(), progress).await
}

/// Checks everything, reporting what falls inside `window`.
pub async fn verify_window(
    pool: &PgPool,
    key: &PublicKey,
    window: Window,
    mut progress: impl FnMut(u64),
) -> Result<Report, StoreError> {
    let chains = verify_chains(pool, &mut progress).await?;
    let mut problems: Vec<Problem> = chains
        .problems
        .iter()
        .map(|p| {
            let (kind, detail) = match p.kind {
                ChainProblemKind::ContentChanged => (
                    ProblemKind::PayloadChanged,
                    "the stored fields do not match the event's hash",
                ),
                ChainProblemKind::ChainBroken => {
                    (ProblemKind::ChainBroken, "prev_hash is not the previous event's hash")
                }
                ChainProblemKind::VersionGap => (
                    ProblemKind::EventMissing,
                    "the stream's versions skip: an event before this one is gone",
                ),
                ChainProblemKind::OrderChanged => (
                    ProblemKind::EventInserted,
                    "the position does not follow the stream's previous event",
                ),
            };
            Problem {
                kind,
                stream_id: p.stream_id.clone(),
                stream_version: p.stream_version,
                global_position: p.global_position,
                detail: detail.to_owned(),
            }
        })
        .collect();
    let done = chains.events;
    let (checkpoints, covered) = check_checkpoints(pool, key, &mut problems, |n| progress(done + n)).await?;
    if window != Window::default() {
        // Every finding names an event that is still there (a checkpoint's own, or the one after
        // a gap): keep those recorded inside the window.
        let positions: Vec<i64> = problems.iter().map(|p| p.global_position).collect();
        let times: std::collections::HashMap<i64, chrono::DateTime<chrono::Utc>> =
            sqlx::query_as("SELECT global_position, recorded_at FROM events WHERE global_position = ANY($1)")
                .bind(&positions)
                .fetch_all(pool)
                .await?
                .into_iter()
                .collect();
        problems.retain(|p| times.get(&p.global_position).is_none_or(|at| window.contains(*at)));
    }
    Ok(Report {
        verdict: if problems.is_empty() { "intact" } else { "tampered" }.to_owned(),
        events: chains.events,
        streams: chains.streams,
        checkpoints,
        public_key: key.to_text(),
        covered_position: covered,
        problems,
    })
}

/// A checkpoint waiting for the read to reach its cursor.
struct Pending {
    event: StoredEvent,
    checkpoint: Checkpoint,
    covered: Cursor,
    valid_signature: bool,
}

async fn check_checkpoints(
    pool: &PgPool,
    key: &PublicKey,
    problems: &mut Vec<Problem>,
    mut progress: impl FnMut(u64),
) -> Result<(u64, i64), StoreError> {
    // The checkpoints are few (one per interval): all of them in memory, by covered cursor.
    let stored = shareledger_projections::log::read_stream(pool, CHECKPOINT_STREAM, 0).await?;
    let count = stored.len() as u64;
    let mut pending = Vec::new();
    for event in stored {
        let at = |kind, detail: String| Problem {
            kind,
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            global_position: event.global_position,
            detail,
        };
        let checkpoint = match Checkpoint::from_event(&event) {
            Ok(c) => c,
            Err(detail) => {
                problems.push(at(ProblemKind::SignatureInvalid, detail));
                continue;
            }
        };
        let covered = match checkpoint.covered() {
            Ok(c) => c,
            Err(detail) => {
                problems.push(at(ProblemKind::SignatureInvalid, detail));
                continue;
            }
        };
        let valid_signature = checkpoint.signed_by(key);
        if !valid_signature {
            let detail = if checkpoint.key_id == key.id() {
                "the signature does not match the checkpoint (forged or altered)".to_owned()
            } else {
                format!(
                    "signed by key {} (or forged), not by the audit key {}",
                    checkpoint.key_id,
                    key.id()
                )
            };
            problems.push(at(ProblemKind::SignatureInvalid, detail));
        }
        pending.push(Pending {
            event,
            checkpoint,
            covered,
            valid_signature,
        });
    }
    pending.sort_by_key(|p| p.covered);

    // The log in catch-up order: every event a checkpoint can have covered is below the
    // visibility horizon, then as now.
    let mut rows = std::pin::pin!(shareledger_projections::log::stream_all(pool, Cursor::START));
    let (mut running, mut events) = (digest::START, 0u64);
    let mut next = 0;
    let mut vouched = 0i64;
    let mut judge =
        |p: &Pending, running: &mut [u8; 32], events: &mut u64, present: bool, problems: &mut Vec<Problem>| {
            let at = |kind, detail: String| Problem {
                kind,
                stream_id: p.event.stream_id.clone(),
                stream_version: p.event.stream_version,
                global_position: p.event.global_position,
                detail,
            };
            let expected = &p.checkpoint;
            let matches = hex::encode(*running) == expected.digest && *events == expected.events && present;
            if !matches {
                let range = format!(
                    "checkpoint of {} covering up to position {}: {} events expected, {} found",
                    expected.created_at.to_rfc3339(),
                    expected.covered_position,
                    expected.events,
                    events
                );
                let kind = if !present && *events < expected.events {
                    ProblemKind::TailTruncated
                } else if *events < expected.events {
                    ProblemKind::EventMissing
                } else if *events > expected.events {
                    ProblemKind::EventInserted
                } else {
                    ProblemKind::PayloadChanged
                };
                problems.push(at(kind, range));
            } else if p.valid_signature {
                vouched = vouched.max(expected.covered_position);
            }
            // Judge each stretch between checkpoints on its own: carry on from what a genuinely
            // signed checkpoint says, so one problem is reported once, where it is.
            if p.valid_signature
                && let Some(d) = hex::decode(&expected.digest)
                    .ok()
                    .and_then(|d| <[u8; 32]>::try_from(d).ok())
            {
                *running = d;
                *events = expected.events;
            }
        };
    let mut read = 0u64;
    while let Some(event) = rows.try_next().await? {
        let at = event.cursor();
        // Checkpoints covering up to a cursor before this event whose own last event was not
        // read: it is gone. (An empty log's checkpoint covers nothing and misses nothing.)
        while next < pending.len() && pending[next].covered < at {
            let present = pending[next].covered == Cursor::START;
            judge(&pending[next], &mut running, &mut events, present, problems);
            next += 1;
        }
        running = digest::fold(&running, &event);
        events += 1;
        while next < pending.len() && pending[next].covered == at {
            judge(&pending[next], &mut running, &mut events, true, problems);
            next += 1;
        }
        read += 1;
        if read.is_multiple_of(10_000) {
            progress(read);
        }
    }
    while next < pending.len() {
        // Past the end of what is left: cut off (unless it covered nothing).
        let present = pending[next].covered == Cursor::START;
        judge(&pending[next], &mut running, &mut events, present, problems);
        next += 1;
    }
    progress(read);
    Ok((count, vouched))
}
