//! Loading an aggregate: the snapshot, then any events after it.

use shareledger_domain::Aggregate;
use sqlx::{PgConnection, PgExecutor};

use super::RuntimeError;
use crate::store::{Snapshot, StreamHead, load_snapshot, read_stream};

/// An aggregate's state and the head it was folded up to.
#[derive(Debug, Clone)]
pub struct Loaded<S> {
    pub state: S,
    pub head: StreamHead,
}

/// Loads without a lock. With `fresh == false` a current snapshot is trusted as is (one read);
/// after a conflict the caller passes `fresh = true` to also fold newer events.
pub async fn load<'c, A: Aggregate>(
    db: impl PgExecutor<'c> + Copy,
    stream_id: &str,
    fresh: bool,
) -> Result<Loaded<A::State>, RuntimeError> {
    let snapshot = load_snapshot(db, stream_id, false).await?;
    complete::<A>(db, stream_id, snapshot, fresh).await
}

/// Takes the stream's row lock and loads (the lock is held until the transaction ends).
pub async fn load_locked<A: Aggregate>(
    tx: &mut PgConnection,
    stream_id: &str,
    fresh: bool,
) -> Result<Loaded<A::State>, RuntimeError> {
    let snapshot = load_snapshot(&mut *tx, stream_id, true).await?;
    complete::<A>(&mut *tx, stream_id, snapshot, fresh).await
}

pub(super) async fn complete<'c, A: Aggregate>(
    db: impl PgExecutor<'c>,
    stream_id: &str,
    snapshot: Option<Snapshot>,
    fresh: bool,
) -> Result<Loaded<A::State>, RuntimeError> {
    let usable = snapshot.filter(|s| s.state_schema == A::STATE_SCHEMA);
    let (state, head) = match usable {
        Some(s) => (serde_json::from_value(s.state).map_err(RuntimeError::State)?, s.head),
        None => (A::State::default(), StreamHead::EMPTY),
    };
    if !fresh && !head.is_empty() {
        return Ok(Loaded { state, head });
    }
    let newer = read_stream(db, stream_id, head.version).await?;
    let mut loaded = Loaded { state, head };
    for stored in &newer {
        let event: A::Event = stored.decode()?;
        loaded.state = A::evolve(loaded.state, &event);
        loaded.head = StreamHead {
            version: stored.stream_version,
            hash: stored.hash,
        };
    }
    Ok(loaded)
}
