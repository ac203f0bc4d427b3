//! Work that must commit or roll back with the events: inline projections and transactional
//! checks such as quotas.

use futures_util::future::BoxFuture;
use shareledger_domain::Aggregate;
use sqlx::PgConnection;

use crate::store::{StoreError, StoredEvent};

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
}

/// Runs inside a batch's transaction (`Runtime::execute_batch`), once for all its events, of
/// every stream in it: work that needs the events, not the streams' states.
pub trait EventsHook: Send + Sync {
    fn apply<'a>(&'a self, tx: &'a mut PgConnection, events: &'a [StoredEvent])
    -> BoxFuture<'a, Result<(), HookError>>;
}
