//! Access statistics and the audit index, through the runner and the API.

mod support;

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use support::{TestApp, catch_up, start};

#[tokio::test]
async fn statistics_count_operations_refusals_and_visitors_by_day_and_hour_in_the_enterprise_time_zone() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"time_zone": "Asia/Shanghai"})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[file],
            json!({"access_code": "code-1234", "limits": {"download": 2}}),
        )
        .await;
    // 15:30 UTC on the 27th is 23:30 in Shanghai; 16:30 UTC is already the 28th there.
    t.clock.set("2026-11-27T15:30:00Z".parse().unwrap());
    let s1 = t.session(&link, Some("code-1234"), None).await;
    t.open_link(&link, Some("wrong-code"), None).await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &s1)
        .await;
    t.clock.set("2026-11-27T16:30:00Z".parse().unwrap());
    let s2 = t.session(&link, Some("code-1234"), None).await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &s2)
        .await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &s2)
        .await;
    catch_up(&t.db).await;

    let daily = t
        .call(
            "GET",
            &format!("/api/v1/shares/{share}/stats?from=2026-11-27&to=2026-11-28"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(daily.status, StatusCode::OK, "{}", String::from_utf8_lossy(&daily.body));
    let daily = daily.json();
    assert_eq!(daily["time_zone"], "Asia/Shanghai");
    let series = daily["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["bucket"], "2026-11-27");
    assert_eq!(
        (
            series[0]["opens"].as_i64(),
            series[0]["downloads"].as_i64(),
            series[0]["refused"].as_i64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(series[0]["refused_by_reason"]["code_wrong"], 1);
    assert_eq!(series[1]["bucket"], "2026-11-28");
    assert_eq!(series[1]["downloads"], 1);
    assert_eq!(series[1]["refused_by_reason"]["limit_reached"], 1);
    assert_eq!(daily["totals"]["downloads"], 2);
    assert_eq!(daily["totals"]["refused"], 2);
    assert_eq!(
        daily["totals"]["unique_visitors"], 3,
        "two sessions and the visitor with the wrong code"
    );

    let hourly = t
        .call(
            "GET",
            &format!("/api/v1/shares/{share}/stats?from=2026-11-27&to=2026-11-28&bucket=hour"),
            Some(&alice),
            None,
        )
        .await
        .json();
    let buckets: Vec<&str> = hourly["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["bucket"].as_str().unwrap())
        .collect();
    assert_eq!(buckets, ["2026-11-27T15:00:00Z", "2026-11-27T16:00:00Z"]);

    let analyst = t.token("ann", "acme", &["analyst"]);
    let enterprise = t
        .call(
            "GET",
            "/api/v1/stats/enterprise?from=2026-11-27&to=2026-11-28",
            Some(&analyst),
            None,
        )
        .await
        .json();
    assert_eq!(enterprise["totals"]["downloads"], 2);
    assert_eq!(enterprise["totals"]["opens"], 2);
    t.call("GET", "/api/v1/stats/enterprise", Some(&alice), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    t.call(
        "GET",
        &format!("/api/v1/shares/{share}/stats"),
        Some(&t.user("bob")),
        None,
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    t.call(
        "GET",
        &format!("/api/v1/shares/{share}/stats?bucket=week"),
        Some(&alice),
        None,
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "bucket_invalid");
}

#[tokio::test]
async fn a_day_holds_its_hours_in_the_time_zones_furthest_from_utc() {
    // A share's days are read through the (share, hour) key with an hour range around them:
    // the range must reach the hours of a day that starts 14 hours before UTC midnight, and
    // of one that ends 11 hours after it.
    let t = TestApp::new().await;
    t.policy("acme", json!({"time_zone": "Pacific/Kiritimati"})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    // 10:30 UTC on the 27th is 00:30 on the 28th at UTC+14.
    t.clock.set("2026-11-27T10:30:00Z".parse().unwrap());
    let s1 = t.session(&link, None, None).await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &s1)
        .await;
    t.policy("acme", json!({"time_zone": "Pacific/Pago_Pago"})).await;
    // 10:30 UTC on the 28th is 23:30 on the 27th at UTC-11.
    t.clock.set("2026-11-28T10:30:00Z".parse().unwrap());
    let s2 = t.session(&link, None, None).await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &s2)
        .await;
    catch_up(&t.db).await;

    let series = |day: &str, bucket: &str| {
        let path = format!("/api/v1/shares/{share}/stats?from={day}&to={day}&bucket={bucket}");
        let alice = alice.clone();
        let t = &t;
        async move {
            let reply = t.call("GET", &path, Some(&alice), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
            reply.json()
        }
    };
    for (day, hour) in [
        ("2026-11-28", "2026-11-27T10:00:00Z"),
        ("2026-11-27", "2026-11-28T10:00:00Z"),
    ] {
        let daily = series(day, "day").await;
        assert_eq!(daily["totals"]["downloads"], 1, "{day}: {daily}");
        assert_eq!(daily["totals"]["unique_visitors"], 1, "{day}: {daily}");
        let hourly = series(day, "hour").await;
        let buckets: Vec<&str> = hourly["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["bucket"].as_str().unwrap())
            .collect();
        assert_eq!(buckets, [hour], "{day}");
    }
}

#[tokio::test]
async fn a_write_returns_its_position_and_a_read_can_wait_for_it() {
    let t = TestApp::new().await;
    t.state.start_runners().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    let session = t.session(&link, None, None).await;
    let download = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
        .await;
    let position = download.headers["shareledger-position"].to_str().unwrap().to_owned();
    let stats = t
        .call(
            "GET",
            &format!("/api/v1/shares/{share}/stats?min_position={position}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK);
    assert_eq!(stats.json()["totals"]["downloads"], 1, "the read includes the write");
    t.state.runners().stop();
    t.clock.set(start() + Duration::hours(1));
}

#[tokio::test]
async fn admins_see_every_projection_with_position_lag_and_state() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    t.share(&alice, &[file], json!({})).await;
    let admin = t.token("carol", "acme", &["admin"]);
    let status = t
        .call("GET", "/api/v1/admin/projections", Some(&admin), None)
        .await
        .json();
    let audit = status
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "audit_index")
        .unwrap();
    assert_eq!(audit["kind"], "async");
    assert_eq!(audit["lag_events"], 2, "nothing applied yet");
    assert_eq!(audit["state"], "stopped");
    catch_up(&t.db).await;
    let status = t
        .call("GET", "/api/v1/admin/projections", Some(&admin), None)
        .await
        .json();
    let audit = status
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "audit_index")
        .unwrap();
    assert_eq!(audit["lag_events"], 0);
    assert_eq!(audit["events_applied"], 2);
    let inline = status
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "my_share_links")
        .unwrap();
    assert_eq!(inline["state"], "current");
    t.call("GET", "/api/v1/admin/projections", Some(&alice), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
}
