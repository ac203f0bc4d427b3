//! Group commit of new streams' first appends (`Runtime::execute_new`'s one statement).
//!
//! A create is one statement (`store::append_firsts_fused`), so its own cost is small next to
//! the round trip, the statement's start and the commit. Appends that arrive while others are
//! being written wait and then go together, up to `MAX_BATCH` in one statement (one round trip,
//! one commit), with at most `MAX_WRITERS` statements in flight. At low load nothing waits: the
//! first append starts a writer at once.
//!
//! The writers have their own connections (`MAX_WRITERS` of them, opened when first needed) on
//! generic plans (`db::generic_plan_pool`): a statement of `n` appends is planned once per
//! connection and then reused. Spread over the shared pool, each statement shape (1 to 16
//! appends) was prepared on every connection and PostgreSQL planned it anew on nearly every
//! call (`pg_stat_statements`: 417 plans in 827 calls of the smallest, planning as long as
//! executing).
//!
//! Each append still gets its own event and its own answer, and none is answered before the
//! statement that wrote it committed. Its gate (a daily quota) decides for it alone; two gates
//! on the same row never share a statement (a row can change only once per statement), and the
//! gates of one statement take their rows in key order, so two statements never wait on each
//! other in a cycle. Should a statement of several appends fail, each of them is answered
//! `Reply::Again` and its command tried again on the transaction path, on its own: one bad
//! append never fails the others.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use tokio::sync::oneshot;

use super::writers::{WriterQueue, write_batches};
use crate::store::{AppendOutcome, FusedFirst, StoreError, append_firsts_fused};

/// The most appends written in one statement.
pub const MAX_BATCH: usize = 16;
/// The most statements in flight at once.
pub const MAX_WRITERS: usize = 2;

/// What became of one append.
#[derive(Debug)]
pub enum Reply {
    /// Written (`None`: its gate returned no row; nothing of it was written).
    Written(Option<AppendOutcome>),
    /// Its statement (of this append alone) failed.
    Failed(StoreError),
    /// A statement of several appends failed and wrote nothing: try the command again.
    Again,
}

/// One append waiting to be written.
struct Job {
    item: FusedFirst,
    /// The row its gate changes (`None`: no gate).
    key: Option<String>,
    reply: oneshot::Sender<Reply>,
}

/// The waiting appends and the writers' connections.
pub struct GroupCommit {
    pool: PgPool,
    queue: WriterQueue<Job>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Writers on their own connections to the database of `pool`.
    pub fn new(pool: &PgPool) -> Self {
        Self {
            pool: crate::db::generic_plan_pool(pool, MAX_WRITERS as u32),
            queue: WriterQueue::new(MAX_WRITERS),
        }
    }

    /// Writes `item` with whatever else is waiting, and answers once that is committed.
    pub async fn submit(self: &Arc<Self>, item: FusedFirst, key: Option<String>) -> Reply {
        let (reply, answer) = oneshot::channel();
        if self.queue.push(Job { item, key, reply }) {
            tokio::spawn(self.clone().write());
        }
        answer
            .await
            .unwrap_or_else(|_| Reply::Failed(StoreError::Corrupt("the group commit writer stopped".into())))
    }

    /// A writer: one statement per batch until nothing waits. (Boxed: it may start another
    /// writer, the same future.)
    fn write(self: Arc<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let again = self.clone();
            write_batches(
                &self.queue,
                take_batch,
                |batch| self.write_batch(batch),
                move || {
                    tokio::spawn(again.write());
                },
            )
            .await;
        })
    }

    async fn write_batch(&self, batch: Vec<Job>) {
        let several = batch.len() > 1;
        let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().map(|job| (job.item, job.reply)).unzip();
        let written = async {
            let mut conn = self.pool.acquire().await?;
            append_firsts_fused(&mut conn, items).await
        };
        match written.await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(Reply::Written(outcome));
                }
            }
            Err(_) if several => {
                for reply in replies {
                    let _ = reply.send(Reply::Again);
                }
            }
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Reply::Failed(e));
                }
            }
        }
    }
}

/// Up to `MAX_BATCH` waiting jobs, oldest first, no two with the same key (a later one waits
/// for the next batch), ordered by key; the rest stay in order.
fn take_batch(waiting: &mut VecDeque<Job>) -> Vec<Job> {
    let mut batch: Vec<Job> = Vec::new();
    let mut rest = VecDeque::with_capacity(waiting.len());
    while let Some(job) = waiting.pop_front() {
        let clash = job.key.is_some() && batch.iter().any(|b| b.key == job.key);
        if batch.len() < MAX_BATCH && !clash {
            batch.push(job);
        } else {
            rest.push_back(job);
        }
    }
    *waiting = rest;
    batch.sort_by(|a, b| a.key.cmp(&b.key));
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(jobs: &[Job]) -> Vec<Option<&str>> {
        jobs.iter().map(|j| j.key.as_deref()).collect()
    }

    fn job(key: Option<&str>) -> Job {
        // `take_batch` never looks at the item; an empty one would not be written anyway.
        let (reply, _) = oneshot::channel();
        let event = crate::store::NewEvent {
            event_id: uuid::Uuid::now_v7(),
            event_type: "Tested".into(),
            schema_version: 1,
            payload: serde_json::json!({}),
            metadata: serde_json::json!({}),
            occurred_at: chrono::Utc::now(),
        };
        let append = crate::store::StreamAppend {
            stream_id: format!("t-{}", uuid::Uuid::now_v7()),
            expected: crate::store::StreamHead::EMPTY,
            events: vec![event],
        };
        let first = crate::store::FirstAppend::prepare(&append).unwrap().unwrap();
        Job {
            item: FusedFirst {
                first,
                state_schema: 1,
                state: serde_json::json!({}),
                gate: None,
                writes: Vec::new(),
            },
            key: key.map(str::to_owned),
            reply,
        }
    }

    #[test]
    fn a_batch_never_holds_one_key_twice_and_takes_its_rows_in_key_order() {
        let mut waiting: VecDeque<Job> = [Some("b"), Some("a"), None, Some("b"), Some("c"), Some("a"), None]
            .into_iter()
            .map(job)
            .collect();
        let batch = take_batch(&mut waiting);
        assert_eq!(keys(&batch), [None, None, Some("a"), Some("b"), Some("c")]);
        assert_eq!(
            keys(waiting.make_contiguous()),
            [Some("b"), Some("a")],
            "the rest, in order"
        );
        let batch = take_batch(&mut waiting);
        assert_eq!(keys(&batch), [Some("a"), Some("b")]);
        assert!(waiting.is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_max_batch() {
        let mut waiting: VecDeque<Job> = (0..MAX_BATCH + 3).map(|_| job(None)).collect();
        assert_eq!(take_batch(&mut waiting).len(), MAX_BATCH);
        assert_eq!(waiting.len(), 3);
    }
}
