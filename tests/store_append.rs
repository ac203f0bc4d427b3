//! The event store's append guarantees, against a real PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use serde_json::json;
use shareledger::store::verify::{ChainProblemKind, verify_chains};
use shareledger::store::{
    EventMetadata, EventStore, NewEvent, StoreError, StreamAppend, StreamHead, read_stream, stream_head,
};
use shareledger::testkit::TestDb;

fn event(n: i64) -> NewEvent {
    NewEvent::new(
        "Counted",
        1,
        json!({ "n": n }),
        &EventMetadata::system("test"),
        Utc::now(),
    )
}

fn append(stream: &str, expected: StreamHead, events: Vec<NewEvent>) -> StreamAppend {
    StreamAppend {
        stream_id: stream.to_owned(),
        expected,
        events,
    }
}

#[tokio::test]
async fn appends_chain_each_event_to_its_predecessor() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let first = store
        .append(&[append("s-1", StreamHead::EMPTY, vec![event(1), event(2)])])
        .await
        .unwrap();
    let head = first.heads[0].1;
    store.append(&[append("s-1", head, vec![event(3)])]).await.unwrap();
    let events = store.read_stream("s-1", 0).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(events[0].prev_hash, [0u8; 32]);
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(events[2].prev_hash, events[1].hash);
    assert!(events.windows(2).all(|w| w[0].global_position < w[1].global_position));
    assert!(verify_chains(&db.pool, |_| {}).await.unwrap().is_intact());
}

#[tokio::test]
async fn the_same_event_id_appended_twice_is_stored_once() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let batch = [append("s-1", StreamHead::EMPTY, vec![event(1)])];
    let first = store.append(&batch).await.unwrap();
    assert!(!first.already_stored);
    let retry = store.append(&batch).await.unwrap();
    assert!(retry.already_stored, "a retry of the same event ids is recognised");
    assert_eq!(retry.events[0].global_position, first.events[0].global_position);
    assert_eq!(retry.heads, first.heads);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn a_multi_stream_append_with_one_stale_expected_version_stores_nothing() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let a = store
        .append(&[append("a", StreamHead::EMPTY, vec![event(1)])])
        .await
        .unwrap()
        .heads[0]
        .1;
    store
        .append(&[append("b", StreamHead::EMPTY, vec![event(1)])])
        .await
        .unwrap();
    // b is at version 1, but the writer still believes it is empty.
    let err = store
        .append(&[
            append("a", a, vec![event(2)]),
            append("b", StreamHead::EMPTY, vec![event(2)]),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(stream_head(&db.pool, "a").await.unwrap(), a, "a is unchanged");
    assert_eq!(stream_head(&db.pool, "b").await.unwrap().version, 1);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn a_multi_stream_append_is_atomic_and_positions_follow_the_given_order() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let outcome = store
        .append(&[
            append("share-1", StreamHead::EMPTY, vec![event(1), event(2)]),
            append("quota-1", StreamHead::EMPTY, vec![event(3)]),
        ])
        .await
        .unwrap();
    let positions: Vec<i64> = outcome.events.iter().map(|e| e.global_position).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    assert!(
        outcome.events.iter().all(|e| e.tx_id == outcome.events[0].tx_id),
        "one transaction"
    );
    assert_eq!(outcome.heads[0].1.version, 2);
    assert_eq!(outcome.heads[1].1.version, 1);
}

#[tokio::test]
async fn a_wrong_expected_hash_is_refused_even_when_the_version_matches() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let head = store
        .append(&[append("s", StreamHead::EMPTY, vec![event(1)])])
        .await
        .unwrap()
        .heads[0]
        .1;
    let forged = StreamHead {
        version: head.version,
        hash: [9; 32],
    };
    let err = store.append(&[append("s", forged, vec![event(2)])]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }));
    let skipping = StreamHead {
        version: 5,
        hash: head.hash,
    };
    let err = store
        .append(&[append("s", skipping, vec![event(2)])])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "no version can be skipped");
}

