//! The command runtime: load -> decide -> append (+ snapshot + inline hooks) in one transaction,
//! with bounded retries on version conflicts, serialization failures and deadlocks.
//!
//! Paths:
//! - `execute`: optimistic. Reads the snapshot without a lock; a concurrent writer makes the
//!   append conflict and the command is decided again on fresh state.
//! - `execute_new`: optimistic on a stream just named; reads nothing on the first try, and when
//!   its hooks allow, writes everything in one statement (`fused_first`), together with other
//!   new streams' appends waiting at the same time (`group.rs`).
//! - `execute_locked`: for hot streams. Takes the stream's lock (an advisory lock, with the
//!   snapshot read after it in the same round trip), so writers of one stream queue in
//!   PostgreSQL instead of conflicting and retrying.
//! - `execute_batch` (`batch.rs`): many commands on many streams in one transaction.
//!
//! Every path appends with the new snapshots through `append_with_states`.

mod batch;
pub mod group;
mod hooks;
mod load;
pub mod position;
mod retry;
pub mod writers;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use shareledger_domain::{Aggregate, DecodeError};
use sqlx::{PgConnection, PgPool};

use crate::store::{
    Cursor, EventMetadata, EventStore, FirstAppend, FusedFirst, NewEvent, SnapshotWrite, StoreError, StoredEvent,
    StreamAppend, StreamHead, append_with_snapshots,
};
use group::{GroupCommit, Reply};

pub use batch::{BatchItem, BatchOutcome};
pub use hooks::{EventsHook, Fused, HookError, TxHook};
pub use load::{Loaded, load, load_locked};
pub use retry::RetryPolicy;

/// Who asks, and when the decision is taken: stamped on every event of the command.
#[derive(Debug, Clone)]
pub struct CommandMeta {
    pub metadata: EventMetadata,
    pub occurred_at: DateTime<Utc>,
}

/// A command that was accepted (possibly producing no events).
#[derive(Debug, Clone)]
pub struct Executed<S> {
    /// The aggregate's state after the new events.
    pub state: S,
    /// The events appended, with their positions.
    pub events: Vec<StoredEvent>,
    /// The stream's head after the append.
    pub head: StreamHead,
    /// Tries it took (1 = no conflict).
    pub attempts: u32,
}

impl<S> Executed<S> {
    /// The catch-up cursor of the last appended event: what read-your-writes waits for.
    pub fn cursor(&self) -> Option<Cursor> {
        self.events.last().map(|e| e.cursor())
    }
}

/// A command that was refused: by the aggregate, or by an inline hook (e.g. a quota).
#[derive(Debug)]
pub enum Rejection<E> {
    Domain(E),
    Hook { code: &'static str, detail: String },
}

/// Infrastructure failure of a command (never a domain refusal).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stream stayed contended after {attempts} attempts")]
    Contention { attempts: u32 },
    #[error("a stored event cannot be decoded")]
    Decode(#[from] DecodeError),
    #[error("the aggregate state cannot be (de)serialized")]
    State(#[source] serde_json::Error),
}

impl From<crate::store::LogError> for RuntimeError {
    fn from(e: crate::store::LogError) -> Self {
        RuntimeError::Store(e.into())
    }
}

impl From<sqlx::Error> for RuntimeError {
    fn from(e: sqlx::Error) -> Self {
        RuntimeError::Store(e.into())
    }
}

/// Outcome of a command: `Err` for infrastructure, `Ok(Err)` for a refusal.
pub type CommandResult<A> =
    Result<Result<Executed<<A as Aggregate>::State>, Rejection<<A as Aggregate>::Error>>, RuntimeError>;

/// Runs commands against the store.
#[derive(Clone, Debug)]
pub struct Runtime {
    pool: PgPool,
    store: EventStore,
    retry: RetryPolicy,
    /// New streams' one-statement appends, written together (`group.rs`).
    group: Arc<GroupCommit>,
}

/// How a try loads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Without a lock; a concurrent writer makes the append conflict.
    Optimistic,
    /// Under the stream's lock.
    Locked,
    /// Not at all: the stream is new (checked by the append).
    New,
}

/// One try's result: retry, or a final answer.
enum Attempt<T> {
    Retry,
    Done(T),
}

/// One try of a command.
type Tried<A> = Attempt<Result<Executed<<A as Aggregate>::State>, Rejection<<A as Aggregate>::Error>>>;

impl Runtime {
    /// A runtime over this store with this retry policy.
    pub fn new(store: EventStore, retry: RetryPolicy) -> Self {
        Self {
            pool: store.pool().clone(),
            group: Arc::new(GroupCommit::new(store.pool())),
            store,
            retry,
        }
    }

