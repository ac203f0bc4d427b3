//! Projections of the shareledger event log: read models built from events, their read queries,
//! and (for the asynchronous ones) the runner.
//!
//! Inline projections are applied in the append transaction, so a write shows at once:
//! - `my_share_links`: the owner's list of shares
//! - `drive_items`: the built-in drive
//! - `quota_usage`: per-user daily counters (also the quota decision, see `quota_usage`)
//!
//! Asynchronous projections follow the log through a runner (`runner`):
//! - `access_stats`: access statistics per share and enterprise, by hour and day
//! - `audit_index`: one flat, indexed row per event for compliance queries
//!
//! Every projection can be rebuilt from the log while the service keeps serving (`rebuild`).

pub mod access_stats;
pub mod audit_index;
pub mod checkpoint;
pub mod copy;
pub mod drive_items;
pub mod log;
pub mod my_share_links;
pub mod page;
pub mod projection;
pub mod quota_usage;
pub mod rebuild;
pub mod runner;

use shareledger_domain::DecodeError;

/// A projection could not apply an event or answer a query.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("event at position {position} cannot be decoded")]
    Decode {
        position: i64,
        #[source]
        source: DecodeError,
    },
    #[error("stream id {0:?} does not name an aggregate instance")]
    BadStreamId(String),
}

/// The id in a stream id `<prefix>-<uuid>`.
pub fn stream_uuid(stream_id: &str, prefix: &str) -> Result<uuid::Uuid, ProjectionError> {
    stream_id
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| ProjectionError::BadStreamId(stream_id.to_owned()))
}
