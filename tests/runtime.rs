//! The command runtime: decide on current state, retry on conflicts, serialize hot streams,
//! keep the snapshot equal to a replay.

use chrono::Utc;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shareledger::runtime::{CommandMeta, Fused, HookError, Rejection, RetryPolicy, Runtime, TxHook};
use shareledger::store::{EventMetadata, EventStore, FusedWrite, StoredEvent, load_snapshot, read_stream};
use shareledger::testkit::TestDb;
use shareledger_domain::event::{decode_tagged, encode_tagged};
use shareledger_domain::{Aggregate, DecodeError, DomainEvent};

/// A counter that refuses to pass its limit: small enough to read, rich enough to race.
struct Counter;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct CounterState {
    value: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
enum CounterEvent {
    Incremented { by: u32 },
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("limit reached")]
struct LimitReached;

impl DomainEvent for CounterEvent {
    fn event_type(&self) -> &'static str {
        "Incremented"
    }
    fn schema_version(&self) -> i32 {
        1
    }
    fn to_payload(&self) -> Value {
        encode_tagged(self)
    }
    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &shareledger_domain::json::LazyJson,
    ) -> Result<Self, DecodeError> {
        decode_tagged(event_type, schema_version, payload)
    }
}

impl Aggregate for Counter {
    const STREAM_PREFIX: &'static str = "counter";
    const STATE_SCHEMA: i32 = 1;
    type State = CounterState;
    type Command = u32;
    type Event = CounterEvent;
    type Context = u32;
    type Error = LimitReached;

    fn decide(state: &CounterState, by: &u32, limit: &u32) -> Result<Vec<CounterEvent>, LimitReached> {
        if state.value + by > *limit {
            return Err(LimitReached);
        }
        Ok(vec![CounterEvent::Incremented { by: *by }])
    }

    fn evolve(mut state: CounterState, event: &CounterEvent) -> CounterState {
        match event {
            CounterEvent::Incremented { by } => state.value += by,
        }
        state
    }
}

fn meta() -> CommandMeta {
    CommandMeta {
        metadata: EventMetadata::system("test"),
        occurred_at: Utc::now(),
    }
}

fn patient() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 200,
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn a_refused_command_appends_nothing() {
    let db = TestDb::new().await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    let ok = runtime
        .execute::<Counter>("counter-1", &2, &3, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok.state.value, 2);
    assert!(ok.cursor().is_some());
    let refused = runtime
        .execute::<Counter>("counter-1", &2, &3, &meta(), &[])
        .await
        .unwrap();
    assert!(matches!(refused, Err(Rejection::Domain(LimitReached))));
    assert_eq!(read_stream(&db.pool, "counter-1", 0).await.unwrap().len(), 1);
}

