//! Tamper evidence: hash chains plus signed checkpoints. Every kind of tampering is done here
//! as an attacker with database access would (the table owner, append-only trigger switched
//! off), and the verifier must name it.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use shareledger::audit::checkpoint::make_checkpoint;
use shareledger::audit::key::AuditKey;
use shareledger::audit::verify::{ProblemKind, Report, Window, verify, verify_window};
use shareledger::store::chain::{HashInput, ZERO_HASH, event_hash};
use support::TestApp;
use uuid::Uuid;

/// A history with two checkpoints: shares created, opened and downloaded; a checkpoint; two
/// brand-new shares (single-event streams) as the last events before a second checkpoint; and a
/// little activity after it that no checkpoint covers yet.
struct History {
    app: TestApp,
    /// The share whose creation event we edit and delete.
    share: Uuid,
    /// The two shares created just before the second checkpoint.
    tail: [Uuid; 2],
}

async fn history() -> History {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "report.pdf", b"numbers", None).await;
    let (share, link) = app.shared_link(&alice, &[file], json!({})).await;
    for _ in 0..3 {
        let session = app.session(&link, None, None).await;
        let reply = app
            .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    checkpoint(&app).await;
    let tail = [
        app.share(&alice, &[file], json!({"name": "tail one"})).await,
        app.share(&alice, &[file], json!({"name": "tail two"})).await,
    ];
    checkpoint(&app).await;
    app.share(&alice, &[file], json!({"name": "after the checkpoints"}))
        .await;
    History { app, share, tail }
}

