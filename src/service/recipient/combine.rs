//! Concurrent accesses to one share, written together. While one transaction records an access
//! under the share's lock, the accesses that arrive queue here; the next transaction records all
//! of them (one lock, one snapshot read, one append, one counters update, one commit), each
//! decided in order on the state the ones before it left, so limits stay exact. A share with one
//! visitor at a time still takes one transaction per access.

use std::collections::HashMap;
use std::sync::Mutex;

use shareledger_domain::share::{Share, ShareCommand, ShareContext};
use tokio::sync::oneshot;

use crate::http::error::ApiError;
use crate::runtime::{BatchItem, CommandMeta, Rejection, position};
use crate::service::hooks::InlineProjections;
use crate::state::AppState;
use crate::store::StoredEvent;

/// An access waiting for its transaction.
struct Pending {
    command: ShareCommand,
    context: ShareContext,
    meta: CommandMeta,
    reply: oneshot::Sender<Result<Vec<StoredEvent>, ApiError>>,
}

/// The queues, by share stream. A stream has an entry while a writer task is draining it.
#[derive(Default)]
pub struct Combiner {
    queues: Mutex<HashMap<String, Vec<Pending>>>,
}

impl Combiner {
    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<Pending>>> {
        self.queues.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
        command,
        context,
        meta,
        reply,
    };
    let lead = {
        let mut queues = state.combiner().queues();
        match queues.get_mut(&stream) {
            Some(queue) => {
                queue.push(pending);
                false
            }
            None => {
                queues.insert(stream.clone(), vec![pending]);
                true
            }
        }
    };
    if lead {
        tokio::spawn(drain(state.clone(), stream));
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

/// Writes the stream's queue, batch after batch, until it is empty.
async fn drain(state: AppState, stream: String) {
    let mut guard = Leave {
        state: &state,
        stream: &stream,
        done: false,
    };
    loop {
        let batch = {
            let mut queues = state.combiner().queues();
            let batch = queues.get_mut(&stream).map(std::mem::take).unwrap_or_default();
            if batch.is_empty() {
                queues.remove(&stream);
            }
            batch
        };
        if batch.is_empty() {
            guard.done = true;
            return;
        }
        let items: Vec<BatchItem<'_, Share>> = batch
            .iter()
            .map(|p| BatchItem {
                command: &p.command,
                context: &p.context,
                meta: &p.meta,
            })
            .collect();
        let written = state
            .runtime()
            .execute_locked_batch::<Share>(&stream, &items, &[&InlineProjections])
            .await;
        drop(items);
        match written {
            Ok(outcomes) => {
                for (pending, outcome) in batch.into_iter().zip(outcomes) {
                    let answer = outcome.map_err(|rejection| match rejection {
                        Rejection::Hook { code, detail } => {
                            ApiError::new(axum::http::StatusCode::CONFLICT, code, detail)
                        }
                        other => other.into(),
                    });
                    let _ = pending.reply.send(answer);
                }
            }
            Err(e) => {
                let error = ApiError::from(e);
                for pending in batch {
                    let _ = pending.reply.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Should a writer task panic, its stream's queue goes with it (the waiting requests get an
/// error) instead of staying behind with no writer.
struct Leave<'a> {
    state: &'a AppState,
    stream: &'a str,
    done: bool,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.state.combiner().queues().remove(self.stream);
        }
    }
}