async fn race(locked: bool) {
    let db = TestDb::with_pool_size(20).await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), patient());
    let limit = 25u32;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let runtime = runtime.clone();
        tasks.push(tokio::spawn(async move {
            if locked {
                runtime
                    .execute_locked::<Counter>("counter-hot", &1, &limit, &meta(), &[])
                    .await
            } else {
                runtime
                    .execute::<Counter>("counter-hot", &1, &limit, &meta(), &[])
                    .await
            }
        }));
    }
    let (mut granted, mut refused, mut retried) = (0, 0, 0);
    for t in tasks {
        match t
            .await
            .unwrap()
            .expect("no infrastructure error, conflicts are retried")
        {
            Ok(done) => {
                granted += 1;
                retried += usize::from(done.attempts > 1);
            }
            Err(Rejection::Domain(LimitReached)) => refused += 1,
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!((granted, refused), (25, 15), "exactly the limit is granted");
    if locked {
        // A command that waited for the lock reads the state its predecessor left, so it never
        // conflicts and never tries twice.
        assert_eq!(retried, 0, "locked commands retried");
    }
    let events = read_stream(&db.pool, "counter-hot", 0).await.unwrap();
    assert_eq!(events.len(), 25);
    let snapshot = load_snapshot(&db.pool, "counter-hot", false).await.unwrap().unwrap();
    assert_eq!(snapshot.head.version, 25);
    let replayed = Counter::replay(
        events
            .iter()
            .map(|e| e.decode::<CounterEvent>().unwrap())
            .collect::<Vec<_>>()
            .iter(),
    );
    assert_eq!(
        serde_json::to_value(&replayed).unwrap(),
        snapshot.state,
        "the snapshot equals a replay"
    );
}

#[tokio::test]
async fn optimistic_commands_racing_on_one_stream_are_retried_and_never_exceed_the_limit() {
    race(false).await;
}

#[tokio::test]
async fn locked_commands_on_a_hot_stream_queue_and_hold_the_limit_exactly() {
    race(true).await;
}

#[tokio::test]
async fn a_stale_or_missing_snapshot_is_repaired_from_the_log() {
    let db = TestDb::new().await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    for _ in 0..3 {
        runtime
            .execute::<Counter>("counter-1", &1, &10, &meta(), &[])
            .await
            .unwrap()
            .unwrap();
    }
    // Snapshots are derived data: lose one, the next command rebuilds it from the events.
    sqlx::query("DELETE FROM stream_snapshots")
        .execute(&db.pool)
        .await
        .unwrap();
    let done = runtime
        .execute_locked::<Counter>("counter-1", &1, &10, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state.value, 4);
    // Make the snapshot stale (an older state at an older head): a conflict triggers a reload.
    sqlx::query("UPDATE stream_snapshots SET version = 2, state = '{\"value\": 2}', head_hash = (SELECT hash FROM events WHERE stream_version = 2)")
        .execute(&db.pool)
        .await
        .unwrap();
    let done = runtime
        .execute::<Counter>("counter-1", &1, &10, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.state.value, 5);
    assert_eq!(done.head.version, 5);
    assert!(done.attempts >= 2, "the stale snapshot caused one conflict");
}

#[tokio::test]
async fn a_stream_named_as_new_that_exists_is_decided_again_on_its_events() {
    let db = TestDb::new().await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    let first = runtime
        .execute_new::<Counter>("counter-n", &3, &4, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (first.state.value, first.attempts),
        (3, 1),
        "a new stream: nothing read"
    );
    // Decided on the empty state, the append conflicts with the stream's event; the retry
    // loads it and decides on the real state.
    let second = runtime
        .execute_new::<Counter>("counter-n", &1, &4, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.state.value, second.head.version), (4, 2));
    assert_eq!(second.attempts, 2);
    let refused = runtime
        .execute_new::<Counter>("counter-n", &1, &4, &meta(), &[])
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(Rejection::Domain(LimitReached))),
        "on the empty state it would pass"
    );
    assert_eq!(read_stream(&db.pool, "counter-n", 0).await.unwrap().len(), 2);
    let snapshot = load_snapshot(&db.pool, "counter-n", false).await.unwrap().unwrap();
    assert_eq!(
        (snapshot.head.version, snapshot.state["value"].clone()),
        (2, serde_json::json!(4))
    );
}

