//! Every refusal reason through HTTP, each leaving its `AccessRefused` event.

mod support;

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use support::{TestApp, start};
use uuid::Uuid;

/// Asserts the share's last event is a refusal with this reason.
async fn refused_with(t: &TestApp, share: Uuid, reason: &str) {
    let events = t.share_events(share).await;
    let last = events.last().unwrap();
    assert_eq!(
        (last.0.as_str(), last.1.as_deref()),
        ("AccessRefused", Some(reason)),
        "{events:?}"
    );
}

#[tokio::test]
async fn unknown_and_malformed_tokens_get_the_same_404() {
    let t = TestApp::new().await;
    let unknown = t
        .request_from(
            "192.0.2.5",
            "GET",
            "/api/v1/links/AAAAAAAAAAAAAAAAAAAAAA",
            None,
            None,
            None,
        )
        .await;
    let malformed = t
        .request_from("192.0.2.5", "GET", "/api/v1/links/not-a-token!!", None, None, None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body, malformed.body);
    assert_eq!(unknown.json()["code"], "not_found");
}

#[tokio::test]
async fn cancelled_and_expired_links_say_so_exactly_at_the_boundary() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"expires_at": start() + Duration::hours(1)}))
        .await;
    let session = t.session(&link, None, None).await;
    t.clock.set(start() + Duration::hours(1) - Duration::seconds(1));
    let path = format!("/api/v1/links/{link}/items/{file}/download");
    assert_eq!(
        t.as_recipient("GET", &path, &session).await.status,
        StatusCode::OK,
        "one second before: allowed"
    );
    t.clock.set(start() + Duration::hours(1));
    t.as_recipient("GET", &path, &session)
        .await
        .problem(StatusCode::GONE, "share_expired");
    refused_with(&t, share, "expired").await;
    t.call("GET", &format!("/api/v1/links/{link}"), None, None)
        .await
        .problem(StatusCode::GONE, "share_expired");

    t.clock.set(start());
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    t.call("POST", &format!("/api/v1/shares/{share}/cancel"), Some(&alice), None)
        .await;
    t.open_link(&link, None, None)
        .await
        .problem(StatusCode::GONE, "share_cancelled");
    refused_with(&t, share, "cancelled").await;
}

#[tokio::test]
async fn a_changed_code_or_a_cancel_ends_every_session_on_the_next_request() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "first-code"}))
        .await;
    let session = t.session(&link, Some("first-code"), None).await;
    let path = format!("/api/v1/links/{link}/items/{file}/download");
    assert_eq!(t.as_recipient("GET", &path, &session).await.status, StatusCode::OK);
    t.call(
        "PATCH",
        &format!("/api/v1/shares/{share}"),
        Some(&alice),
        Some(json!({"access_code": "second-code"})),
    )
    .await;
    t.as_recipient("GET", &path, &session)
        .await
        .problem(StatusCode::UNAUTHORIZED, "session_ended");
    refused_with(&t, share, "session_ended").await;
    t.open_link(&link, Some("first-code"), None)
        .await
        .problem(StatusCode::FORBIDDEN, "access_code_wrong");
    let renewed = t.session(&link, Some("second-code"), None).await;
    assert_eq!(t.as_recipient("GET", &path, &renewed).await.status, StatusCode::OK);
    t.call("POST", &format!("/api/v1/shares/{share}/cancel"), Some(&alice), None)
        .await;
    t.as_recipient("GET", &path, &renewed)
        .await
        .problem(StatusCode::GONE, "share_cancelled");
}

#[tokio::test]
async fn codes_missing_or_wrong_are_refused_and_recorded() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"access_code": "Exact-Code"}))
        .await;
    t.open_link(&link, None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "access_code_required");
    refused_with(&t, share, "code_missing").await;
    for wrong in ["exact-code", "Exact-Code ", " Exact-Code", "Exact-Cod", "Exact"] {
        t.open_link(&link, Some(wrong), None)
            .await
            .problem(StatusCode::FORBIDDEN, "access_code_wrong");
        refused_with(&t, share, "code_wrong").await;
    }
    assert_eq!(
        t.open_link(&link, Some("Exact-Code"), None).await.status,
        StatusCode::CREATED,
        "compared exactly as sent"
    );
}

