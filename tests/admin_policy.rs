//! The enterprise policy for admins.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn admins_read_and_change_the_policy_and_it_governs_new_shares() {
    let t = TestApp::new().await;
    let admin = t.token("carol", "acme", &["admin"]);
    let policy = t.call("GET", "/api/v1/admin/policy", Some(&admin), None).await.json();
    assert_eq!(
        policy,
        json!({"enterprise_id": "acme", "external_sharing": true, "internal_sharing": true, "online_editing": false,
               "custom_domain": null, "daily_quota": 500, "time_zone": "UTC"})
    );
    let changed = t
        .call(
            "PUT",
            "/api/v1/admin/policy",
            Some(&admin),
            Some(json!({"external_sharing": false, "online_editing": true})),
        )
        .await
        .json();
    assert_eq!(changed["external_sharing"], false);
    assert_eq!(changed["online_editing"], true);
    let alice = t.user("alice");
    let file = t.upload(&alice, "doc.txt", b"d", None).await;
    t.create_share(&alice, &[file], json!({}))
        .await
        .problem(StatusCode::FORBIDDEN, "external_sharing_disabled");
    let internal = t
        .create_share(
            &alice,
            &[file],
            json!({"scope": "enterprise", "permissions": {"preview": true, "edit": true}}),
        )
        .await;
    assert_eq!(
        internal.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&internal.body)
    );
    let events = t
        .count("SELECT count(*) FROM events WHERE stream_id = 'policy-acme'")
        .await;
    assert_eq!(events, 2, "one event per changed switch");
}

#[tokio::test]
async fn only_admins_touch_the_policy_and_bad_values_are_refused() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    t.call("GET", "/api/v1/admin/policy", Some(&alice), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    t.call(
        "PUT",
        "/api/v1/admin/policy",
        Some(&alice),
        Some(json!({"daily_quota": 10})),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "admin_required");
    let admin = t.token("carol", "acme", &["admin"]);
    for (body, code) in [
        (json!({"daily_quota": 0}), "daily_quota_invalid"),
        (json!({"time_zone": "Nowhere/Land"}), "time_zone_invalid"),
        (json!({"custom_domain": "not a domain"}), "custom_domain_invalid"),
    ] {
        t.call("PUT", "/api/v1/admin/policy", Some(&admin), Some(body))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    t.call("PUT", "/api/v1/admin/policy", Some(&admin), Some(json!({"quota": 10})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    assert_eq!(t.count("SELECT count(*) FROM events").await, 0);
}