#[tokio::test]
async fn a_batch_is_decided_in_order_in_one_transaction_and_refusals_append_nothing() {
    use shareledger::runtime::BatchItem;
    let db = TestDb::new().await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    runtime
        .execute::<Counter>("counter-b", &2, &10, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    // 2 + 3 + 4 = 9; the 5 would pass 10 and is refused, the 1 after it still fits.
    let (commands, limit, m) = ([3u32, 4, 5, 1], 10u32, meta());
    let items: Vec<BatchItem<'_, Counter>> = commands
        .iter()
        .map(|command| BatchItem {
            stream_id: "counter-b",
            command,
            context: &limit,
            meta: &m,
        })
        .collect();
    let outcomes = runtime.execute_batch::<Counter>(&items, &[]).await.unwrap();
    let versions: Vec<Result<Vec<i64>, ()>> = outcomes
        .iter()
        .map(|o| match o {
            Ok(events) => Ok(events.iter().map(|e| e.stream_version).collect()),
            Err(Rejection::Domain(LimitReached)) => Err(()),
            Err(other) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(versions, vec![Ok(vec![2]), Ok(vec![3]), Err(()), Ok(vec![4])]);
    let events = read_stream(&db.pool, "counter-b", 0).await.unwrap();
    assert_eq!(events.len(), 4);
    let tx_ids: std::collections::BTreeSet<u64> = events[1..].iter().map(|e| e.tx_id).collect();
    assert_eq!(tx_ids.len(), 1, "the batch's events were appended by one transaction");
    let snapshot = load_snapshot(&db.pool, "counter-b", false).await.unwrap().unwrap();
    assert_eq!(
        (snapshot.head.version, snapshot.state["value"].clone()),
        (4, serde_json::json!(10))
    );
    // A batch whose every command is refused appends nothing.
    let none = runtime.execute_batch::<Counter>(&items[..1], &[]).await.unwrap();
    assert!(matches!(none[..], [Err(Rejection::Domain(LimitReached))]));
    assert_eq!(read_stream(&db.pool, "counter-b", 0).await.unwrap().len(), 4);
}

#[tokio::test]
async fn a_batch_over_several_streams_keeps_each_limit_and_commits_once() {
    use shareledger::runtime::BatchItem;
    let db = TestDb::new().await;
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    // counter-x has a snapshot at 8; counter-y and counter-z are new.
    runtime
        .execute::<Counter>("counter-x", &8, &10, &meta(), &[])
        .await
        .unwrap()
        .unwrap();
    let (limit, m) = (10u32, meta());
    let asks = [
        ("counter-x", 2u32),
        ("counter-y", 6),
        ("counter-x", 1), // 8 + 2 + 1 > 10: refused
        ("counter-y", 4),
        ("counter-z", 11), // over the limit on its own: refused
        ("counter-y", 1),  // 6 + 4 + 1 > 10: refused
    ];
    let items: Vec<BatchItem<'_, Counter>> = asks
        .iter()
        .map(|(stream_id, by)| BatchItem {
            stream_id,
            command: by,
            context: &limit,
            meta: &m,
        })
        .collect();
    let outcomes = runtime.execute_batch::<Counter>(&items, &[]).await.unwrap();
    let got: Vec<Option<(String, i64)>> = outcomes
        .iter()
        .map(|o| match o {
            Ok(events) => {
                assert_eq!(events.len(), 1);
                Some((events[0].stream_id.clone(), events[0].stream_version))
            }
            Err(Rejection::Domain(LimitReached)) => None,
            Err(other) => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            Some(("counter-x".to_owned(), 2)),
            Some(("counter-y".to_owned(), 1)),
            None,
            Some(("counter-y".to_owned(), 2)),
            None,
            None,
        ]
    );
    let x = read_stream(&db.pool, "counter-x", 1).await.unwrap();
    let y = read_stream(&db.pool, "counter-y", 0).await.unwrap();
    let tx_ids: std::collections::BTreeSet<u64> = x.iter().chain(&y).map(|e| e.tx_id).collect();
    assert_eq!(
        (x.len(), y.len(), tx_ids.len()),
        (1, 2, 1),
        "one transaction for both streams"
    );
    assert!(read_stream(&db.pool, "counter-z", 0).await.unwrap().is_empty());
    for (stream, version, value) in [("counter-x", 2, 10), ("counter-y", 2, 10)] {
        let snapshot = load_snapshot(&db.pool, stream, false).await.unwrap().unwrap();
        assert_eq!(
            (snapshot.head.version, snapshot.state["value"].clone()),
            (version, serde_json::json!(value)),
            "{stream}"
        );
    }
    assert!(load_snapshot(&db.pool, "counter-z", false).await.unwrap().is_none());
}

#[tokio::test]
async fn batches_over_the_same_streams_in_opposite_orders_neither_deadlock_nor_pass_a_limit() {
    use shareledger::runtime::BatchItem;
    let db = TestDb::with_pool_size(20).await;
    // One try each: a deadlock (or a stale read) would be an error, not a silent retry.
    let once = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), once);
    let streams = ["counter-p", "counter-q", "counter-r", "counter-s"];
    let limit = 30u32;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let runtime = runtime.clone();
        tasks.push(tokio::spawn(async move {
            let mut order = streams.to_vec();
            if i % 2 == 1 {
                order.reverse();
            }
            order.rotate_left(i % 4);
            let (m, by) = (meta(), 1u32);
            let items: Vec<BatchItem<'_, Counter>> = order
                .iter()
                .map(|stream_id| BatchItem {
                    stream_id,
                    command: &by,
                    context: &limit,
                    meta: &m,
                })
                .collect();
            runtime.execute_batch::<Counter>(&items, &[]).await.unwrap()
        }));
    }
    let mut granted = 0;
    for task in tasks {
        granted += task.await.unwrap().iter().filter(|o| o.is_ok()).count();
    }
    assert_eq!(granted, 24 * 4, "every increment fits under the limit");
    for stream in streams {
        let events = read_stream(&db.pool, stream, 0).await.unwrap();
        let versions: Vec<i64> = events.iter().map(|e| e.stream_version).collect();
        assert_eq!(versions, (1..=24).collect::<Vec<i64>>(), "{stream}");
        let snapshot = load_snapshot(&db.pool, stream, false).await.unwrap().unwrap();
        assert_eq!(snapshot.state["value"], serde_json::json!(24), "{stream}");
    }
}