#[tokio::test]
async fn the_policy_and_the_scope_refuse_with_their_reasons() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (internal, internal_link) = t.shared_link(&alice, &[file], json!({"scope": "enterprise"})).await;
    t.open_link(&internal_link, None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "sign_in_required");
    refused_with(&t, internal, "sign_in_required").await;
    let outsider = t.token("eve", "globex", &["user"]);
    t.open_link(&internal_link, None, Some(&outsider))
        .await
        .problem(StatusCode::FORBIDDEN, "not_a_member");
    refused_with(&t, internal, "not_a_member").await;
    let colleague = t.user("bob");
    assert_eq!(
        t.open_link(&internal_link, None, Some(&colleague)).await.status,
        StatusCode::CREATED
    );

    let (public, public_link) = t.shared_link(&alice, &[file], json!({})).await;
    let session = t.session(&public_link, None, None).await;
    t.policy("acme", json!({"external_sharing": false})).await;
    t.open_link(&public_link, None, None)
        .await
        .problem(StatusCode::FORBIDDEN, "sharing_disabled");
    refused_with(&t, public, "sharing_disabled").await;
    t.as_recipient(
        "GET",
        &format!("/api/v1/links/{public_link}/items/{file}/download"),
        &session,
    )
    .await
    .problem(StatusCode::FORBIDDEN, "sharing_disabled");
}

#[tokio::test]
async fn permissions_limits_deleted_originals_and_foreign_items_are_refused() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let other = t.upload(&alice, "private.txt", b"p", None).await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[file],
            json!({"permissions": {"preview": true}, "limits": {"preview": 1}}),
        )
        .await;
    let session = t.session(&link, None, None).await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
        .await
        .problem(StatusCode::FORBIDDEN, "no_permission");
    refused_with(&t, share, "no_permission").await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{other}/preview"), &session)
        .await
        .problem(StatusCode::NOT_FOUND, "item_not_shared");
    refused_with(&t, share, "item_not_shared").await;
    assert_eq!(
        t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/preview"), &session)
            .await
            .status,
        StatusCode::OK
    );
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/preview"), &session)
        .await
        .problem(StatusCode::FORBIDDEN, "limit_reached");
    refused_with(&t, share, "limit_reached").await;
    t.as_recipient("POST", &format!("/api/v1/links/{link}/items/{file}/save"), &session)
        .await
        .problem(StatusCode::FORBIDDEN, "no_permission");

    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    let session = t.session(&link, None, None).await;
    t.call("DELETE", &format!("/api/v1/drive/items/{file}"), Some(&alice), None)
        .await;
    t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
        .await
        .problem(StatusCode::GONE, "item_deleted");
    refused_with(&t, share, "item_deleted").await;
    let listing = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items"), &session)
        .await
        .json();
    assert_eq!(
        listing["items"][0]["deleted"], true,
        "the page can say the original is gone"
    );
}

#[tokio::test]
async fn saving_anonymously_and_editing_without_the_enterprise_switch_are_refused() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"online_editing": true})).await;
    let alice = t.user("alice");
    let doc = t.upload(&alice, "doc.txt", b"d", None).await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[doc],
            json!({"permissions": {"preview": true, "save": true, "edit": true}}),
        )
        .await;
    let session = t.session(&link, None, None).await;
    t.as_recipient("POST", &format!("/api/v1/links/{link}/items/{doc}/save"), &session)
        .await
        .problem(StatusCode::UNAUTHORIZED, "sign_in_required");
    refused_with(&t, share, "sign_in_required").await;
    t.policy("acme", json!({"online_editing": false})).await;
    let request = axum::http::Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/links/{link}/items/{doc}/content"))
        .header("x-share-session", &session)
        .body(axum::body::Body::from("changed"))
        .unwrap();
    t.send(request)
        .await
        .problem(StatusCode::FORBIDDEN, "online_editing_disabled");
    refused_with(&t, share, "editing_disabled").await;
    let content = t
        .call("GET", &format!("/api/v1/drive/items/{doc}/content"), Some(&alice), None)
        .await;
    assert_eq!(content.body, b"d", "nothing was changed");
    assert_eq!(t.count("SELECT count(*) FROM drive_items").await, 1, "no orphan item");
}

#[tokio::test]
async fn app_packages_are_blocked_on_public_links_until_a_custom_domain_is_set() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let apk = t.upload(&alice, "game.apk", b"PK..", None).await;
    let (share, link) = t.shared_link(&alice, &[apk], json!({})).await;
    let session = t.session(&link, None, None).await;
    let path = format!("/api/v1/links/{link}/items/{apk}/download");
    t.as_recipient("GET", &path, &session)
        .await
        .problem(StatusCode::FORBIDDEN, "file_type_blocked");
    refused_with(&t, share, "file_type_blocked").await;
    let (_, internal_link) = t.shared_link(&alice, &[apk], json!({"scope": "enterprise"})).await;
    let member = t.session(&internal_link, None, Some(&t.user("bob"))).await;
    assert_eq!(
        t.as_recipient(
            "GET",
            &format!("/api/v1/links/{internal_link}/items/{apk}/download"),
            &member
        )
        .await
        .status,
        StatusCode::OK,
        "enterprise-only links are not affected"
    );
    t.policy("acme", json!({"custom_domain": "share.acme.example"})).await;
    assert_eq!(
        t.as_recipient("GET", &path, &session).await.status,
        StatusCode::OK,
        "a custom domain lifts the block"
    );
}

