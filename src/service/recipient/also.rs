//! A second aggregate's command inside the same transaction (a save or an upload registers a
//! drive item; an edit replaces its content): both streams change together or neither does.

use futures_util::future::BoxFuture;
use shareledger_domain::{Aggregate, Refusal};
use sqlx::PgConnection;

use crate::runtime::{CommandMeta, HookError, TxHook, load_locked};
use crate::service::hooks::InlineProjections;
use crate::store::{NewEvent, SnapshotWrite, StoreError, StoredEvent, StreamAppend, append_with_snapshots};

/// Runs `command` on the aggregate of `stream` in the transaction of another command.
pub struct AlsoExecute<B: Aggregate> {
    pub stream: String,
    pub command: B::Command,
    pub context: B::Context,
    pub meta: CommandMeta,
}

impl<A, B> TxHook<A> for AlsoExecute<B>
where
    A: Aggregate,
    B: Aggregate,
    B::Error: Refusal,
    B::Command: Sync,
    B::Context: Sync,
{
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        _: &'a A::State,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            // A refused primary command (an AccessRefused event) changes nothing else.
            if events.iter().all(|e| e.event_type == "AccessRefused") {
                return Ok(());
            }
            let loaded = load_locked::<B>(tx, &self.stream, true).await.map_err(|e| match e {
                crate::runtime::RuntimeError::Store(s) => HookError::Store(s),
                other => HookError::Store(StoreError::Corrupt(other.to_string())),
            })?;
            let decided = B::decide(&loaded.state, &self.command, &self.context).map_err(|e| HookError::Refused {
                code: e.code(),
                detail: e.to_string(),
            })?;
            let new_events: Vec<NewEvent> = decided
                .iter()
                .map(|e| NewEvent::from_domain(e, &self.meta.metadata, self.meta.occurred_at))
                .collect();
            let state = decided.iter().fold(loaded.state, |s, e| B::evolve(s, e));
            let json =
                serde_json::to_value(&state).map_err(|e| HookError::Store(StoreError::Corrupt(e.to_string())))?;
            let appended = append_with_snapshots(
                tx,
                &[StreamAppend {
                    stream_id: self.stream.clone(),
                    expected: loaded.head,
                    events: new_events,
                }],
                &[SnapshotWrite {
                    state_schema: B::STATE_SCHEMA,
                    state: &json,
                }],
            )
            .await?;
            TxHook::<B>::apply(&InlineProjections, tx, &state, &appended.events).await
        })
    }
}