#[tokio::test]
async fn generic_plans_hold_inside_their_transaction_only() {
    let db = TestDb::with_pool_size(1).await;
    let mut tx = shareledger::db::begin_generic(&db.pool).await.unwrap();
    assert_eq!(plan_cache_mode(&mut tx).await, "force_generic_plan");
    // Dropped, not committed (as a read does): the pool's one connection goes back with the
    // server's default, for the searches that must be planned with their values.
    drop(tx);
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(plan_cache_mode(&mut conn).await, "auto");
    drop(conn);
    let tx = shareledger::db::begin_generic(&db.pool).await.unwrap();
    tx.commit().await.unwrap();
    let mut conn = db.pool.acquire().await.unwrap();
    assert_eq!(plan_cache_mode(&mut conn).await, "auto");
}

async fn plan_cache_mode(conn: &mut sqlx::PgConnection) -> String {
    sqlx::query_scalar("SELECT current_setting('plan_cache_mode')")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Writes a row per command: in the transaction (`apply`), or in the append's own statement
/// (`fused`), saying which.
struct Tally;

impl TxHook<Counter> for Tally {
    fn apply<'a>(
        &'a self,
        tx: &'a mut sqlx::PgConnection,
        _: &'a CounterState,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            for e in events {
                sqlx::query("INSERT INTO tally (stream_id, position, via) VALUES ($1, $2, 'transaction')")
                    .bind(&e.stream_id)
                    .bind(e.global_position)
                    .execute(&mut *tx)
                    .await?;
            }
            Ok(())
        })
    }

    fn fused(&self, _: &CounterState, events: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        let stream = events[0].stream_id.clone();
        Ok(Some(Fused::Write(FusedWrite::new(move |q, appended| {
            q.push("INSERT INTO tally (stream_id, position, via) SELECT ")
                .push_bind(stream)
                .push(format_args!(", global_position, 'statement' FROM {appended}"));
        }))))
    }
}

/// Lets a command through while the allowance lasts, taking one from it.
struct Allowance;

const TAKE_ONE: &str = "UPDATE allowance SET n = n - 1 WHERE n > 0 RETURNING n";

impl TxHook<Counter> for Allowance {
    fn apply<'a>(
        &'a self,
        tx: &'a mut sqlx::PgConnection,
        _: &'a CounterState,
        _: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            match sqlx::query(TAKE_ONE).fetch_optional(&mut *tx).await? {
                Some(_) => Ok(()),
                None => Err(HookError::Refused {
                    code: "allowance",
                    detail: "used up".into(),
                }),
            }
        })
    }

    fn fused(&self, _: &CounterState, _: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        Ok(Some(Fused::Gate {
            check: FusedWrite::new(|q, _| {
                q.push(TAKE_ONE);
            }),
            key: "allowance".into(),
            code: "allowance",
            detail: "used up".into(),
        }))
    }
}

