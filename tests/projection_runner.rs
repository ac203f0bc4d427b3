//! The runner: exactly once across crashes, one active runner per projection, failover, and no
//! skipped event when transactions commit out of order.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shareledger::store::{EventMetadata, EventStore, NewEvent, StreamAppend, StreamHead, append_on};
use shareledger::testkit::TestDb;
use shareledger_projections::projection::{AuditIndex, Projection};
use shareledger_projections::runner::{Runner, RunnerStatus, Wait, step};
use shareledger_projections::{checkpoint, projection};
use sqlx::Connection;
use support::{catch_up, last_committed};

fn event(n: usize) -> NewEvent {
    NewEvent::new(
        "Counted",
        1,
        json!({ "n": n }),
        &EventMetadata::system("test"),
        Utc::now(),
    )
}

async fn append_many(store: &EventStore, streams: usize, each: usize) {
    for s in 0..streams {
        store
            .append(&[StreamAppend {
                stream_id: format!("stream-{s}-{}", uuid::Uuid::new_v4().simple()),
                expected: StreamHead::EMPTY,
                events: (0..each).map(event).collect(),
            }])
            .await
            .unwrap();
    }
}

async fn indexed(db: &TestDb) -> (i64, i64) {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_index")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    (rows, events)
}

#[tokio::test]
async fn a_runner_that_dies_mid_batch_catches_up_after_restart_with_every_event_applied_once() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    append_many(&store, 10, 5).await;
    // A runner applies a batch, then dies before committing it.
    {
        let mut conn = db.connection().await;
        let mut tx = conn.begin().await.unwrap();
        let at = checkpoint::load(&mut *tx, "audit_index", false).await.unwrap();
        let events = shareledger_projections::log::read_all(&mut *tx, at.cursor, 30)
            .await
            .unwrap();
        AuditIndex.apply(&mut tx, &events).await.unwrap();
        drop(tx);
        drop(conn);
    }
    assert_eq!(indexed(&db).await.0, 0, "nothing of the dead runner's batch remains");
    // After restart, a runner catches up; events appended meanwhile are picked up too.
    let mut conn = db.connection().await;
    step(&mut conn, &AuditIndex, 20).await.unwrap();
    append_many(&store, 3, 2).await;
    catch_up(&db).await;
    let (rows, events) = indexed(&db).await;
    assert_eq!(rows, events);
    let positions: i64 = sqlx::query_scalar("SELECT count(DISTINCT global_position) FROM audit_index")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(positions, events, "no event applied twice");
    let cp = checkpoint::load(&db.pool, "audit_index", false).await.unwrap();
    assert_eq!(cp.events_applied, events);
}

struct Poll;

impl Wait for Poll {
    fn wait(&mut self) -> futures_util::future::BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(Duration::from_millis(30)))
    }
}

fn runner(db: &TestDb) -> (Runner, Arc<Mutex<RunnerStatus>>) {
    let status = Arc::new(Mutex::new(RunnerStatus::default()));
    (
        Runner {
            projection: projection::find("audit_index").unwrap(),
            connect: db.connect.clone(),
            batch: 7,
            gather: Duration::from_millis(10),
            standby_poll: Duration::from_millis(50),
            status: status.clone(),
        },
        status,
    )
}

async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn only_one_of_two_runners_applies_and_the_other_takes_over_when_it_dies() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    append_many(&store, 5, 4).await;
    let (first, first_status) = runner(&db);
    let first_task = tokio::spawn(first.run(Box::new(Poll)));
    wait_for("the first runner to be active", async || {
        first_status.lock().unwrap().state == "active"
    })
    .await;
    let (second, second_status) = runner(&db);
    let second_task = tokio::spawn(second.run(Box::new(Poll)));
    wait_for("the second runner to stand by", async || {
        second_status.lock().unwrap().state == "standby"
    })
    .await;
    wait_for("the first runner to catch up", async || indexed(&db).await.0 == 20).await;
    assert_eq!(second_status.lock().unwrap().events, 0, "the standby applied nothing");

    // The active runner dies (its connection, and with it the lock, goes away).
    first_task.abort();
    let _ = first_task.await;
    append_many(&store, 4, 3).await;
    wait_for("the standby to take over", async || {
        second_status.lock().unwrap().state == "active"
    })
    .await;
    let target = last_committed(&db.pool).await;
    wait_for("the standby to apply the new events", async || {
        checkpoint::load(&db.pool, "audit_index", false).await.unwrap().cursor >= target
    })
    .await;
    let (rows, events) = indexed(&db).await;
    assert_eq!(rows, events);
    assert_eq!(second_status.lock().unwrap().events, 12);
    second_task.abort();
}

#[tokio::test]
async fn transactions_committing_out_of_order_never_make_the_projection_skip_an_event() {
    let db = TestDb::with_pool_size(20).await;
    let (runner, _) = runner(&db);
    let task = tokio::spawn(runner.run(Box::new(Poll)));
    let mut writers = Vec::new();
    for w in 0..6 {
        let pool = db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut head = StreamHead::EMPTY;
            for i in 0..20 {
                let mut conn = pool.acquire().await.unwrap();
                let mut tx = conn.begin().await.unwrap();
                let outcome = append_on(
                    &mut tx,
                    &[StreamAppend {
                        stream_id: format!("w-{w}"),
                        expected: head,
                        events: vec![event(i)],
                    }],
                )
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(rand::random_range(0..12))).await;
                tx.commit().await.unwrap();
                head = outcome.heads[0].1;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let target = last_committed(&db.pool).await;
    wait_for("the runner to catch up", async || {
        checkpoint::load(&db.pool, "audit_index", false).await.unwrap().cursor >= target
    })
    .await;
    let (rows, events) = indexed(&db).await;
    assert_eq!((rows, events), (120, 120), "every event indexed, none skipped");
    task.abort();
}
