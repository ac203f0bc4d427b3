//! SECURITY 25: whatever arrives at a JSON endpoint — malformed JSON, wrong types, huge strings,
//! unknown fields, invalid UTF-8, path tricks — the answer is a 4xx problem body (or a success
//! for what happens to be valid), never a 5xx or a panic, and a refusal appends nothing.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use support::TestApp;

/// A valid body per endpoint, the start of every mutation.
fn endpoints(file: &str, folder: &str, share: &str, link: &str) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "POST",
            "/api/v1/shares".into(),
            json!({"items": [file], "name": "n", "limits": {"download": 3}}),
        ),
        (
            "PATCH",
            format!("/api/v1/shares/{share}"),
            json!({"name": "m", "permissions": {"preview": true}, "expires_at": null}),
        ),
        ("POST", "/api/v1/shares/cancel".into(), json!({"ids": [share]})),
        (
            "POST",
            "/api/v1/drive/items".into(),
            json!({"kind": "folder", "name": "F"}),
        ),
        ("PATCH", format!("/api/v1/drive/items/{folder}"), json!({"name": "G"})),
        (
            "PUT",
            "/api/v1/admin/policy".into(),
            json!({"daily_quota": 600, "time_zone": "UTC"}),
        ),
        ("POST", format!("/api/v1/links/{link}/session"), json!({"code": "abcd"})),
        (
            "POST",
            format!("/api/v1/links/{link}/report"),
            json!({"reason": "spam"}),
        ),
        // The reference product's API (errors in its own `{code, message}` shape).
        (
            "POST",
            "/v2/share_link/create".into(),
            json!({"file_id_list": [file], "share_name": "n", "download_limit": 3, "expiration": ""}),
        ),
        (
            "POST",
            "/v2/share_link/update".into(),
            json!({"share_id": link, "share_name": "m", "disable_save": true, "preview_limit": 0}),
        ),
        (
            "POST",
            "/v2/share_link/search".into(),
            json!({"query": "status = 'enabled' and share_name_for_fuzzy match 'n'", "limit": 5, "marker": ""}),
        ),
        (
            "POST",
            "/v2/share_link/get_share_token".into(),
            json!({"share_id": link, "share_pwd": "abcd", "expire_sec": 60}),
        ),
    ]
}

/// Ways to spoil a body.
#[derive(Debug, Clone)]
enum Spoil {
    /// Arbitrary bytes (mostly not JSON, often not UTF-8).
    Bytes(Vec<u8>),
    /// Valid JSON of any shape.
    Json(Value),
    /// The valid body with one field replaced by this value.
    Field(usize, Value),
    /// The valid body with an extra field.
    Unknown(String, Value),
    /// The valid body cut short.
    Truncated(usize),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        (1usize..200_000).prop_map(|n| Value::String("x".repeat(n))),
        Just(json!("../../etc/passwd")),
        Just(json!("\u{0}\u{202e}名前")),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!("2026-13-45T99:00:00Z")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn spoil() -> impl Strategy<Value = (usize, Spoil)> {
    (
        0usize..12,
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(Spoil::Bytes),
            json_value().prop_map(Spoil::Json),
            (0usize..8, json_value()).prop_map(|(i, v)| Spoil::Field(i, v)),
            ("[a-z_]{1,12}", json_value()).prop_map(|(k, v)| Spoil::Unknown(k, v)),
            (0usize..60).prop_map(Spoil::Truncated),
        ],
    )
}

fn body_of(valid: &Value, spoil: &Spoil) -> Vec<u8> {
    match spoil {
        Spoil::Bytes(b) => b.clone(),
        Spoil::Json(v) => serde_json::to_vec(v).unwrap(),
        Spoil::Field(i, v) => {
            let mut body = valid.clone();
            let map = body.as_object_mut().unwrap();
            let key = map.keys().nth(i % map.len()).unwrap().clone();
            map.insert(key, v.clone());
            serde_json::to_vec(&body).unwrap()
        }
        Spoil::Unknown(k, v) => {
            let mut body = valid.clone();
            body.as_object_mut().unwrap().insert(format!("x_{k}"), v.clone());
            serde_json::to_vec(&body).unwrap()
        }
        Spoil::Truncated(n) => {
            let bytes = serde_json::to_vec(valid).unwrap();
            bytes[..(*n).min(bytes.len().saturating_sub(1))].to_vec()
        }
    }
}

