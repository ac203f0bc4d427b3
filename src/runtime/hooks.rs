//! Work that must commit or roll back with the events: inline projections and transactional
//! checks such as quotas.

use futures_util::future::BoxFuture;
use shareledger_domain::Aggregate;
use sqlx::PgConnection;

use crate::store::{FusedWrite, StoreError, StoredEvent};

/// Why a hook stopped the command.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// A transactional check said no (e.g. the daily quota is used up); nothing is committed.
    #[error("{code}: {detail}")]
    Refused { code: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for HookError {
    fn from(e: sqlx::Error) -> Self {
        HookError::Store(e.into())
    }
}

/// Runs inside the append transaction, after the events are inserted.
pub trait TxHook<A: Aggregate>: Send + Sync {
    /// Applies the new events (with their positions) and the resulting state.
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        state: &'a A::State,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>>;

    /// The same work as part of a new stream's one-statement append (`Runtime::execute_new`),
    /// built from the event about to be stored (`global_position` and `tx_id` are 0 here; the
    /// statement reads them from `appended`). `None` (the default): this hook cannot, and the
    /// command takes the transaction path, where `apply` runs.
    fn fused(&self, state: &A::State, events: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        let _ = (state, events);
        Ok(None)
    }
}

/// A hook's part of a one-statement append (see `FusedWrite`).
pub enum Fused {
    /// A write beside the event.
    Write(FusedWrite),
    /// A check before the event, such as a quota: if its statement returns no row, nothing is
    /// written and the command is refused with this code and detail.
    Gate {
        check: FusedWrite,
        /// The row it changes (e.g. `quota/<user>/<day>/<kind>`): gates of one row never share a
        /// statement, and one statement's gates take their rows in this order.
        key: String,
        code: &'static str,
        detail: String,
    },
}

/// Runs inside a batch's transaction (`Runtime::execute_batch`), once for all its events, of
/// every stream in it: work that needs the events, not the streams' states.
pub trait EventsHook: Send + Sync {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, events: &'a [StoredEvent])
    -> BoxFuture<'a, Result<(), HookError>>;
}
