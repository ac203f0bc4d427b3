//! The built-in drive through the API.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::TestApp;
use uuid::Uuid;

#[tokio::test]
async fn files_and_folders_are_uploaded_listed_renamed_deleted_and_restored() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let folder = t.folder(&alice, "Projects").await;
    let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let file = t.upload(&alice, "big.bin", &bytes, Some(folder)).await;
    let top = t.call("GET", "/api/v1/drive/items", Some(&alice), None).await.json();
    assert_eq!(top["items"].as_array().unwrap().len(), 1);
    assert_eq!(top["items"][0]["kind"], "folder");
    let inside = t
        .call(
            "GET",
            &format!("/api/v1/drive/items?parent={folder}"),
            Some(&alice),
            None,
        )
        .await
        .json();
    assert_eq!(inside["items"][0]["id"], file.to_string());
    assert_eq!(inside["items"][0]["size"], 100_000);
    let content = t
        .call(
            "GET",
            &format!("/api/v1/drive/items/{file}/content"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(content.status, StatusCode::OK);
    assert_eq!(content.body, bytes);
    let range = t
        .call_with(
            "GET",
            &format!("/api/v1/drive/items/{file}/content"),
            Some(&alice),
            None,
            &[("range", "bytes=10-19")],
        )
        .await;
    assert_eq!(range.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(range.body, bytes[10..20].to_vec());
    assert_eq!(range.headers.get("content-range").unwrap(), "bytes 10-19/100000");

    let renamed = t
        .call(
            "PATCH",
            &format!("/api/v1/drive/items/{file}"),
            Some(&alice),
            Some(json!({"name": "renamed.bin"})),
        )
        .await;
    assert_eq!(renamed.json()["name"], "renamed.bin");
    t.call(
        "PATCH",
        &format!("/api/v1/drive/items/{file}"),
        Some(&alice),
        Some(json!({"name": "../etc/passwd"})),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "item_name_invalid");
    let deleted = t
        .call("DELETE", &format!("/api/v1/drive/items/{folder}"), Some(&alice), None)
        .await;
    assert_eq!(deleted.json()["deleted"], true);
    // A file inside a deleted folder cannot be shared, alone or beside another (one item and
    // several are read by different statements).
    t.create_share(&alice, &[file], json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "item_deleted");
    let loose = t.upload(&alice, "loose.txt", b"loose", None).await;
    t.create_share(&alice, &[loose, file], json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "item_deleted");
    let restored = t
        .call(
            "POST",
            &format!("/api/v1/drive/items/{folder}/restore"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(restored.json()["deleted"], false);
    assert_eq!(
        t.create_share(&alice, &[file], json!({})).await.status,
        StatusCode::CREATED
    );
    assert_eq!(
        t.create_share(&alice, &[loose, file], json!({})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn someone_elses_items_and_bad_uploads_are_refused() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let bob = t.user("bob");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    for (method, path) in [
        ("GET", format!("/api/v1/drive/items/{file}")),
        ("DELETE", format!("/api/v1/drive/items/{file}")),
    ] {
        t.call(method, &path, Some(&bob), None)
            .await
            .problem(StatusCode::NOT_FOUND, "not_found");
    }
    t.upload_raw(&bob, "x.txt", b"x", Some(file))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "parent_not_found");
    t.upload_raw(&alice, "x.txt", b"x", Some(file))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "parent_not_folder");
    t.upload_raw(&alice, "x.txt", b"x", Some(Uuid::now_v7()))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY, "parent_not_found");
    t.call(
        "POST",
        "/api/v1/drive/items",
        Some(&alice),
        Some(json!({"kind": "file", "name": "x"})),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "kind_invalid");
    let auditor = t.token("audrey", "acme", &["auditor"]);
    t.upload_raw(&auditor, "x.txt", b"x", None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn an_upload_larger_than_the_limit_is_refused_and_nothing_is_recorded() {
    let db = shareledger::testkit::TestDb::new().await;
    let mut config = db.config();
    config.max_upload_bytes = 1000;
    let state = shareledger::state::AppState::new(config, db.pool.clone()).unwrap();
    let t = support::TestApp {
        app: shareledger::http::app(state.clone()),
        state,
        clock: shareledger::clock::ManualClock::new(support::start()),
        db,
    };
    let alice = t.user("alice");
    t.upload_raw(&alice, "big.bin", &vec![7u8; 1001], None)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "file_too_large");
    assert_eq!(t.count("SELECT count(*) FROM events").await, 0);
    assert_eq!(
        t.upload_raw(&alice, "ok.bin", &[7u8; 1000], None).await.status,
        StatusCode::CREATED
    );
}