#[tokio::test]
async fn concurrent_writers_on_one_stream_append_every_version_once_and_never_fork_the_chain() {
    let db = TestDb::with_pool_size(20).await;
    let store = EventStore::new(db.pool.clone());
    let appended = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let mut tasks = Vec::new();
    for writer in 0..12 {
        let store = store.clone();
        let appended = appended.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for i in 0..25 {
                loop {
                    let head = store.stream_head("hot").await.unwrap();
                    match store
                        .append(&[append("hot", head, vec![event(writer * 1000 + i)])])
                        .await
                    {
                        Ok(_) => {
                            appended.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            break;
                        }
                        Err(StoreError::Conflict { .. }) => conflicts += 1,
                        Err(e) => panic!("unexpected error: {e:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    assert!(conflicts > 0, "the writers really did race");
    let events = read_stream(&db.pool, "hot", 0).await.unwrap();
    assert_eq!(events.len(), 300);
    assert_eq!(appended.load(std::sync::atomic::Ordering::SeqCst), 300);
    let versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
    assert_eq!(versions, (1..=300).collect::<Vec<_>>(), "every version once, no gaps");
    let payloads: BTreeSet<String> = events.iter().map(|e| e.payload.to_string()).collect();
    assert_eq!(payloads.len(), 300, "no event recorded twice");
    for pair in events.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash, "the chain never forks");
    }
    assert!(verify_chains(&db.pool, |_| {}).await.unwrap().is_intact());
}

#[tokio::test]
async fn update_delete_and_truncate_on_events_are_refused() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[append("s", StreamHead::EMPTY, vec![event(1)])])
        .await
        .unwrap();
    for sql in [
        "UPDATE events SET payload = '{}'",
        "DELETE FROM events",
        "DELETE FROM events WHERE false",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(sql).execute(&db.pool).await.unwrap_err();
        let db_err = err.as_database_error().expect("a database error");
        assert_eq!(db_err.code().as_deref(), Some("SL001"), "{sql}: {db_err}");
        assert!(db_err.message().contains("append-only"), "{sql}: {db_err}");
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn the_chain_verifier_detects_a_modified_payload() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[append("s", StreamHead::EMPTY, vec![event(1), event(2), event(3)])])
        .await
        .unwrap();
    db.tamper("UPDATE events SET payload = '{\"n\": 200}' WHERE stream_version = 2")
        .await;
    let report = verify_chains(&db.pool, |_| {}).await.unwrap();
    assert_eq!(report.events, 3);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].stream_version, 2);
    assert_eq!(report.problems[0].kind, ChainProblemKind::ContentChanged);
}

#[tokio::test]
async fn the_chain_verifier_detects_a_deleted_event_and_a_rewritten_order() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[append("s", StreamHead::EMPTY, vec![event(1), event(2), event(3)])])
        .await
        .unwrap();
    db.tamper("DELETE FROM events WHERE stream_version = 2").await;
    let report = verify_chains(&db.pool, |_| {}).await.unwrap();
    let kinds: Vec<_> = report.problems.iter().map(|p| (p.stream_version, p.kind)).collect();
    assert!(kinds.contains(&(3, ChainProblemKind::VersionGap)), "{kinds:?}");
    assert!(kinds.contains(&(3, ChainProblemKind::ChainBroken)), "{kinds:?}");

    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[append("s", StreamHead::EMPTY, vec![event(1), event(2)])])
        .await
        .unwrap();
    db.tamper("UPDATE events SET tx_id = '3'::xid8 WHERE stream_version = 2")
        .await;
    let report = verify_chains(&db.pool, |_| {}).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].kind, ChainProblemKind::OrderChanged);
}

#[tokio::test]
async fn only_a_new_streams_single_event_is_prepared_for_a_one_statement_append() {
    use shareledger::store::FirstAppend;
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let one = append("s-1", StreamHead::EMPTY, vec![event(1)]);
    let prepared = FirstAppend::prepare(&one).unwrap().expect("a first event");
    let e = &prepared.events()[0];
    assert_eq!((e.stream_version, e.prev_hash, e.global_position), (1, [0u8; 32], 0));
    assert!(
        FirstAppend::prepare(&append("s-1", StreamHead::EMPTY, vec![event(1), event(2)]))
            .unwrap()
            .is_none()
    );
    let head = store.append(&[one]).await.unwrap().heads[0].1;
    assert!(
        FirstAppend::prepare(&append("s-1", head, vec![event(2)]))
            .unwrap()
            .is_none()
    );
}
