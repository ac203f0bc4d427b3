//! Concurrent accesses, written together. While a transaction records accesses, the ones that
//! arrive queue here, whatever share they are for; the next transaction records all of them
//! (each share's lock once, one snapshot read, one append, one snapshot write, one counters
//! update, one commit: `Runtime::execute_batch`), each decided in order on the state the ones
//! before it on its share left, so limits stay exact. With one visitor at a time an access
//! still takes a transaction of its own, at once.

use std::collections::VecDeque;

use shareledger_domain::share::{Share, ShareCommand, ShareContext};
use tokio::sync::oneshot;

use crate::http::error::ApiError;
use crate::runtime::writers::{WriterQueue, write_batches};
use crate::runtime::{BatchItem, BatchOutcome, CommandMeta, Rejection, position};
use crate::service::hooks::InlineProjections;
use crate::state::AppState;
use crate::store::StoredEvent;

/// An access waiting for its transaction.
struct Pending {
    stream: String,
    command: ShareCommand,
    context: ShareContext,
    meta: CommandMeta,
    reply: oneshot::Sender<Result<Vec<StoredEvent>, ApiError>>,
}

/// Transactions writing accesses at once. More than one, so a transaction waiting on a lock
/// (another instance's writer, an owner's change) does not hold up every share; few, so the
/// accesses that arrive meanwhile queue and are written together.
const WRITERS: usize = 2;
/// The most accesses one transaction writes.
const MOST_PER_BATCH: usize = 256;

/// The queue of accesses, shared by every share.
pub struct Combiner {
    queue: WriterQueue<Pending>,
}

impl Default for Combiner {
    fn default() -> Self {
        Self {
            queue: WriterQueue::new(WRITERS),
        }
    }
}

/// Records an access to `stream` (with the inline projections) and returns its events: the
/// granted event, or the refusal event. The write runs in a task of its own, so a client that
/// goes away does not cancel it halfway for the others queued with it.
pub async fn record(
    state: &AppState,
    stream: String,
    command: ShareCommand,
    context: ShareContext,
    meta: CommandMeta,
) -> Result<Vec<StoredEvent>, ApiError> {
    let (reply, answer) = oneshot::channel();
    let pending = Pending {
        stream,
        command,
        context,
        meta,
        reply,
    };
    if state.combiner().queue.push(pending) {
        tokio::spawn(write(state.clone()));
    }
    let events = answer.await.unwrap_or_else(|_| {
        Err(ApiError::internal(anyhow::anyhow!(
            "the access's write task ended early"
        )))
    })?;
    // Read-your-writes: the position is this request's own event's, noted in its own task.
    if let Some(last) = events.last() {
        position::record(last.cursor());
    }
    Ok(events)
}

/// Writes the queue, batch after batch, until it is empty. (Boxed: it may start another
/// writer, the same future.)
fn write(state: AppState) -> futures_util::future::BoxFuture<'static, ()> {
    Box::pin(async move {
        let again = state.clone();
        write_batches(
            &state.combiner().queue,
            |pending: &mut VecDeque<Pending>| pending.drain(..pending.len().min(MOST_PER_BATCH)).collect(),
            |batch| write_all(&state, batch),
            move || {
                tokio::spawn(write(again));
            },
        )
        .await;
    })
}

/// Writes one batch and answers its accesses.
async fn write_all(state: &AppState, batch: Vec<Pending>) {
    match write_batch(state, &batch).await {
        Ok(outcomes) => answer(batch, outcomes),
        Err(e)
            if e.status != axum::http::StatusCode::SERVICE_UNAVAILABLE
                && batch.iter().any(|p| p.stream != batch[0].stream) =>
        {
            // Something about one share (a state that cannot be read, say) must not fail
            // the others': each share's accesses are written on their own. (Not when the
            // database is away: that would only fail each of them again, one by one.)
            let mut by_stream: Vec<Vec<Pending>> = Vec::new();
            for pending in batch {
                match by_stream.iter_mut().find(|group| group[0].stream == pending.stream) {
                    Some(group) => group.push(pending),
                    None => by_stream.push(vec![pending]),
                }
            }
            for group in by_stream {
                match write_batch(state, &group).await {
                    Ok(outcomes) => answer(group, outcomes),
                    Err(e) => fail(group, e),
                }
            }
        }
        Err(e) => fail(batch, e),
    }
}

async fn write_batch(state: &AppState, batch: &[Pending]) -> Result<Vec<BatchOutcome<Share>>, ApiError> {
    let items: Vec<BatchItem<'_, Share>> = batch
        .iter()
        .map(|p| BatchItem {
            stream_id: &p.stream,
            command: &p.command,
            context: &p.context,
            meta: &p.meta,
        })
        .collect();
    Ok(state
        .runtime()
        .execute_batch::<Share>(&items, &[&InlineProjections])
        .await?)
}

fn answer(batch: Vec<Pending>, outcomes: Vec<BatchOutcome<Share>>) {
    for (pending, outcome) in batch.into_iter().zip(outcomes) {
        let answer = outcome.map_err(|rejection| match rejection {
            Rejection::Hook { code, detail } => ApiError::new(axum::http::StatusCode::CONFLICT, code, detail),
            other => other.into(),
        });
        let _ = pending.reply.send(answer);
    }
}

fn fail(batch: Vec<Pending>, error: ApiError) {
    for pending in batch {
        let _ = pending.reply.send(Err(error.clone()));
    }
}
