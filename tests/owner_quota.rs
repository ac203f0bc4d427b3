//! The daily quota: exact under concurrency, following the enterprise's time zone.

mod support;

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn twenty_concurrent_creates_at_the_limit_minus_one_grant_exactly_one() {
    let t = Arc::new(TestApp::with_pool(30).await);
    t.policy("acme", json!({"daily_quota": 5})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    for _ in 0..4 {
        t.share(&alice, &[file], json!({})).await;
    }
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (t, alice) = (t.clone(), alice.clone());
        tasks.push(tokio::spawn(
            async move { t.create_share(&alice, &[file], json!({})).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match reply.status {
            StatusCode::CREATED => created += 1,
            _ => reply.problem(StatusCode::TOO_MANY_REQUESTS, "daily_quota_exceeded"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
            .await,
        5
    );
    let quota = t.call("GET", "/api/v1/me/quota", Some(&alice), None).await.json();
    assert_eq!(quota["creates"], json!({"used": 5, "limit": 5}));
    // Other users are not affected.
    let bob = t.user("bob");
    let bobs = t.upload(&bob, "b.txt", b"b", None).await;
    assert_eq!(
        t.create_share(&bob, &[bobs], json!({})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn the_quota_day_ends_at_midnight_in_the_enterprise_time_zone() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"daily_quota": 2, "time_zone": "Asia/Shanghai"}))
        .await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    // 15:59:59 UTC is 23:59:59 in Shanghai.
    t.clock.set("2026-11-27T15:59:59Z".parse().unwrap());
    t.share(&alice, &[file], json!({})).await;
    t.share(&alice, &[file], json!({})).await;
    t.create_share(&alice, &[file], json!({}))
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "daily_quota_exceeded");
    let quota = t.call("GET", "/api/v1/me/quota", Some(&alice), None).await.json();
    assert_eq!(quota["day"], "2026-11-27");
    assert_eq!(quota["resets_at"], "2026-11-27T16:00:00Z");
    t.clock.advance(Duration::seconds(1));
    assert_eq!(
        t.create_share(&alice, &[file], json!({})).await.status,
        StatusCode::CREATED
    );
    let quota = t.call("GET", "/api/v1/me/quota", Some(&alice), None).await.json();
    assert_eq!(quota["day"], "2026-11-28");
    assert_eq!(quota["creates"]["used"], 1);
}

#[tokio::test]
async fn admins_change_the_quota_a_custom_domain_lifts_it_and_usage_is_reported() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"daily_quota": 1})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    t.share(&alice, &[file], json!({})).await;
    t.create_share(&alice, &[file], json!({}))
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "daily_quota_exceeded");
    t.policy("acme", json!({"custom_domain": "share.acme.example"})).await;
    assert_eq!(
        t.create_share(&alice, &[file], json!({})).await.status,
        StatusCode::CREATED
    );
    let quota = t.call("GET", "/api/v1/me/quota", Some(&alice), None).await.json();
    assert_eq!(quota["creates"], json!({"used": 2, "limit": null}));
    let analyst = t.token("ann", "acme", &["analyst"]);
    let report = t
        .call("GET", "/api/v1/admin/quota?date=2026-11-27", Some(&analyst), None)
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert_eq!(
        report.json()["users"],
        json!([{"user_id": "alice", "creates": 2, "accesses": 0}])
    );
    t.call("GET", "/api/v1/admin/quota", Some(&alice), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    t.call("GET", "/api/v1/admin/quota?date=yesterday", Some(&analyst), None)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "date_invalid");
}