    /// The store commands append to.
    pub fn store(&self) -> &EventStore {
        &self.store
    }

    /// The pool commands run on.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Optimistic execution (see the module docs).
    #[tracing::instrument(skip_all, fields(stream.id = %stream_id))]
    pub async fn execute<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
    ) -> CommandResult<A> {
        self.run::<A>(stream_id, command, context, meta, hooks, Mode::Optimistic)
            .await
    }

    /// Optimistic execution on a stream the caller just named (a fresh UUID): the first try
    /// decides on the empty state without reading anything; should the stream exist after all,
    /// the append conflicts and the retry loads it like `execute`.
    #[tracing::instrument(skip_all, fields(stream.id = %stream_id))]
    pub async fn execute_new<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
    ) -> CommandResult<A> {
        self.run::<A>(stream_id, command, context, meta, hooks, Mode::New).await
    }

    /// Execution under the stream's lock (see the module docs).
    #[tracing::instrument(skip_all, fields(stream.id = %stream_id))]
    pub async fn execute_locked<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
    ) -> CommandResult<A> {
        self.run::<A>(stream_id, command, context, meta, hooks, Mode::Locked)
            .await
    }

    async fn run<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
        mode: Mode,
    ) -> CommandResult<A> {
        let decided = self
            .retrying(|fresh, attempt| {
                // A new stream is assumed empty only on the first try.
                let mode = if mode == Mode::New && fresh {
                    Mode::Optimistic
                } else {
                    mode
                };
                let outcome = self.attempt::<A>(stream_id, command, context, meta, hooks, mode, fresh, attempt);
                async move {
                    Ok(match outcome.await? {
                        Attempt::Done(decided) => Some(decided),
                        Attempt::Retry => None,
                    })
                }
            })
            .await?;
        if let Ok(done) = &decided
            && let Some(cursor) = done.cursor()
        {
            self.store.committed();
            position::record(cursor);
        }
        Ok(decided)
    }

    /// Runs `attempt` (told whether to read fresh state, and its number) until it answers
    /// (`Some`): again after a conflict (`None`) or a retryable database error, with backoff, up
    /// to the policy's attempts; then `Contention`.
    async fn retrying<T, F>(&self, mut attempt: impl FnMut(bool, u32) -> F) -> Result<T, RuntimeError>
    where
        F: std::future::Future<Output = Result<Option<T>, RuntimeError>>,
    {
        let mut fresh = false;
        for n in 1..=self.retry.max_attempts {
            match attempt(fresh, n).await {
                Ok(Some(answer)) => return Ok(answer),
                Ok(None) => {}
                Err(RuntimeError::Store(e)) if e.is_retryable() => {}
                Err(e) => return Err(e),
            }
            fresh = true;
            self.retry.backoff(n).await;
        }
        Err(RuntimeError::Contention {
            attempts: self.retry.max_attempts,
        })
    }

    /// One try: load (locked or not), decide, append, commit.
    #[allow(clippy::too_many_arguments)]
    async fn attempt<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
        mode: Mode,
        fresh: bool,
        attempt: u32,
    ) -> Result<Tried<A>, RuntimeError> {
        let (mut tx, loaded) = match mode {
            Mode::Locked => {
                let mut tx = self.pool.begin().await?;
                let loaded = load_locked::<A>(&mut tx, stream_id, fresh).await?;
                (tx, loaded)
            }
            Mode::Optimistic => {
                let loaded = load::<A>(&self.pool, stream_id, fresh).await?;
                (self.pool.begin().await?, loaded)
            }
            Mode::New => {
                if let Some(answer) = self
                    .fused_first::<A>(stream_id, command, context, meta, hooks, attempt)
                    .await?
                {
                    return Ok(answer);
                }
                let empty = Loaded {
                    state: A::State::default(),
                    head: StreamHead::EMPTY,
                };
                (self.pool.begin().await?, empty)
            }
        };
        let outcome = self
            .decide_and_append::<A>(&mut tx, stream_id, loaded, command, context, meta, hooks, attempt)
            .await?;
        if let Attempt::Done(Ok(done)) = &outcome
            && !done.events.is_empty()
        {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// A new stream's command as one statement (`store::append_firsts_fused`): when it decides
    /// one event and every hook can join the append's statement (`TxHook::fused`), the event,
    /// its snapshot and the hooks' writes commit in one round trip, with no `BEGIN` or `COMMIT`,
    /// together with other new streams' appends waiting at the same time (`group.rs`).
    /// `None`: it cannot (more events, or a hook without a fused form); the transaction path
    /// runs instead.
    async fn fused_first<A: Aggregate>(
        &self,
        stream_id: &str,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
        attempt: u32,
    ) -> Result<Option<Tried<A>>, RuntimeError> {
        let decided = match A::decide(&A::State::default(), command, context) {
            Ok(events) => events,
            Err(e) => return Ok(Some(Attempt::Done(Err(Rejection::Domain(e))))),
        };
        let [event] = decided.as_slice() else {
            return Ok(None);
        };
        let append = StreamAppend {
            stream_id: stream_id.to_owned(),
            expected: StreamHead::EMPTY,
            events: vec![NewEvent::from_domain(event, &meta.metadata, meta.occurred_at)],
        };
        let Some(first) = FirstAppend::prepare(&append)? else {
            return Ok(None);
        };
        let state = A::evolve(A::State::default(), event);
        let (mut gate, mut writes) = (None, Vec::with_capacity(hooks.len()));
        for hook in hooks {
            match hook.fused(&state, first.events()) {
                Ok(Some(Fused::Write(write))) => writes.push(write),
                Ok(Some(Fused::Gate {
                    check,
                    key,
                    code,
                    detail,
                })) if gate.is_none() => gate = Some((check, key, code, detail)),
                Ok(_) => return Ok(None),
                Err(HookError::Refused { code, detail }) => {
                    return Ok(Some(Attempt::Done(Err(Rejection::Hook { code, detail }))));
                }
                Err(HookError::Store(e)) => return Err(e.into()),
            }
        }
        let (check, key, refusal) = match gate {
            Some((check, key, code, detail)) => (Some(check), Some(key), Some((code, detail))),
            None => (None, None, None),
        };
        let item = FusedFirst {
            first,
            state_schema: A::STATE_SCHEMA,
            state: serde_json::to_value(&state).map_err(RuntimeError::State)?,
            gate: check,
            writes,
        };
        match self.group.submit(item, key).await {
            Reply::Written(Some(outcome)) => Ok(Some(Attempt::Done(Ok(Executed {
                state,
                head: outcome.heads[0].1,
                events: outcome.events,
                attempts: attempt,
            })))),
            Reply::Written(None) => match refusal {
                Some((code, detail)) => Ok(Some(Attempt::Done(Err(Rejection::Hook { code, detail })))),
                None => Err(StoreError::Corrupt("an append without a gate was held back".into()).into()),
            },
            // The next try takes the transaction path, on its own (`run`).
            Reply::Again => Ok(Some(Attempt::Retry)),
            Reply::Failed(e) if e.is_retryable() => Ok(Some(Attempt::Retry)),
            Reply::Failed(e) => Err(e.into()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn decide_and_append<A: Aggregate>(
        &self,
        tx: &mut PgConnection,
        stream_id: &str,
        loaded: Loaded<A::State>,
        command: &A::Command,
        context: &A::Context,
        meta: &CommandMeta,
        hooks: &[&dyn TxHook<A>],
        attempt: u32,
    ) -> Result<Tried<A>, RuntimeError> {
        let decided = match A::decide(&loaded.state, command, context) {
            Ok(events) => events,
            Err(e) => return Ok(Attempt::Done(Err(Rejection::Domain(e)))),
        };
        if decided.is_empty() {
            return Ok(Attempt::Done(Ok(Executed {
                state: loaded.state,
                events: Vec::new(),
                head: loaded.head,
                attempts: attempt,
            })));
        }
        let new_events: Vec<NewEvent> = decided
            .iter()
            .map(|e| NewEvent::from_domain(e, &meta.metadata, meta.occurred_at))
            .collect();
        let append = StreamAppend {
            stream_id: stream_id.to_owned(),
            expected: loaded.head,
            events: new_events,
        };
        let state = decided.iter().fold(loaded.state, |s, e| A::evolve(s, e));
        let outcome = match append_and_apply::<A>(tx, &append, &state, hooks).await? {
            Written::Done(outcome) => outcome,
            Written::Retry => return Ok(Attempt::Retry),
            Written::Refused { code, detail } => return Ok(Attempt::Done(Err(Rejection::Hook { code, detail }))),
        };
        let head = outcome.heads[0].1;
        Ok(Attempt::Done(Ok(Executed {
            state,
            events: outcome.events,
            head,
            attempts: attempt,
        })))
    }
}

/// How the append and its hooks ended inside a command's transaction.
enum Written {
    Done(crate::store::AppendOutcome),
    /// A conflict or a retryable database error: try again on fresh state.
    Retry,
    Refused {
        code: &'static str,
        detail: String,
    },
}

/// Appends the events with the stream's new snapshot, then runs the hooks on them.
async fn append_and_apply<A: Aggregate>(
    tx: &mut PgConnection,
    append: &StreamAppend,
    state: &A::State,
    hooks: &[&dyn TxHook<A>],
) -> Result<Written, RuntimeError> {
    let state_json = serde_json::to_value(state).map_err(RuntimeError::State)?;
    let Some(outcome) =
        append_with_states::<A>(tx, std::slice::from_ref(append), std::slice::from_ref(&state_json)).await?
    else {
        return Ok(Written::Retry);
    };
    for hook in hooks {
        if let Some(stop) = after_hook(hook.apply(&mut *tx, state, &outcome.events).await)? {
            return Ok(stop);
        }
    }
    Ok(Written::Done(outcome))
}

/// Appends to the streams with each one's new state (`states[i]` for `appends[i]`) as its
/// snapshot: the step every command path shares, single or batched. `None`: a conflict or a
/// retryable database error, to try again on fresh state.
async fn append_with_states<A: Aggregate>(
    tx: &mut PgConnection,
    appends: &[StreamAppend],
    states: &[serde_json::Value],
) -> Result<Option<crate::store::AppendOutcome>, RuntimeError> {
    let snapshots: Vec<SnapshotWrite<'_>> = states
        .iter()
        .map(|state| SnapshotWrite {
            state_schema: A::STATE_SCHEMA,
            state,
        })
        .collect();
    match append_with_snapshots(tx, appends, &snapshots).await {
        Ok(outcome) => Ok(Some(outcome)),
        Err(e) if e.is_retryable() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What a hook's result means for the command: go on (`None`), or stop here.
fn after_hook(result: Result<(), HookError>) -> Result<Option<Written>, RuntimeError> {
    match result {
        Ok(()) => Ok(None),
        Err(HookError::Refused { code, detail }) => Ok(Some(Written::Refused { code, detail })),
        Err(HookError::Store(e)) if e.is_retryable() => Ok(Some(Written::Retry)),
        Err(HookError::Store(e)) => Err(e.into()),
    }
}
