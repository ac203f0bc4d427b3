//! The owner's share API through the router: every endpoint's success path and its refusals.

mod support;

use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use support::{TestApp, start};
use uuid::Uuid;

#[tokio::test]
async fn a_created_share_is_listed_at_once_and_its_details_show_every_setting() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "report.pdf", b"%PDF-1.7", None).await;
    let expires = start() + Duration::days(7);
    let reply = t
        .create_share(
            &alice,
            &[file],
            json!({
                "message": "for the board",
                "permissions": {"preview": true, "download": true, "save": true},
                "scope": "enterprise",
                "expires_at": expires,
                "access_code": "Open-Sesame",
                "autofill_code": true,
                "limits": {"total": 10, "download": 5}
            }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let created = reply.json();
    assert_eq!(created["name"], "report.pdf", "defaults to the first item's name");
    assert_eq!(created["scope"], "enterprise");
    assert_eq!(created["access_code"], "Open-Sesame");
    assert_eq!(created["limits"]["download"], 5);
    assert_eq!(created["status"], "active");
    assert_eq!(created["owner"]["name"], "alice display");
    let link = created["link"].as_str().unwrap();
    assert!(
        link.starts_with("http://127.0.0.1:8080/s/") && link.ends_with("?code=Open-Sesame"),
        "{link}"
    );
    let id = created["id"].as_str().unwrap();

    let list = t.call("GET", "/api/v1/shares", Some(&alice), None).await.json();
    assert_eq!(list["items"][0]["id"], id, "the next list request shows it");
    assert_eq!(list["next_cursor"], serde_json::Value::Null);
    let blank = "/api/v1/shares?q=&created_after=&created_before=&status=&order_by=&order=&limit=&cursor=";
    let blank = t.call("GET", blank, Some(&alice), None).await;
    assert_eq!(blank.status, StatusCode::OK, "{}", String::from_utf8_lossy(&blank.body));
    assert_eq!(
        blank.json(),
        list,
        "blank fields, as a form sends them, are absent ones"
    );

    let details = t.call("GET", &format!("/api/v1/shares/{id}"), Some(&alice), None).await;
    assert_eq!(details.status, StatusCode::OK);
    let details = details.json();
    assert_eq!(details["message"], "for the board");
    assert_eq!(details["permissions"]["save"], true);
    assert_eq!(details["expires_at"], created["expires_at"]);
    assert_eq!(details["counters"]["downloads"], 0);

    let link = t
        .call("GET", &format!("/api/v1/shares/{id}/link"), Some(&alice), None)
        .await
        .json();
    assert_eq!(link["includes_access_code"], true);
    assert_eq!(link["url"], created["link"]);
}

#[tokio::test]
async fn changes_are_applied_and_recorded_one_event_per_setting() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let id = t.share(&alice, &[file], json!({})).await;
    let reply = t
        .call(
            "PATCH",
            &format!("/api/v1/shares/{id}"),
            Some(&alice),
            Some(json!({
                "name": "Quarterly numbers",
                "message": "see you",
                "expires_at": start() + Duration::days(1),
                "generate_access_code": true,
                "limits": {"preview": 2}
            })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    let details = reply.json();
    assert_eq!(details["name"], "Quarterly numbers");
    assert_eq!(details["has_access_code"], true);
    assert_eq!(details["access_code"].as_str().unwrap().len(), 6);
    assert_eq!(details["limits"]["preview"], 2);
    // null makes the link permanent again; absent fields stay.
    let permanent = t
        .call(
            "PATCH",
            &format!("/api/v1/shares/{id}"),
            Some(&alice),
            Some(json!({"expires_at": null})),
        )
        .await
        .json();
    assert_eq!(permanent["expires_at"], serde_json::Value::Null);
    assert_eq!(permanent["name"], "Quarterly numbers");
    let history = t
        .call("GET", &format!("/api/v1/shares/{id}/history"), Some(&alice), None)
        .await
        .json();
    let types: Vec<&str> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "ShareCreated",
            "ShareRenamed",
            "ShareMessageChanged",
            "ShareExpiryChanged",
            "ShareLimitsChanged",
            "ShareAccessCodeChanged",
            "ShareExpiryChanged"
        ]
    );
    assert_eq!(history["events"][1]["actor"], "alice");
    let removed = t
        .call(
            "PATCH",
            &format!("/api/v1/shares/{id}"),
            Some(&alice),
            Some(json!({"remove_access_code": true})),
        )
        .await
        .json();
    assert_eq!(removed["has_access_code"], false);
    assert_eq!(removed["access_code"], serde_json::Value::Null);
}