#[tokio::test]
async fn the_daily_access_quota_counts_distinct_shares_of_signed_in_visitors() {
    let t = TestApp::new().await;
    t.policy("globex", json!({"daily_quota": 2})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let mut links: Vec<(Uuid, String)> = Vec::new();
    for _ in 0..3 {
        links.push(t.shared_link(&alice, &[file], json!({})).await);
    }
    let visitor = t.token("vic", "globex", &["user"]);
    assert_eq!(
        t.open_link(&links[0].1, None, Some(&visitor)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.open_link(&links[1].1, None, Some(&visitor)).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.open_link(&links[0].1, None, Some(&visitor)).await.status,
        StatusCode::CREATED,
        "the same share again is free"
    );
    t.open_link(&links[2].1, None, Some(&visitor))
        .await
        .problem(StatusCode::TOO_MANY_REQUESTS, "daily_quota_exceeded");
    refused_with(&t, links[2].0, "quota_used").await;
    let quota = t.call("GET", "/api/v1/me/quota", Some(&visitor), None).await.json();
    assert_eq!(quota["accesses"], json!({"used": 2, "limit": 2}));
    // Anonymous visitors are not counted against anyone's quota.
    assert_eq!(t.open_link(&links[2].1, None, None).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn an_expired_qr_code_is_refused_while_the_link_still_works() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    let qr = t
        .call("GET", &format!("/api/v1/shares/{share}/qr.png"), Some(&alice), None)
        .await;
    let qr_id = qr.headers["x-qr-id"].to_str().unwrap().to_owned();
    let path = format!("/api/v1/links/{link}/session");
    t.clock.set(start() + Duration::days(7) - Duration::seconds(1));
    let before = t
        .request_from("192.0.2.1", "POST", &path, None, None, Some(json!({"qr": qr_id})))
        .await;
    assert_eq!(before.status, StatusCode::CREATED);
    t.clock.set(start() + Duration::days(7));
    t.request_from("192.0.2.1", "POST", &path, None, None, Some(json!({"qr": qr_id})))
        .await
        .problem(StatusCode::GONE, "qr_code_expired");
    refused_with(&t, share, "qr_expired").await;
    assert_eq!(t.open_link(&link, None, None).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn every_path_to_content_is_closed_once_the_link_is_cancelled() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"online_editing": true})).await;
    let alice = t.user("alice");
    let folder = t.folder(&alice, "Team").await;
    let doc = t.upload(&alice, "doc.txt", b"d", Some(folder)).await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[folder],
            json!({"permissions": {"preview": true, "download": true, "save": true, "upload": true, "edit": true}}),
        )
        .await;
    let bob = t.token("bob", "globex", &["user"]);
    let session = t.session(&link, None, Some(&bob)).await;
    t.call("POST", &format!("/api/v1/shares/{share}/cancel"), Some(&alice), None)
        .await;
    for (method, path) in [
        ("GET", format!("/api/v1/links/{link}/items")),
        ("GET", format!("/api/v1/links/{link}/items?parent={folder}")),
        ("GET", format!("/api/v1/links/{link}/items/{doc}/preview")),
        ("HEAD", format!("/api/v1/links/{link}/items/{doc}/preview")),
        ("GET", format!("/api/v1/links/{link}/items/{doc}/download")),
        ("HEAD", format!("/api/v1/links/{link}/items/{doc}/download")),
        ("POST", format!("/api/v1/links/{link}/items/{doc}/save")),
        ("PUT", format!("/api/v1/links/{link}/items/{doc}/content")),
    ] {
        let reply = t.as_recipient(method, &path, &session).await;
        assert_eq!(reply.status, StatusCode::GONE, "{method} {path}");
    }
    let mut ranged = axum::http::Request::builder()
        .method("GET")
        .uri(format!("/api/v1/links/{link}/items/{doc}/download"))
        .header("x-share-session", &session)
        .header("range", "bytes=0-0")
        .body(axum::body::Body::empty())
        .unwrap();
    ranged.extensions_mut().insert(axum::extract::ConnectInfo(
        "192.0.2.1:1".parse::<std::net::SocketAddr>().unwrap(),
    ));
    assert_eq!(t.send(ranged).await.status, StatusCode::GONE);
    assert_eq!(
        t.count("SELECT count(*) FROM drive_items").await,
        2,
        "nothing saved or uploaded"
    );
    let granted = t
        .count(&format!(
            "SELECT count(*) FROM events WHERE stream_id = 'share-{share}' AND event_type IN ('FilePreviewed','FileDownloaded','FileSaved','DocumentEdited')"
        ))
        .await;
    assert_eq!(granted, 0);
}