/// Waits until every committed event is below the visibility horizon. The horizon is the
/// cluster's: a transaction open in another test's database holds it back for a moment, and a
/// checkpoint covers only what a gap-free reader can see.
async fn settle(app: &TestApp) {
    let target = support::last_committed(&app.db.pool).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while shareledger::store::visible_head(&app.db.pool).await.unwrap() < target {
        assert!(
            std::time::Instant::now() < deadline,
            "the horizon never passed {target:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A checkpoint over everything committed so far; `always: false` is the periodic task's rule
/// (none when only checkpoints happened since the last). Whether one was written.
async fn checkpoint_if(app: &TestApp, always: bool) -> bool {
    settle(app).await;
    make_checkpoint(
        &app.db.pool,
        Some(app.state.store()),
        &app.state.keys().audit,
        app.clock_now(),
        always,
    )
    .await
    .unwrap()
    .is_some()
}

async fn checkpoint(app: &TestApp) {
    assert!(checkpoint_if(app, true).await, "a checkpoint");
}

async fn check(app: &TestApp) -> Report {
    verify(&app.db.pool, &app.state.keys().audit.public(), |_| {})
        .await
        .unwrap()
}

fn kinds(report: &Report) -> Vec<(ProblemKind, String, i64)> {
    report
        .problems
        .iter()
        .map(|p| (p.kind, p.stream_id.clone(), p.stream_version))
        .collect()
}

#[tokio::test]
async fn an_untouched_log_verifies_and_checkpoints_vouch_for_it() {
    let h = history().await;
    let report = check(&h.app).await;
    assert_eq!(report.verdict, "intact", "{:?}", report.problems);
    assert_eq!(report.checkpoints, 2);
    let last_tail: i64 = sqlx::query_scalar("SELECT max(global_position) FROM events WHERE stream_id = $1")
        .bind(format!("share-{}", h.tail[1]))
        .fetch_one(&h.app.db.pool)
        .await
        .unwrap();
    assert_eq!(
        report.covered_position, last_tail,
        "the second checkpoint covers the tail shares"
    );
    // Nothing new but checkpoints: the periodic task writes none.
    let again = checkpoint_if(&h.app, false).await;
    assert!(again, "a share was created after the second checkpoint");
    let idle = checkpoint_if(&h.app, false).await;
    assert!(!idle, "only a checkpoint happened since");
    assert_eq!(check(&h.app).await.verdict, "intact");
}

#[tokio::test]
async fn an_edited_payload_is_named_with_its_stream_and_version() {
    let h = history().await;
    let stream = format!("share-{}", h.share);
    h.app
        .db
        .tamper(&format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{name}}', '\"innocent.pdf\"') \
             WHERE stream_id = '{stream}' AND stream_version = 1"
        ))
        .await;
    let report = check(&h.app).await;
    assert_eq!(report.verdict, "tampered");
    assert_eq!(kinds(&report), vec![(ProblemKind::PayloadChanged, stream.clone(), 1)]);

    // A window around the edited event reports it; a window after it does not.
    let at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT recorded_at FROM events WHERE stream_id = $1 AND stream_version = 1")
            .bind(&stream)
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    let key = h.app.state.keys().audit.public();
    let around = Window {
        from: Some(at - chrono::Duration::seconds(1)),
        to: Some(at + chrono::Duration::seconds(1)),
    };
    let report = verify_window(&h.app.db.pool, &key, around, |_| {}).await.unwrap();
    assert_eq!(kinds(&report), vec![(ProblemKind::PayloadChanged, stream, 1)]);
    let later = Window {
        from: Some(at + chrono::Duration::microseconds(1)),
        to: None,
    };
    let report = verify_window(&h.app.db.pool, &key, later, |_| {}).await.unwrap();
    assert_eq!(report.verdict, "intact", "{:?}", report.problems);
}

#[tokio::test]
async fn a_deleted_event_is_missing_from_its_stream_and_from_the_checkpoint() {
    let h = history().await;
    let stream = format!("share-{}", h.share);
    h.app
        .db
        .tamper(&format!(
            "DELETE FROM events WHERE stream_id = '{stream}' AND stream_version = 2"
        ))
        .await;
    let report = check(&h.app).await;
    let found = kinds(&report);
    assert!(
        found.contains(&(ProblemKind::EventMissing, stream.clone(), 3)),
        "the chain names the gap: {found:?}"
    );
    assert!(
        found.contains(&(ProblemKind::EventMissing, "audit-checkpoints".to_owned(), 1)),
        "the first checkpoint counts one event fewer: {found:?}"
    );
}

#[tokio::test]
async fn an_event_inserted_into_covered_history_with_a_valid_chain_is_caught_by_the_checkpoint() {
    let h = history().await;
    // A perfectly chained new stream, dated into history the first checkpoint already covers:
    // no chain can object, the checkpoint's count and digest do.
    let (tx_id, at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT tx_id::text, recorded_at FROM events WHERE stream_id = $1 AND stream_version = 1")
            .bind(format!("share-{}", h.share))
            .fetch_one(&h.app.db.pool)
            .await
            .unwrap();
    let (stream, id) = (format!("share-{}", Uuid::now_v7()), Uuid::now_v7());
    let (payload, metadata) = (json!({"name": "planted"}), json!({"actor": "alice"}));
    let hash = event_hash(
        &ZERO_HASH,
        &HashInput {
            stream_id: &stream,
            stream_version: 1,
            event_id: &id,
            event_type: "ShareRenamed",
            schema_version: 1,
            payload: &payload,
            metadata: &metadata,
            occurred_at: &at,
            recorded_at: &at,
        },
    );
    let mut conn = h.app.db.connection().await;
    sqlx::query("ALTER TABLE events DISABLE TRIGGER USER")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO events (global_position, tx_id, stream_id, stream_version, event_id, event_type, \
         schema_version, payload, metadata, occurred_at, recorded_at, prev_hash, hash) OVERRIDING SYSTEM VALUE \
         VALUES (1000000, $1::xid8, $2, 1, $3, 'ShareRenamed', 1, $4, $5, $6, $6, $7, $8)",
    )
    .bind(&tx_id)
    .bind(&stream)
    .bind(id)
    .bind(&payload)
    .bind(&metadata)
    .bind(at)
    .bind(&ZERO_HASH[..])
    .bind(&hash[..])
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE events ENABLE TRIGGER USER")
        .execute(&mut conn)
        .await
        .unwrap();
    let report = check(&h.app).await;
    assert_eq!(
        kinds(&report),
        vec![(ProblemKind::EventInserted, "audit-checkpoints".to_owned(), 1)],
        "{:?}",
        report.problems
    );
}

#[tokio::test]
async fn a_truncated_tail_is_caught_by_the_checkpoint_that_covered_it() {
    let h = history().await;
    // The last two covered events are whole streams of one event: no chain notices them gone.
    h.app
        .db
        .tamper(&format!(
            "DELETE FROM events WHERE stream_id IN ('share-{}', 'share-{}')",
            h.tail[0], h.tail[1]
        ))
        .await;
    let report = check(&h.app).await;
    assert_eq!(
        kinds(&report),
        vec![(ProblemKind::TailTruncated, "audit-checkpoints".to_owned(), 2)],
        "{:?}",
        report.problems
    );
    assert!(report.problems[0].detail.contains("events expected"));
}

#[tokio::test]
async fn a_forged_checkpoint_signature_is_refused() {
    let h = history().await;
    let forged = AuditKey::from_seed(&[9; 32]).sign(b"anything");
    let forged = base64_of(&forged);
    h.app
        .db
        .tamper(&format!(
            "UPDATE events SET payload = jsonb_set(payload, '{{signature}}', '\"{forged}\"') \
             WHERE stream_id = 'audit-checkpoints' AND stream_version = 1"
        ))
        .await;
    let report = check(&h.app).await;
    let found = kinds(&report);
    assert!(found.contains(&(ProblemKind::SignatureInvalid, "audit-checkpoints".to_owned(), 1)));
    assert!(
        found.contains(&(ProblemKind::PayloadChanged, "audit-checkpoints".to_owned(), 1)),
        "{found:?}"
    );
}

#[tokio::test]
async fn checkpoints_signed_by_another_key_are_refused() {
    let h = history().await;
    let stranger = AuditKey::from_seed(&[3; 32]).public();
    let report = verify(&h.app.db.pool, &stranger, |_| {}).await.unwrap();
    assert_eq!(
        kinds(&report),
        vec![
            (ProblemKind::SignatureInvalid, "audit-checkpoints".to_owned(), 1),
            (ProblemKind::SignatureInvalid, "audit-checkpoints".to_owned(), 2),
        ]
    );
    assert!(report.problems[0].detail.contains("not by the audit key"));
    assert_eq!(report.covered_position, 0, "nothing is vouched for by an unknown key");
}

#[tokio::test]
async fn auditors_verify_over_http_and_nobody_else_may() {
    let h = history().await;
    let auditor = h.app.token("ann", "acme", &["auditor"]);
    let reply = h.app.call("GET", "/api/v1/audit/verify", Some(&auditor), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["verdict"], "intact");
    assert_eq!(reply.json()["checkpoints"], 2);
    let admin = h.app.token("carol", "acme", &["admin"]);
    h.app
        .call("GET", "/api/v1/audit/verify", Some(&admin), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    h.app
        .db
        .tamper(&format!("DELETE FROM events WHERE stream_id = 'share-{}'", h.tail[1]))
        .await;
    let reply = h.app.call("GET", "/api/v1/audit/verify", Some(&auditor), None).await;
    assert_eq!(reply.json()["verdict"], "tampered");
    assert_eq!(reply.json()["problems"][0]["kind"], "tail_truncated");
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The command line a compliance officer uses: keep the public key, checkpoint, verify; the exit
/// code says whether the log is intact.
#[tokio::test]
async fn the_cli_prints_the_public_key_checkpoints_and_verifies_with_exit_codes() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let share = app.share(&alice, &[file], json!({})).await;
    let config = app.db.config();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_shareledger"))
            .arg("--data-dir")
            .arg(&config.data_dir)
            .args(args)
            .env("DATABASE_URL", config.database_url.as_deref().unwrap())
            .env("SHARELEDGER_LOG", "warn")
            .output()
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let (code, public) = run(&["audit", "public-key"]);
    assert_eq!(code, Some(0));
    assert_eq!(public.trim(), app.state.keys().audit.public().to_text());
    let kept = config.data_dir.join("audit-public-key.txt");
    std::fs::write(&kept, &public).unwrap();

    let (code, out) = run(&["audit", "checkpoint"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("checkpoint at position"), "{out}");
    let (code, out) = run(&["audit", "verify", "--public-key", kept.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("INTACT"), "{out}");

    app.db
        .tamper(&format!(
            "UPDATE events SET metadata = '{{}}' WHERE stream_id = 'share-{share}'"
        ))
        .await;
    let (code, out) = run(&["audit", "verify", "--public-key", kept.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!("PROBLEM PayloadChanged: stream share-{share} version 1")),
        "{out}"
    );
    assert!(out.contains("TAMPERED"), "{out}");

    let (code, out) = run(&["audit", "verify", "--json"]);
    assert_eq!(code, Some(1));
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["problems"][0]["kind"], "payload_changed");
}

/// `serve`'s periodic task: a checkpoint once something happened, none while only checkpoints do.
#[tokio::test]
async fn checkpoints_are_written_periodically_when_something_happened() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    app.upload(&alice, "a.txt", b"a", None).await;
    let task = tokio::spawn(shareledger::audit::checkpoint::run_periodically(
        app.db.pool.clone(),
        app.state.store().clone(),
        app.state.keys().audit.clone(),
        app.state.clock_arc(),
        std::time::Duration::from_millis(50),
    ));
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events WHERE stream_id = 'audit-checkpoints'")
            .fetch_one(&app.db.pool)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count().await == 0 {
        assert!(std::time::Instant::now() < deadline, "no checkpoint was written");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Ten more intervals with nothing new: still one.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count().await, 1);
    app.upload(&alice, "b.txt", b"b", None).await;
    while count().await == 1 {
        assert!(std::time::Instant::now() < deadline, "no second checkpoint");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(check(&app).await.verdict, "intact");
}