#[tokio::test]
async fn cancel_is_final_and_bulk_cancel_answers_for_every_id() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (one, two) = (
        t.share(&alice, &[file], json!({})).await,
        t.share(&alice, &[file], json!({})).await,
    );
    let reply = t
        .call("POST", &format!("/api/v1/shares/{one}/cancel"), Some(&alice), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "cancelled");
    t.call("POST", &format!("/api/v1/shares/{one}/cancel"), Some(&alice), None)
        .await
        .problem(StatusCode::CONFLICT, "share_cancelled");
    t.call(
        "PATCH",
        &format!("/api/v1/shares/{one}"),
        Some(&alice),
        Some(json!({"name": "x"})),
    )
    .await
    .problem(StatusCode::CONFLICT, "share_cancelled");
    let unknown = Uuid::now_v7();
    let bulk = t
        .call(
            "POST",
            "/api/v1/shares/cancel",
            Some(&alice),
            Some(json!({"ids": [one, two, unknown]})),
        )
        .await;
    assert_eq!(bulk.status, StatusCode::OK);
    let outcomes: Vec<(String, String)> = bulk.json()["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            (one.to_string(), "already_cancelled".into()),
            (two.to_string(), "cancelled".into()),
            (unknown.to_string(), "not_found".into())
        ]
    );
    let cancelled = t
        .call("GET", "/api/v1/shares?status=cancelled", Some(&alice), None)
        .await
        .json();
    assert_eq!(cancelled["items"].as_array().unwrap().len(), 2);
    t.call("POST", "/api/v1/shares/cancel", Some(&alice), Some(json!({"ids": []})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "ids_invalid");
}

#[tokio::test]
async fn invalid_settings_are_refused_with_stable_codes_and_nothing_is_appended() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let before = t.count("SELECT count(*) FROM events").await;
    let many: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();
    let cases = [
        (json!({"items": many}), "too_many_items"),
        (json!({"items": []}), "items_required"),
        (json!({"items": [file], "name": "n".repeat(129)}), "name_too_long"),
        (
            json!({"items": [file], "message": "m".repeat(1025)}),
            "message_too_long",
        ),
        (
            json!({"items": [file], "expires_at": start() - Duration::seconds(1)}),
            "expiry_in_past",
        ),
        (json!({"items": [file], "access_code": "abc"}), "access_code_invalid"),
        (
            json!({"items": [file], "access_code": "pässwörd"}),
            "access_code_invalid",
        ),
        (
            json!({"items": [file], "permissions": {"upload": true}}),
            "upload_requires_folder",
        ),
        (json!({"items": [file], "limits": {"download": 0}}), "limit_invalid"),
        (
            json!({"items": [file], "access_code": "abcd", "generate_access_code": true}),
            "conflicting_fields",
        ),
    ];
    for (body, code) in cases {
        t.call("POST", "/api/v1/shares", Some(&alice), Some(body))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    t.call(
        "POST",
        "/api/v1/shares",
        Some(&alice),
        Some(json!({"items": [file], "permissions": {"edit": true}})),
    )
    .await
    .problem(StatusCode::FORBIDDEN, "online_editing_disabled");
    let bobs = t.upload(&t.user("bob"), "bob.txt", b"b", None).await;
    t.call("POST", "/api/v1/shares", Some(&alice), Some(json!({"items": [bobs]})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "item_not_found");
    let auditor = t.token("audrey", "acme", &["auditor"]);
    t.call("POST", "/api/v1/shares", Some(&auditor), Some(json!({"items": [file]})))
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        t.count("SELECT count(*) FROM events").await,
        before + 1,
        "only bob's upload was appended"
    );
}

