//! Hot links: limits hold exactly under concurrency, and a cancel is never followed by a
//! download in the log.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn a_limit_of_n_with_n_plus_k_concurrent_downloads_grants_exactly_n() {
    let t = Arc::new(TestApp::with_pool(30).await);
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"hot", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"limits": {"download": 20}}))
        .await;
    let session = t.session(&link, None, None).await;
    let mut tasks = Vec::new();
    for _ in 0..35 {
        let (t, link, session) = (t.clone(), link.clone(), session.clone());
        tasks.push(tokio::spawn(async move {
            t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
                .await
        }));
    }
    let (mut granted, mut refused) = (0, 0);
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::OK => {
                assert_eq!(reply.body, b"hot");
                granted += 1;
            }
            _ => {
                reply.problem(StatusCode::FORBIDDEN, "limit_reached");
                refused += 1;
            }
        }
    }
    assert_eq!((granted, refused), (20, 15));
    let events = t.share_events(share).await;
    assert_eq!(
        events.iter().filter(|e| e.0 == "FileDownloaded").count(),
        20,
        "exactly N download events"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.1.as_deref() == Some("limit_reached"))
            .count(),
        15
    );
    let details = t
        .call("GET", &format!("/api/v1/shares/{share}"), Some(&alice), None)
        .await
        .json();
    assert_eq!(details["counters"]["downloads"], 20);
}

#[tokio::test]
async fn no_download_is_committed_after_a_racing_cancel() {
    let t = Arc::new(TestApp::with_pool(30).await);
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"x", None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    let session = t.session(&link, None, None).await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (t, link, session, alice) = (t.clone(), link.clone(), session.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            if i == 15 {
                t.call("POST", &format!("/api/v1/shares/{share}/cancel"), Some(&alice), None)
                    .await
                    .status
            } else {
                t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
                    .await
                    .status
            }
        }));
    }
    for task in tasks {
        let status = task.await.unwrap();
        assert!(matches!(status, StatusCode::OK | StatusCode::GONE), "{status}");
    }
    let cancelled_at = t
        .count(&format!(
            "SELECT stream_version FROM events WHERE stream_id = 'share-{share}' AND event_type = 'ShareCancelled'"
        ))
        .await;
    let later_downloads = t
        .count(&format!(
            "SELECT count(*) FROM events WHERE stream_id = 'share-{share}' AND event_type = 'FileDownloaded' AND stream_version > {cancelled_at}"
        ))
        .await;
    assert_eq!(later_downloads, 0);
}

/// Accesses to different shares are written together; a share whose stored state cannot be
/// read fails its own accesses, never those it was batched with.
#[tokio::test]
async fn a_share_that_cannot_be_read_fails_only_its_own_accesses() {
    let t = Arc::new(TestApp::with_pool(30).await);
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"fine", None).await;
    let (_, good) = t.shared_link(&alice, &[file], json!({})).await;
    let (broken_share, broken) = t.shared_link(&alice, &[file], json!({})).await;
    let (good_session, broken_session) = (t.session(&good, None, None).await, t.session(&broken, None, None).await);
    // The broken share's snapshot no longer decodes (same schema version, wrong shape).
    let damaged = sqlx::query("UPDATE stream_snapshots SET state = '{\"share\": 5}' WHERE stream_id = $1")
        .bind(format!("share-{broken_share}"))
        .execute(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(damaged.rows_affected(), 1);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (t, link, session) = if i % 2 == 0 {
            (t.clone(), good.clone(), good_session.clone())
        } else {
            (t.clone(), broken.clone(), broken_session.clone())
        };
        tasks.push(tokio::spawn(async move {
            let reply = t
                .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
                .await;
            (i % 2 == 0, reply.status)
        }));
    }
    let (mut good_ok, mut broken_failed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (true, StatusCode::OK) => good_ok += 1,
            (false, status) if status.is_server_error() => broken_failed += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((good_ok, broken_failed), (20, 20));
}
