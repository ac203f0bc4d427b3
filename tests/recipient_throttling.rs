//! Throttling: token guessing, access-code brute force (checked before argon2, shared through
//! PostgreSQL, never a permanent lockout), input bounds, and argon2's concurrency cap.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use support::{TestApp, start};

#[tokio::test]
async fn many_unknown_tokens_from_one_client_are_throttled_while_others_go_on() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (_, link) = t.shared_link(&alice, &[file], json!({})).await;
    for i in 0..20 {
        let guess = format!("guess{i:017}");
        let reply = t
            .request_from(
                "203.0.113.7",
                "GET",
                &format!("/api/v1/links/{guess}"),
                None,
                None,
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    let throttled = t
        .request_from(
            "203.0.113.7",
            "GET",
            "/api/v1/links/guessXXXXXXXXXXXXXXXXX",
            None,
            None,
            None,
        )
        .await;
    throttled.problem(StatusCode::TOO_MANY_REQUESTS, "too_many_requests");
    assert!(throttled.headers.contains_key("retry-after"));
    // The guessing client is refused even with a real link (no oracle) ...
    let same_client = t
        .request_from("203.0.113.7", "GET", &format!("/api/v1/links/{link}"), None, None, None)
        .await;
    assert_eq!(same_client.status, StatusCode::TOO_MANY_REQUESTS);
    // ... while a real link from another client works.
    let other = t
        .request_from(
            "198.51.100.1",
            "GET",
            &format!("/api/v1/links/{link}"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
}

async fn try_code(t: &TestApp, link: &str, client: &str, code: &str) -> support::Reply {
    t.request_from(
        client,
        "POST",
        &format!("/api/v1/links/{link}/session"),
        None,
        None,
        Some(json!({"code": code})),
    )
    .await
}

#[tokio::test]
async fn brute_force_on_a_link_is_stopped_before_argon2_and_even_the_right_code_waits() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "Right-Code"}))
        .await;
    for i in 0..10 {
        try_code(&t, &link, "203.0.113.9", &format!("wrong-{i}"))
            .await
            .problem(StatusCode::FORBIDDEN, "access_code_wrong");
    }
    let hashed = t.state.hasher().runs();
    let throttled = try_code(&t, &link, "203.0.113.9", "Right-Code").await;
    throttled.problem(StatusCode::TOO_MANY_REQUESTS, "access_code_throttled");
    assert!(throttled.headers.contains_key("retry-after"));
    try_code(&t, &link, "203.0.113.9", "wrong-again")
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "access_code_throttled");
    assert_eq!(t.state.hasher().runs(), hashed, "no argon2 while throttled");
    let events = t.share_events(share).await;
    let reasons: Vec<&str> = events.iter().filter_map(|e| e.1.as_deref()).collect();
    assert_eq!(
        reasons.iter().filter(|r| **r == "code_wrong").count(),
        10,
        "every failure is an event"
    );
    assert_eq!(reasons.iter().filter(|r| **r == "code_throttled").count(), 2);
    // Another client is not held up by this one.
    assert_eq!(
        try_code(&t, &link, "198.51.100.2", "Right-Code").await.status,
        StatusCode::CREATED
    );
    // The owner's API is unaffected.
    let details = t
        .call("GET", &format!("/api/v1/shares/{share}"), Some(&alice), None)
        .await;
    assert_eq!(details.status, StatusCode::OK);
    assert_eq!(details.json()["counters"]["refused"], 12);
    // No permanent lockout: once the window has passed, the right code works again.
    t.clock.set(start() + Duration::minutes(16));
    assert_eq!(
        try_code(&t, &link, "203.0.113.9", "Right-Code").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn at_most_a_hundred_failures_an_hour_are_possible_on_one_link() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "Right-Code"}))
        .await;
    // Twelve clients try ten wrong codes each: the link stops counting at a hundred.
    for c in 0..12 {
        for i in 0..10 {
            let reply = try_code(&t, &link, &format!("203.0.113.{c}"), &format!("wrong-{c}-{i}")).await;
            assert!(matches!(
                reply.status,
                StatusCode::FORBIDDEN | StatusCode::TOO_MANY_REQUESTS
            ));
        }
    }
    let wrong = t
        .count(&format!(
            "SELECT count(*) FROM events WHERE stream_id = 'share-{share}' AND payload->>'reason' = 'code_wrong'"
        ))
        .await;
    assert_eq!(wrong, 100);
    try_code(&t, &link, "198.51.100.99", "Right-Code")
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "access_code_throttled");
    t.clock.set(start() + Duration::minutes(62));
    assert_eq!(
        try_code(&t, &link, "198.51.100.99", "Right-Code").await.status,
        StatusCode::CREATED,
        "the hour rolls on"
    );
}

#[tokio::test]
async fn oversized_bodies_and_impossible_codes_never_reach_argon2() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (_, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "Right-Code"}))
        .await;
    let before = t.state.hasher().runs();
    let huge = "x".repeat(2 * 1024 * 1024);
    try_code(&t, &link, "203.0.113.20", &huge)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large");
    try_code(&t, &link, "203.0.113.20", &"y".repeat(65))
        .await
        .problem(StatusCode::FORBIDDEN, "access_code_wrong");
    assert_eq!(t.state.hasher().runs(), before);
}

#[tokio::test]
async fn concurrent_code_checks_never_run_more_argon2_than_the_cap() {
    let t = Arc::new(TestApp::with_pool(40).await);
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (_, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "Right-Code"}))
        .await;
    let mut tasks = Vec::new();
    for i in 0..30 {
        let (t, link) = (t.clone(), link.clone());
        tasks.push(tokio::spawn(async move {
            // More than the argon2 threads and their queue take at once are told to come back
            // (429 with Retry-After, not counted as a failed attempt); coming back works.
            let mut busy = 0;
            loop {
                let reply = try_code(&t, &link, &format!("198.18.0.{i}"), "Right-Code").await;
                if reply.status != StatusCode::TOO_MANY_REQUESTS {
                    return (reply.status, busy);
                }
                assert!(reply.headers.contains_key("retry-after"));
                busy += 1;
                assert!(busy < 100, "never got through");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }));
    }
    // Meanwhile, other endpoints answer.
    assert_eq!(t.call("GET", "/healthz", None, None).await.status, StatusCode::OK);
    for task in tasks {
        assert_eq!(task.await.unwrap().0, StatusCode::CREATED);
    }
    let cap = t.state.config().argon2_concurrency as u64;
    assert!(
        t.state.hasher().most_at_once() <= cap,
        "{} > {cap}",
        t.state.hasher().most_at_once()
    );
}
