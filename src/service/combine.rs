//! Concurrent commands of one kind, written together. While a transaction writes them, the
//! ones that arrive queue here, whatever share they are for; the next transaction writes all of
//! them (each share's lock once, one snapshot read, one append, one snapshot write, one statement
//! per projection, one commit: `Runtime::execute_batch`), each decided in order on the state the
//! ones before it on its share left, so limits stay exact. With one request at a time a command
//! still takes a transaction of its own, at once.
//!
//! Two kinds use it: recipients' accesses (`recipient::access`) and owners' creates
//! (`shares::creates`); a `Kind` says where its queue is and how a batch of it is written.

use std::collections::VecDeque;
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use shareledger_domain::share::{Share, ShareCommand, ShareContext};
use tokio::sync::oneshot;

use crate::http::error::ApiError;
use crate::runtime::{BatchItem, BatchOutcome, CommandMeta, position};
use crate::state::AppState;

/// A kind of command written in batches.
pub trait Kind: Send + Sync + Sized + 'static {
    /// What a command of this kind carries besides the command (e.g. a new share's secrets).
    type Extra: Send + Sync + 'static;

    /// This kind's queue.
    fn combiner(state: &AppState) -> &Combiner<Self>;

    /// Writes the commands in one transaction (or more, should one refuse them all): one
    /// outcome per command, in order.
    fn write<'a>(
        state: &'a AppState,
        batch: &'a [Pending<Self::Extra>],
    ) -> BoxFuture<'a, Result<Vec<BatchOutcome<Share>>, ApiError>>;
}

/// A command waiting for its transaction.
pub struct Pending<X> {
    pub stream: String,
    pub command: ShareCommand,
    pub context: ShareContext,
    pub meta: CommandMeta,
    pub extra: X,
    reply: oneshot::Sender<Result<BatchOutcome<Share>, ApiError>>,
}

impl<X> Pending<X> {
    /// The batch item of this command.
    pub fn item(&self) -> BatchItem<'_, Share> {
        BatchItem {
            stream_id: &self.stream,
            command: &self.command,
            context: &self.context,
            meta: &self.meta,
        }
    }
}

/// Transactions writing one kind at once. More than one, so a transaction waiting on a lock
/// (another instance's writer, an owner's change) does not hold up every share; few, so the
/// commands that arrive meanwhile queue and are written together.
const WRITERS: usize = 2;
/// The most commands one transaction writes.
const MOST_PER_BATCH: usize = 256;

/// The commands waiting, and how many writer tasks are running.
struct Queue<X> {
    pending: VecDeque<Pending<X>>,
    writers: usize,
}

impl<X> Queue<X> {
    /// Whether a new writer task is wanted (commands wait and fewer than `WRITERS` run); if
    /// so, it is counted as running from now.
    fn claim_writer(&mut self) -> bool {
        let wanted = !self.pending.is_empty() && self.writers < WRITERS;
        if wanted {
            self.writers += 1;
        }
        wanted
    }
}

/// The queue of one kind, shared by every share.
pub struct Combiner<K: Kind> {
    queue: Mutex<Queue<K::Extra>>,
}

impl<K: Kind> Default for Combiner<K> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                pending: VecDeque::new(),
                writers: 0,
            }),
        }
    }
}

impl<K: Kind> Combiner<K> {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue<K::Extra>> {
        self.queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Writes a command on `stream` with the others queued beside it and returns its outcome: its
/// events, or its refusal. The write runs in a task of its own, so a client that goes away
/// does not cancel it halfway for the others queued with it.
pub async fn record<K: Kind>(
    state: &AppState,
    stream: String,
    command: ShareCommand,
    context: ShareContext,
    meta: CommandMeta,
    extra: K::Extra,
) -> Result<BatchOutcome<Share>, ApiError> {
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        stream,
        command,
        context,
        meta,
        extra,
        reply,
    };
    let start = {
        let mut queue = K::combiner(state).queue();
        queue.pending.push_back(pending);
        queue.claim_writer()
    };
    if start {
        tokio::spawn(write::<K>(state.clone()));
    }
    let outcome = answer.await.unwrap_or_else(|_| {
        Err(ApiError::internal(anyhow::anyhow!(
            "the command's write task ended early"
        )))
    })?;
    // Read-your-writes: the position is this request's own event's, noted in its own task.
    if let Ok(events) = &outcome
        && let Some(last) = events.last()
    {
        position::record(last.cursor());
    }
    Ok(outcome)
}

/// Writes the queue, batch after batch, until it is empty.
async fn write<K: Kind>(state: AppState) {
    let mut guard = Leave::<K> {
        state: &state,
        done: false,
        kind: std::marker::PhantomData,
    };
    loop {
        let batch: Vec<Pending<K::Extra>> = {
            let mut queue = K::combiner(&state).queue();
            let n = queue.pending.len().min(MOST_PER_BATCH);
            if n == 0 {
                queue.writers -= 1;
                guard.done = true;
                return;
            }
            queue.pending.drain(..n).collect()
        };
        match K::write(&state, &batch).await {
            Ok(outcomes) => answer(batch, outcomes),
            Err(e)
                if e.status != axum::http::StatusCode::SERVICE_UNAVAILABLE
                    && batch.iter().any(|p| p.stream != batch[0].stream) =>
            {
                // Something about one share (a state that cannot be read, say) must not fail
                // the others': each share's commands are written on their own. (Not when the
                // database is away: that would only fail each of them again, one by one.)
                let mut by_stream: Vec<Vec<Pending<K::Extra>>> = Vec::new();
                for pending in batch {
                    match by_stream.iter_mut().find(|group| group[0].stream == pending.stream) {
                        Some(group) => group.push(pending),
                        None => by_stream.push(vec![pending]),
                    }
                }
                for group in by_stream {
                    match K::write(&state, &group).await {
                        Ok(outcomes) => answer(group, outcomes),
                        Err(e) => fail(group, e),
                    }
                }
            }
            Err(e) => fail(batch, e),
        }
    }
}

fn answer<X>(batch: Vec<Pending<X>>, outcomes: Vec<BatchOutcome<Share>>) {
    for (pending, outcome) in batch.into_iter().zip(outcomes) {
        let _ = pending.reply.send(Ok(outcome));
    }
}

fn fail<X>(batch: Vec<Pending<X>>, error: ApiError) {
    for pending in batch {
        let _ = pending.reply.send(Err(error.clone()));
    }
}

/// Should a writer task panic (its batch's requests then get an error), it no longer counts as
/// running, and the commands queued behind it get a writer.
struct Leave<'a, K: Kind> {
    state: &'a AppState,
    done: bool,
    kind: std::marker::PhantomData<K>,
}

impl<K: Kind> Drop for Leave<'_, K> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let restart = {
            let mut queue = K::combiner(self.state).queue();
            queue.writers -= 1;
            queue.claim_writer()
        };
        if restart {
            tokio::spawn(write::<K>(self.state.clone()));
        }
    }
}
