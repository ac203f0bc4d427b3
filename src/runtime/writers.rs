//! A queue of jobs written batch after batch by a few writer tasks: what the accesses'
//! combiner (`service::recipient::combine`) and the creates' group commit (`group.rs`) share.
//!
//! A job is queued (`WriterQueue::push`); when fewer than the most writers run, the caller
//! starts one, which runs `write_batches` until nothing waits. At low load a job does not
//! wait: the first one starts a writer at once. The writers run in tasks of their own, so a
//! client that goes away cannot cancel a batch halfway for the others in it.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

/// The waiting jobs and how many writers run.
pub struct WriterQueue<J> {
    state: Mutex<State<J>>,
    most_writers: usize,
}

struct State<J> {
    waiting: VecDeque<J>,
    writers: usize,
}

impl<J> WriterQueue<J> {
    /// A queue written by at most `most_writers` writers at once.
    pub fn new(most_writers: usize) -> Self {
        Self {
            state: Mutex::new(State {
                waiting: VecDeque::new(),
                writers: 0,
            }),
            most_writers,
        }
    }

    fn state(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `job`. `true`: the caller is to start a writer (`write_batches`), counted as
    /// running from now.
    #[must_use]
    pub fn push(&self, job: J) -> bool {
        let mut state = self.state();
        state.waiting.push_back(job);
        claim_writer(&mut state, self.most_writers)
    }
}

/// Whether a writer is wanted (jobs wait and fewer than the most run); if so it counts from now.
fn claim_writer<J>(state: &mut State<J>, most_writers: usize) -> bool {
    let wanted = !state.waiting.is_empty() && state.writers < most_writers;
    if wanted {
        state.writers += 1;
    }
    wanted
}

/// A writer: takes a batch (`take` picks it from the waiting jobs, at least one while any
/// wait) and writes it, until `take` finds none. Should it panic, it no longer counts as running, and when
/// jobs still wait `restart` starts another writer for them (the panicking batch's jobs are
/// dropped, so their requests get an error).
pub async fn write_batches<J, T, W, F>(queue: &WriterQueue<J>, take: T, mut write: W, restart: impl FnOnce())
where
    T: Fn(&mut VecDeque<J>) -> Vec<J>,
    W: FnMut(Vec<J>) -> F,
    F: Future<Output = ()>,
{
    let mut leave = Leave {
        queue,
        restart: Some(restart),
    };
    loop {
        let batch = {
            let mut state = queue.state();
            let batch = take(&mut state.waiting);
            if batch.is_empty() {
                state.writers -= 1;
                leave.restart = None;
                return;
            }
            batch
        };
        write(batch).await;
    }
}

/// Counts a writer out if it ends without having done so itself (a panic), and restarts one.
struct Leave<'a, J, R: FnOnce()> {
    queue: &'a WriterQueue<J>,
    restart: Option<R>,
}

impl<J, R: FnOnce()> Drop for Leave<'_, J, R> {
    fn drop(&mut self) {
        let Some(restart) = self.restart.take() else {
            return;
        };
        let again = {
            let mut state = self.queue.state();
            state.writers -= 1;
            claim_writer(&mut state, self.queue.most_writers)
        };
        if again {
            restart();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn a_writer_is_wanted_only_while_fewer_than_the_most_run() {
        let queue = WriterQueue::new(2);
        assert!(queue.push(1));
        assert!(queue.push(2));
        assert!(!queue.push(3), "two run already");
    }

    #[tokio::test]
    async fn a_writer_takes_batches_until_nothing_waits_and_then_counts_itself_out() {
        let queue = WriterQueue::new(1);
        for job in 0..5 {
            let _ = queue.push(job);
        }
        let mut written = Vec::new();
        let take_two = |waiting: &mut VecDeque<i32>| waiting.drain(..waiting.len().min(2)).collect();
        write_batches(
            &queue,
            take_two,
            |batch| {
                written.push(batch);
                std::future::ready(())
            },
            || panic!("no restart without a panic"),
        )
        .await;
        assert_eq!(written, vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert!(queue.push(5), "the writer counted itself out");
    }

    #[tokio::test]
    async fn a_writer_that_panics_is_counted_out_and_restarted_for_the_jobs_left() {
        let queue = Arc::new(WriterQueue::new(1));
        for job in 0..3 {
            let _ = queue.push(job);
        }
        let restarts = Arc::new(AtomicUsize::new(0));
        let (q, r) = (queue.clone(), restarts.clone());
        let task = tokio::spawn(async move {
            write_batches(
                &q,
                |waiting: &mut VecDeque<i32>| waiting.drain(..1).collect(),
                |_| async { panic!("the write fails") },
                move || {
                    r.fetch_add(1, Ordering::SeqCst);
                },
            )
            .await
        });
        assert!(task.await.is_err(), "it panicked");
        assert_eq!(restarts.load(Ordering::SeqCst), 1, "two jobs still wait");
        assert!(!queue.push(3), "the restarted writer counts as running");
    }
}