#[tokio::test]
async fn a_new_streams_command_commits_with_its_hooks_in_one_statement_and_a_closed_gate_writes_nothing() {
    let db = TestDb::new().await;
    for sql in [
        "CREATE TABLE tally (stream_id text NOT NULL, position int8 NOT NULL, via text NOT NULL)",
        "CREATE TABLE allowance (n int NOT NULL)",
        "INSERT INTO allowance VALUES (2)",
    ] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    let hooks: [&dyn TxHook<Counter>; 2] = [&Tally, &Allowance];
    let first = runtime
        .execute_new::<Counter>("counter-f1", &1, &5, &meta(), &hooks)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.state.value, first.attempts, first.head.version), (1, 1, 1));
    let position = first.events[0].global_position;
    assert!(
        position > 0 && first.events[0].tx_id > 0,
        "the positions come back from the statement"
    );
    // The stream exists now: the statement collides on the event's key and rolls back whole,
    // the allowance it took with it; the retry runs the transaction path on the loaded stream.
    let second = runtime
        .execute_new::<Counter>("counter-f1", &1, &5, &meta(), &hooks)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.state.value, second.attempts, second.head.version), (2, 2, 2));
    let allowance: i32 = sqlx::query_scalar("SELECT n FROM allowance")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(
        allowance, 0,
        "one taken per committed command, none by the one rolled back"
    );
    let refused = runtime
        .execute_new::<Counter>("counter-f2", &1, &5, &meta(), &hooks)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(Rejection::Hook { code: "allowance", .. })),
        "{refused:?}"
    );
    assert!(read_stream(&db.pool, "counter-f2", 0).await.unwrap().is_empty());
    assert!(load_snapshot(&db.pool, "counter-f2", false).await.unwrap().is_none());
    let tally: Vec<(String, i64, String)> =
        sqlx::query_as("SELECT stream_id, position, via FROM tally ORDER BY position")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    assert_eq!(
        tally,
        vec![
            ("counter-f1".to_owned(), position, "statement".to_owned()),
            (
                "counter-f1".to_owned(),
                second.events[0].global_position,
                "transaction".to_owned()
            ),
        ]
    );
    let snapshot = load_snapshot(&db.pool, "counter-f1", false).await.unwrap().unwrap();
    assert_eq!(
        (snapshot.head.version, snapshot.state["value"].clone()),
        (2, serde_json::json!(2))
    );
}

/// A fresh database with the tables of the fused hooks above (a tally row of a stream named
/// `counter-bad` breaks a CHECK, so its statement fails), and a runtime on it.
async fn fused_setup(allowance: i32) -> (TestDb, Runtime) {
    let db = TestDb::new().await;
    for sql in [
        "CREATE TABLE tally (stream_id text NOT NULL CHECK (stream_id <> 'counter-bad'), position int8 NOT NULL, \
         via text NOT NULL)",
        "CREATE TABLE allowance (n int NOT NULL)",
    ] {
        sqlx::query(sql).execute(&db.pool).await.unwrap();
    }
    sqlx::query("INSERT INTO allowance VALUES ($1)")
        .bind(allowance)
        .execute(&db.pool)
        .await
        .unwrap();
    let runtime = Runtime::new(EventStore::new(db.pool.clone()), RetryPolicy::default());
    (db, runtime)
}

async fn tally(db: &TestDb) -> Vec<(String, i64, String)> {
    sqlx::query_as("SELECT stream_id, position, via FROM tally ORDER BY position")
        .fetch_all(&db.pool)
        .await
        .unwrap()
}