#[tokio::test]
async fn malformed_bodies_and_missing_tokens_get_problem_documents() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    t.call("POST", "/api/v1/shares", None, Some(json!({"items": []})))
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");
    t.call(
        "POST",
        "/api/v1/shares",
        Some("not-a-token"),
        Some(json!({"items": []})),
    )
    .await
    .problem(StatusCode::UNAUTHORIZED, "unauthorized");
    t.call(
        "POST",
        "/api/v1/shares",
        Some(&alice),
        Some(json!({"items": [], "colour": "red"})),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    t.call("POST", "/api/v1/shares", Some(&alice), Some(json!({"items": "nope"})))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body");
    let raw = axum::http::Request::builder()
        .method("POST")
        .uri("/api/v1/shares")
        .header("authorization", format!("Bearer {alice}"))
        .header("content-type", "application/json")
        .body(axum::body::Body::from(&b"{\"items\": [\xff"[..]))
        .unwrap();
    t.send(raw).await.problem(StatusCode::BAD_REQUEST, "malformed_json");
    t.call("GET", "/api/v1/shares/not-a-uuid", Some(&alice), None)
        .await
        .problem(StatusCode::BAD_REQUEST, "invalid_path_parameter");
    t.call("GET", "/api/v1/shares?limit=1000", Some(&alice), None)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "limit_invalid");
    t.call("GET", "/api/v1/shares?cursor=garbage", Some(&alice), None)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "cursor_invalid");
    assert_eq!(t.count("SELECT count(*) FROM events").await, 0);
}

#[tokio::test]
async fn another_users_share_does_not_exist_for_them_but_an_admin_manages_it() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let id = t.share(&alice, &[file], json!({"access_code": "s3cret"})).await;
    let bob = t.user("bob");
    for (method, path) in [
        ("GET", format!("/api/v1/shares/{id}")),
        ("GET", format!("/api/v1/shares/{id}/link")),
        ("GET", format!("/api/v1/shares/{id}/history")),
        ("GET", format!("/api/v1/shares/{id}/qr.png")),
        ("POST", format!("/api/v1/shares/{id}/cancel")),
    ] {
        t.call(method, &path, Some(&bob), None)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
    }
    t.call(
        "PATCH",
        &format!("/api/v1/shares/{id}"),
        Some(&bob),
        Some(json!({"name": "mine"})),
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    let foreign_admin = t.token("eve", "globex", &["admin"]);
    t.call("GET", &format!("/api/v1/shares/{id}"), Some(&foreign_admin), None)
        .await
        .problem(StatusCode::NOT_FOUND, "not_found");
    let admin = t.token("carol", "acme", &["admin"]);
    let seen = t.call("GET", &format!("/api/v1/shares/{id}"), Some(&admin), None).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(seen.json()["has_access_code"], true);
    assert_eq!(
        seen.json()["access_code"],
        serde_json::Value::Null,
        "the code is for the owner only"
    );
    let cancelled = t
        .call("POST", &format!("/api/v1/shares/{id}/cancel"), Some(&admin), None)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK);
}

