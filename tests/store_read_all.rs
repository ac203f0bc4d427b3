//! Gap-free catch-up reads: a reader that tails the log never skips an event, even when
//! transactions commit out of position order.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use shareledger::store::{
    Cursor, EventMetadata, EventStore, LogTail, NewEvent, StoredEvent, StreamAppend, StreamHead, append_on, read_all,
};
use shareledger::testkit::TestDb;
use sqlx::{Connection, PgPool};
use uuid::Uuid;

fn event(tag: &str) -> NewEvent {
    NewEvent::new(
        "Tagged",
        1,
        json!({ "tag": tag }),
        &EventMetadata::system("test"),
        Utc::now(),
    )
}

fn one(stream: &str, tag: &str) -> Vec<StreamAppend> {
    vec![StreamAppend {
        stream_id: stream.to_owned(),
        expected: StreamHead::EMPTY,
        events: vec![event(tag)],
    }]
}

fn tags(events: &[StoredEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.payload["tag"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads until `want` events are visible (other tests' transactions on the same server can hold
/// the visibility horizon back for a moment).
async fn read_until(pool: &PgPool, want: usize) -> Vec<StoredEvent> {
    for _ in 0..400 {
        let events = read_all(pool, Cursor::START, 1000).await.unwrap();
        if events.len() >= want {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {want} events became visible");
}

#[tokio::test]
async fn an_open_transaction_holds_back_later_commits_until_it_commits() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    store.append(&one("s-0", "e0")).await.unwrap();
    assert_eq!(tags(&read_until(&db.pool, 1).await), ["e0"]);

    // T1 appends (and so takes its transaction id) first, then stays open.
    let mut t1_conn = db.connection().await;
    let mut t1 = t1_conn.begin().await.unwrap();
    let e1 = append_on(&mut t1, &one("s-1", "e1")).await.unwrap();
    // T2 appends later, with a higher position, and commits first.
    let e2 = store.append(&one("s-2", "e2")).await.unwrap();
    assert!(e2.events[0].global_position > e1.events[0].global_position);

    for _ in 0..5 {
        let seen = read_all(&db.pool, Cursor::START, 100).await.unwrap();
        assert_eq!(tags(&seen), ["e0"], "nothing past the open transaction is readable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t1.commit().await.unwrap();

    let seen = read_until(&db.pool, 3).await;
    assert_eq!(
        tags(&seen),
        ["e0", "e1", "e2"],
        "both come back, in (tx_id, position) order"
    );
    let again = read_all(&db.pool, Cursor::START, 100).await.unwrap();
    assert_eq!(seen, again, "the order is stable");
    let after_first = read_all(&db.pool, seen[0].cursor(), 100).await.unwrap();
    assert_eq!(
        tags(&after_first),
        ["e1", "e2"],
        "reading from a cursor resumes after it"
    );
}

#[tokio::test]
async fn a_tailing_reader_sees_every_event_exactly_once_while_writers_pause_inside_transactions() {
    let db = TestDb::with_pool_size(24).await;
    let mut writers = Vec::new();
    for w in 0..8 {
        let pool = db.pool.clone();
        writers.push(tokio::spawn(async move {
            let mut committed = Vec::new();
            let mut head = StreamHead::EMPTY;
            let stream = format!("writer-{w}");
            for i in 0..30 {
                let mut conn = pool.acquire().await.unwrap();
                let mut tx = conn.begin().await.unwrap();
                let batch: Vec<NewEvent> = (0..1 + (i % 3)).map(|k| event(&format!("{w}-{i}-{k}"))).collect();
                let ids: Vec<Uuid> = batch.iter().map(|e| e.event_id).collect();
                let outcome = append_on(
                    &mut tx,
                    &[StreamAppend {
                        stream_id: stream.clone(),
                        expected: head,
                        events: batch,
                    }],
                )
                .await
                .unwrap();
                tokio::time::sleep(Duration::from_millis(rand::random_range(0..15))).await;
                if i % 7 == 3 {
                    // An aborted transaction leaves a hole in the positions; nothing to read.
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                    head = outcome.heads[0].1;
                    committed.extend(ids);
                }
            }
            committed
        }));
    }
    let reader_pool = db.pool.clone();
    let reader = tokio::spawn(async move {
        let store = EventStore::new(reader_pool);
        let mut tail = LogTail::new(&store, Cursor::START, 7, Duration::from_millis(50)).await;
        let mut seen: Vec<StoredEvent> = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let batch = tail.next_batch().await.unwrap();
            seen.extend(batch);
            let done = seen.iter().filter(|e| e.event_type == "Done").count();
            if done == 1 || tokio::time::Instant::now() > deadline {
                return seen;
            }
        }
    });
    let mut committed = BTreeSet::new();
    for w in writers {
        committed.extend(w.await.unwrap());
    }
    // A final marker: once the reader sees it, it has seen everything committed before it.
    let store = EventStore::new(db.pool.clone());
    store
        .append(&[StreamAppend {
            stream_id: "done".into(),
            expected: StreamHead::EMPTY,
            events: vec![NewEvent::new(
                "Done",
                1,
                json!({}),
                &EventMetadata::system("test"),
                Utc::now(),
            )],
        }])
        .await
        .unwrap();
    let seen = reader.await.unwrap();
    let seen_ids: Vec<Uuid> = seen
        .iter()
        .filter(|e| e.event_type != "Done")
        .map(|e| e.event_id)
        .collect();
    let unique: BTreeSet<Uuid> = seen_ids.iter().copied().collect();
    assert_eq!(unique.len(), seen_ids.len(), "no event delivered twice");
    assert_eq!(
        unique, committed,
        "every committed event delivered, nothing rolled back"
    );
    let cursors: Vec<Cursor> = seen.iter().map(|e| e.cursor()).collect();
    assert!(
        cursors.windows(2).all(|w| w[0] < w[1]),
        "delivered in strictly increasing (tx_id, position) order"
    );
}

#[tokio::test]
async fn the_log_is_read_in_numeric_transaction_order_when_ids_gain_a_digit() {
    let db = TestDb::new().await;
    let store = EventStore::new(db.pool.clone());
    let ids = [9u64, 10, 99, 100, 999, 1000];
    for (i, _) in ids.iter().enumerate() {
        store.append(&one(&format!("s-{i}"), &format!("e{i}"))).await.unwrap();
    }
    // Give the events transaction ids that cross digit boundaries (as a database owner with the
    // append-only trigger off): text order would read 10, 100, 1000, 9, 99, 999.
    for (i, id) in ids.iter().enumerate() {
        db.tamper(&format!(
            "UPDATE events SET tx_id = '{id}'::xid8 WHERE payload->>'tag' = 'e{i}'"
        ))
        .await;
    }
    let mut cursor = Cursor::START;
    let mut seen = Vec::new();
    loop {
        let batch = read_all(&db.pool, cursor, 1).await.unwrap();
        let Some(e) = batch.first() else { break };
        seen.push(e.tx_id);
        cursor = e.cursor();
    }
    assert_eq!(seen, ids, "one at a time, every event, in numeric order");
    let head = shareledger::store::visible_head(&db.pool).await.unwrap();
    assert_eq!(head.tx_id, 1000);
}