/// One command on each of `streams` (each new), all at once: on this test's runtime (one
/// thread) every one is waiting before the first writer runs.
async fn all_new(
    runtime: &Runtime,
    streams: &[String],
    hooks: &[&dyn TxHook<Counter>],
) -> Vec<shareledger::runtime::CommandResult<Counter>> {
    let m = meta();
    futures_util::future::join_all(
        streams
            .iter()
            .map(|s| runtime.execute_new::<Counter>(s, &1, &5, &m, hooks)),
    )
    .await
}

#[tokio::test]
async fn new_streams_arriving_together_commit_together_each_with_its_own_event_and_answer() {
    let (db, runtime) = fused_setup(0).await;
    let hooks: [&dyn TxHook<Counter>; 1] = [&Tally];
    let streams: Vec<String> = (0..64).map(|i| format!("counter-g{i}")).collect();
    let done = all_new(&runtime, &streams, &hooks).await;
    let mut transactions = std::collections::BTreeMap::<u64, usize>::new();
    for (stream, done) in streams.iter().zip(&done) {
        let done = done.as_ref().unwrap().as_ref().unwrap();
        assert_eq!((done.state.value, done.attempts, done.head.version), (1, 1, 1));
        let stored = read_stream(&db.pool, stream, 0).await.unwrap();
        assert_eq!(stored.len(), 1, "{stream}");
        assert_eq!(
            (stored[0].global_position, stored[0].tx_id, stored[0].hash),
            (
                done.events[0].global_position,
                done.events[0].tx_id,
                done.events[0].hash
            ),
            "{stream}: the answer is its own event as stored"
        );
        *transactions.entry(done.events[0].tx_id).or_default() += 1;
        let snapshot = load_snapshot(&db.pool, stream, false).await.unwrap().unwrap();
        assert_eq!(snapshot.head.version, 1);
    }
    let sizes: Vec<usize> = transactions.values().copied().collect();
    assert_eq!(
        sizes,
        vec![shareledger::runtime::group::MAX_BATCH; 64 / shareledger::runtime::group::MAX_BATCH],
        "full batches, one transaction each"
    );
    let tally = tally(&db).await;
    assert_eq!(tally.len(), 64);
    assert!(tally.iter().all(|(_, _, via)| via == "statement"));
}

#[tokio::test]
async fn one_gate_row_is_never_taken_twice_in_a_statement_and_its_limit_holds() {
    let (db, runtime) = fused_setup(40).await;
    let hooks: [&dyn TxHook<Counter>; 2] = [&Tally, &Allowance];
    let streams: Vec<String> = (0..64).map(|i| format!("counter-a{i}")).collect();
    let done = all_new(&runtime, &streams, &hooks).await;
    let mut accepted = 0;
    for (stream, done) in streams.iter().zip(done) {
        match done.unwrap() {
            Ok(_) => accepted += 1,
            Err(Rejection::Hook { code: "allowance", .. }) => {
                assert!(read_stream(&db.pool, stream, 0).await.unwrap().is_empty(), "{stream}");
            }
            Err(other) => panic!("{stream}: {other:?}"),
        }
    }
    assert_eq!(accepted, 40, "exactly the allowance");
    assert_eq!(tally(&db).await.len(), 40);
    let left: i32 = sqlx::query_scalar("SELECT n FROM allowance")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_failing_append_in_a_group_fails_alone_and_the_others_commit() {
    let (db, runtime) = fused_setup(0).await;
    let hooks: [&dyn TxHook<Counter>; 1] = [&Tally];
    let mut streams: Vec<String> = (0..20).map(|i| format!("counter-p{i}")).collect();
    streams.insert(3, "counter-bad".to_owned());
    let done = all_new(&runtime, &streams, &hooks).await;
    for (stream, done) in streams.iter().zip(done) {
        let stored = read_stream(&db.pool, stream, 0).await.unwrap();
        if stream == "counter-bad" {
            assert!(done.is_err(), "its own statement fails: {done:?}");
            assert!(stored.is_empty());
        } else {
            let done = done.unwrap().unwrap();
            assert_eq!(stored.len(), 1, "{stream}");
            assert_eq!(stored[0].global_position, done.events[0].global_position);
        }
    }
    assert_eq!(tally(&db).await.len(), 20);
}