#[tokio::test]
async fn a_qr_code_decodes_to_the_link_and_says_when_it_expires() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let created = t
        .create_share(
            &alice,
            &[file],
            json!({"access_code": "qr-code!", "autofill_code": true}),
        )
        .await
        .json();
    let id = created["id"].as_str().unwrap();
    let reply = t
        .call("GET", &format!("/api/v1/shares/{id}/qr.png"), Some(&alice), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "image/png");
    let expires = reply.headers.get("x-qr-expires-at").unwrap().to_str().unwrap();
    assert_eq!(expires, "2026-12-04T10:00:00Z", "valid for 7 days from issue");
    let qr_id: Uuid = reply.headers.get("x-qr-id").unwrap().to_str().unwrap().parse().unwrap();
    let image = image::load_from_memory(&reply.body).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    let link = created["link"].as_str().unwrap();
    assert_eq!(content, format!("{link}&qr={}", qr_id.simple()));
    let svg = t
        .call("GET", &format!("/api/v1/shares/{id}/qr.svg"), Some(&alice), None)
        .await;
    assert_eq!(svg.content_type(), "image/svg+xml");
    assert!(String::from_utf8(svg.body).unwrap().starts_with("<?xml"));
    let history = t
        .call("GET", &format!("/api/v1/shares/{id}/history"), Some(&alice), None)
        .await
        .json();
    let issued: Vec<_> = history["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "ShareQrCodeIssued")
        .collect();
    assert_eq!(issued.len(), 2, "each fetch issues a code, recorded");
    assert_eq!(issued[0]["data"]["expires_at"], "2026-12-04T10:00:00Z");
}

#[tokio::test]
async fn a_custom_domain_is_used_for_links() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"custom_domain": "share.acme.example"})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let created = t.create_share(&alice, &[file], json!({})).await.json();
    assert!(
        created["link"]
            .as_str()
            .unwrap()
            .starts_with("https://share.acme.example/s/")
    );
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_outcome_and_refuse_another_body() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let body = json!({"items": [file], "name": "once"});
    let key = [("idempotency-key", "create-1")];
    let first = t
        .call_with("POST", "/api/v1/shares", Some(&alice), Some(body.clone()), &key)
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = t
        .call_with("POST", "/api/v1/shares", Some(&alice), Some(body.clone()), &key)
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json(), first.json(), "the first outcome, replayed");
    assert_eq!(t.count("SELECT count(*) FROM my_share_links").await, 1, "appended once");
    t.call_with(
        "POST",
        "/api/v1/shares",
        Some(&alice),
        Some(json!({"items": [file], "name": "other"})),
        &key,
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    // Keys are per user: bob's create-1 is his own.
    let bobs_file = t.upload(&t.user("bob"), "b.txt", b"b", None).await;
    let bob = t
        .call_with(
            "POST",
            "/api/v1/shares",
            Some(&t.user("bob")),
            Some(json!({"items": [bobs_file]})),
            &key,
        )
        .await;
    assert_eq!(bob.status, StatusCode::CREATED);

    let id = first.json()["id"].as_str().unwrap().to_owned();
    let cancel_key = [("idempotency-key", "cancel-1")];
    let c1 = t
        .call_with(
            "POST",
            &format!("/api/v1/shares/{id}/cancel"),
            Some(&alice),
            None,
            &cancel_key,
        )
        .await;
    let c2 = t
        .call_with(
            "POST",
            &format!("/api/v1/shares/{id}/cancel"),
            Some(&alice),
            None,
            &cancel_key,
        )
        .await;
    assert_eq!((c1.status, c2.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(c1.json(), c2.json());
    assert_eq!(
        t.count("SELECT count(*) FROM events WHERE event_type = 'ShareCancelled'")
            .await,
        1
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_idempotency_key_make_one_share() {
    let t = std::sync::Arc::new(TestApp::with_pool(20).await);
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (t, alice) = (t.clone(), alice.clone());
        tasks.push(tokio::spawn(async move {
            t.call_with(
                "POST",
                "/api/v1/shares",
                Some(&alice),
                Some(json!({"items": [file]})),
                &[("idempotency-key", "same")],
            )
            .await
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        ids.insert(reply.json()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "every duplicate got the winner's outcome");
    assert_eq!(
        t.count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
            .await,
        1
    );
    // Duplicates that reserved a quota use before losing to the winner gave it back.
    let quota = t.call("GET", "/api/v1/me/quota", Some(&alice), None).await.json();
    assert_eq!(quota["creates"]["used"], json!(1));
}