#[test]
fn spoiled_bodies_get_4xx_problems_and_append_nothing() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, endpoints, alice, admin) = runtime.block_on(async {
        let app = TestApp::new().await;
        let alice = app.user("alice");
        let admin = app.token("carol", "acme", &["user", "admin"]);
        let file = app.upload(&alice, "report.pdf", b"numbers", None).await;
        let folder = app.folder(&alice, "Projects").await;
        let (share, link) = app.shared_link(&alice, &[file], json!({"access_code": "abcd"})).await;
        let endpoints = endpoints(&file.to_string(), &folder.to_string(), &share.to_string(), &link);
        (app, endpoints, alice, admin)
    });
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(400);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&spoil(), |(which, spoil)| {
            let (method, path, valid) = &endpoints[which];
            let body = body_of(valid, &spoil);
            let token = if path.contains("/admin/") { &admin } else { &alice };
            let (status, content_type, appended, text) = runtime.block_on(async {
                let before = app.count("SELECT count(*) FROM events").await;
                let request = Request::builder()
                    .method(*method)
                    .uri(path.as_str())
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap();
                let reply = app.send(request).await;
                let after = app.count("SELECT count(*) FROM events").await;
                (
                    reply.status,
                    reply.content_type().to_owned(),
                    after - before,
                    String::from_utf8_lossy(&reply.body[..reply.body.len().min(300)]).into_owned(),
                )
            });
            prop_assert!(
                !status.is_server_error(),
                "{method} {path} with {spoil:?}: {status} {text}"
            );
            if status.is_client_error() {
                // The reference product's API answers in its own shape: `{code, message}`.
                let expected = if path.starts_with("/v2/") {
                    "application/json"
                } else {
                    "application/problem+json"
                };
                prop_assert_eq!(&content_type, expected, "{} {}: {}", method, path, text);
                // Opening a link without the right code is the one refusal that is itself an
                // event (AccessRefused: code missing, wrong, or throttled).
                let refusal_event = (path.ends_with("/session") || path.ends_with("/get_share_token"))
                    && [
                        StatusCode::UNAUTHORIZED,
                        StatusCode::FORBIDDEN,
                        StatusCode::TOO_MANY_REQUESTS,
                    ]
                    .contains(&status);
                prop_assert!(
                    appended == 0 || (refusal_event && appended == 1),
                    "{method} {path} refused with {status} but appended {appended} event(s)"
                );
            }
            Ok(())
        })
        .unwrap();
}

#[tokio::test]
async fn path_tricks_and_invalid_utf8_in_paths_and_queries_are_4xx() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    for path in [
        "/api/v1/shares/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/shares/%FF%FE",
        "/api/v1/drive/items/00000000-0000-0000-0000-000000000000/content",
        "/api/v1/shares?q=%FF&limit=abc",
        "/api/v1/shares?cursor=%00%00",
        "/api/v1/links/%2e%2e/items",
        "/api/v1/audit/events?from=yesterday",
    ] {
        let reply = app.call("GET", path, Some(&alice), None).await;
        assert!(reply.status.is_client_error(), "{path}: {}", reply.status);
        assert_eq!(reply.content_type(), "application/problem+json", "{path}");
    }
    let upload = app.upload_raw(&alice, "../../../etc/passwd", b"x", None).await;
    assert!(
        upload.status.is_success() || upload.status.is_client_error(),
        "{}",
        upload.status
    );
    if upload.status.is_success() {
        let name = upload.json()["name"].as_str().unwrap().to_owned();
        assert!(!name.contains('/'), "a stored name never carries a path: {name}");
    }
}
