//! Many commands, on one stream or on many, in one transaction: every stream's lock and
//! snapshot in one round trip, every event and snapshot written together (one statement for a
//! single event, else two), the hooks run once over all the events, one commit answering them
//! all. What concurrent
//! writers cost then grows with the transactions, not with the commands.
//!
//! Each command is decided in order on the state the commands before it (on its stream) left,
//! so limits stay exact. A refused command appends nothing and does not stop the others; a
//! hook's refusal refuses the whole batch.

use std::collections::HashMap;
use std::ops::Range;

use shareledger_domain::Aggregate;

use super::load::{Loaded, complete};
use super::{
    CommandMeta, EventsHook, Rejection, Runtime, RuntimeError, Written, after_hook, append_with_states, position,
};
use crate::store::{Cursor, NewEvent, StoredEvent, StreamAppend, lock_and_load_snapshots};

/// One command of a batch: the stream it is for, what it asks, the facts it is decided on,
/// and who asks.
pub struct BatchItem<'a, A: Aggregate> {
    pub stream_id: &'a str,
    pub command: &'a A::Command,
    pub context: &'a A::Context,
    pub meta: &'a CommandMeta,
}

/// One command's outcome in a batch: the events it appended (possibly none), or its refusal.
pub type BatchOutcome<A> = Result<Vec<StoredEvent>, Rejection<<A as Aggregate>::Error>>;

/// Where a decided command's events are (its stream's index, their range among that stream's
/// new events), or its refusal.
type Span<A> = Result<(usize, Range<usize>), Rejection<<A as Aggregate>::Error>>;

/// A try's answers and the position of its last event (`None`: retry).
type Tried<A> = Option<(Vec<BatchOutcome<A>>, Option<Cursor>)>;

impl Runtime {
    /// Runs the commands in one transaction under their streams' locks (see the module docs).
    #[tracing::instrument(skip_all, fields(batch = items.len()))]
    pub async fn execute_batch<A: Aggregate>(
        &self,
        items: &[BatchItem<'_, A>],
        hooks: &[&dyn EventsHook],
    ) -> Result<Vec<BatchOutcome<A>>, RuntimeError> {
        let (outcomes, cursor) = self
            .retrying(|fresh, _| self.batch_attempt::<A>(items, hooks, fresh))
            .await?;
        if let Some(cursor) = cursor {
            self.store.committed();
            position::record(cursor);
        }
        Ok(outcomes)
    }

    async fn batch_attempt<A: Aggregate>(
        &self,
        items: &[BatchItem<'_, A>],
        hooks: &[&dyn EventsHook],
        fresh: bool,
    ) -> Result<Tried<A>, RuntimeError> {
        let mut streams: Vec<&str> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for item in items {
            index.entry(item.stream_id).or_insert_with(|| {
                streams.push(item.stream_id);
                streams.len() - 1
            });
        }
        // Planned once per connection: the arrays' lengths change every batch (`begin_generic`).
        let mut tx = crate::db::begin_generic(&self.pool).await?;
        let mut snapshots = lock_and_load_snapshots(&mut *tx, &streams).await?;
        let mut loaded: Vec<Loaded<A::State>> = Vec::with_capacity(streams.len());
        for stream in &streams {
            loaded.push(complete::<A>(&mut *tx, stream, snapshots.remove(*stream), fresh).await?);
        }

        // Decide in order; each stream's new events, and each command's span of them.
        let mut decided: Vec<Vec<NewEvent>> = vec![Vec::new(); streams.len()];
        let mut spans: Vec<Span<A>> = Vec::with_capacity(items.len());
        for item in items {
            let k = index[item.stream_id];
            match A::decide(&loaded[k].state, item.command, item.context) {
                Ok(events) => {
                    let start = decided[k].len();
                    for event in &events {
                        decided[k].push(NewEvent::from_domain(event, &item.meta.metadata, item.meta.occurred_at));
                        let state = std::mem::take(&mut loaded[k].state);
                        loaded[k].state = A::evolve(state, event);
                    }
                    spans.push(Ok((k, start..decided[k].len())));
                }
                Err(e) => spans.push(Err(Rejection::Domain(e))),
            }
        }

        // The streams with new events, in order; where each one's events start in the append.
        let mut appends = Vec::new();
        let mut states = Vec::new();
        let mut starts: Vec<usize> = vec![0; streams.len()];
        let mut total = 0;
        for (k, events) in decided.into_iter().enumerate() {
            if events.is_empty() {
                continue;
            }
            starts[k] = total;
            total += events.len();
            states.push(serde_json::to_value(&loaded[k].state).map_err(RuntimeError::State)?);
            appends.push(StreamAppend {
                stream_id: streams[k].to_owned(),
                expected: loaded[k].head,
                events,
            });
        }
        if appends.is_empty() {
            let outcomes = spans.into_iter().map(|span| span.map(|_| Vec::new())).collect();
            return Ok(Some((outcomes, None)));
        }
        let outcome = match append_all::<A>(&mut tx, &appends, &states, hooks).await? {
            Written::Done(outcome) => outcome,
            Written::Retry => return Ok(None),
            Written::Refused { code, detail } => {
                let refused = items
                    .iter()
                    .map(|_| {
                        Err(Rejection::Hook {
                            code,
                            detail: detail.clone(),
                        })
                    })
                    .collect();
                return Ok(Some((refused, None)));
            }
        };
        tx.commit().await?;
        let cursor = outcome.last_cursor();
        let outcomes = spans
            .into_iter()
            .map(|span| span.map(|(k, range)| outcome.events[starts[k] + range.start..starts[k] + range.end].to_vec()))
            .collect();
        Ok(Some((outcomes, cursor)))
    }
}

/// Appends every stream's events with their snapshots, then runs the hooks on them all.
async fn append_all<A: Aggregate>(
    tx: &mut sqlx::PgConnection,
    appends: &[StreamAppend],
    states: &[serde_json::Value],
    hooks: &[&dyn EventsHook],
) -> Result<Written, RuntimeError> {
    let Some(outcome) = append_with_states::<A>(&mut *tx, appends, states).await? else {
        return Ok(Written::Retry);
    };
    for hook in hooks {
        if let Some(stop) = after_hook(hook.apply(&mut *tx, &outcome.events).await)? {
            return Ok(stop);
        }
    }
    Ok(Written::Done(outcome))
}
