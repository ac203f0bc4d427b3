//! The recipient's side through HTTP: open, list, preview, download (ranges), save, upload,
//! edit, report — each recorded as an event with the visitor in its metadata.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::TestApp;

#[tokio::test]
async fn a_recipient_opens_a_coded_link_lists_previews_and_downloads_the_exact_bytes() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let bytes: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let file = t.upload(&alice, "report.bin", &bytes, None).await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[file],
            json!({"access_code": "letmein!", "message": "hi", "limits": {"download": 5}}),
        )
        .await;

    let facts = t.call("GET", &format!("/api/v1/links/{link}"), None, None).await;
    assert_eq!(facts.status, StatusCode::OK);
    assert_eq!(facts.json()["needs_code"], true);
    assert_eq!(facts.json()["owner_name"], "alice display");
    assert_eq!(facts.headers["cache-control"], "no-store");
    assert_eq!(facts.headers["referrer-policy"], "no-referrer");
    assert_eq!(facts.headers["x-content-type-options"], "nosniff");
    assert_eq!(facts.headers["x-robots-tag"], "noindex, nofollow");
    assert!(
        facts.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    let opened = t.open_link(&link, Some("letmein!"), None).await;
    assert_eq!(opened.status, StatusCode::CREATED);
    let cookie = opened.headers["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-shs-") && cookie.contains("Secure; HttpOnly; SameSite=Strict"),
        "{cookie}"
    );
    let session = opened.json()["session"].as_str().unwrap().to_owned();

    let listing = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items"), &session)
        .await;
    assert_eq!(listing.json()["items"][0]["name"], "report.bin");

    let preview = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/preview"), &session)
        .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(
        preview.headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert!(
        preview.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );

    let download = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, bytes, "the exact bytes");
    assert_eq!(
        download.headers["content-disposition"],
        "attachment; filename=\"report.bin\"; filename*=UTF-8''report.bin"
    );
    assert_eq!(download.headers["cache-control"], "no-store");

    let events = t.share_events(share).await;
    let types: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        types,
        ["ShareCreated", "ShareOpened", "FilePreviewed", "FileDownloaded"]
    );
    let meta: serde_json::Value = sqlx::query_scalar("SELECT metadata FROM events WHERE event_type = 'FileDownloaded'")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(meta["actor_kind"], "anonymous");
    assert_eq!(meta["ip"], "192.0.2.1");
    let details = t
        .call("GET", &format!("/api/v1/shares/{share}"), Some(&alice), None)
        .await
        .json();
    assert_eq!(details["counters"]["opens"], 1);
    assert_eq!(details["counters"]["downloads"], 1);
    assert!(details["last_access_at"].is_string());
}

#[tokio::test]
async fn a_range_continuing_a_counted_download_is_not_counted_again_and_head_counts_nothing() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let bytes: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
    let file = t.upload(&alice, "video.bin", &bytes, None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({"limits": {"download": 1}})).await;
    let session = t.session(&link, None, None).await;
    let path = format!("/api/v1/links/{link}/items/{file}/download");
    let head = t.as_recipient("HEAD", &path, &session).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-length"], "1000");
    assert!(head.body.is_empty());
    let first = t
        .request_from("192.0.2.1", "GET", &path, None, Some(&session), None)
        .await;
    assert_eq!(first.status, StatusCode::OK);
    let mut rest = axum::http::Request::builder()
        .method("GET")
        .uri(&path)
        .header("x-share-session", &session)
        .header("range", "bytes=500-")
        .body(axum::body::Body::empty())
        .unwrap();
    rest.extensions_mut().insert(axum::extract::ConnectInfo(
        "192.0.2.1:1".parse::<std::net::SocketAddr>().unwrap(),
    ));
    let rest = t.send(rest).await;
    assert_eq!(
        rest.status,
        StatusCode::PARTIAL_CONTENT,
        "{}",
        String::from_utf8_lossy(&rest.body)
    );
    assert_eq!(rest.body, bytes[500..].to_vec());
    assert_eq!(rest.headers["content-range"], "bytes 500-999/1000");
    let downloads = t
        .share_events(share)
        .await
        .iter()
        .filter(|e| e.0 == "FileDownloaded")
        .count();
    assert_eq!(downloads, 1, "HEAD and the continuing range were not counted");
    // The limit is used up: a new (non-range) download is refused, and so is HEAD.
    t.as_recipient("GET", &path, &session)
        .await
        .problem(StatusCode::FORBIDDEN, "limit_reached");
    assert_eq!(
        t.as_recipient("HEAD", &path, &session).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_signed_in_recipient_saves_a_copy_into_their_own_drive() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "plan.txt", b"the plan", None).await;
    let (share, link) = t
        .shared_link(&alice, &[file], json!({"permissions": {"preview": true, "save": true}}))
        .await;
    let bob = t.token("bob", "globex", &["user"]);
    let session = t.session(&link, None, Some(&bob)).await;
    let saved = t
        .as_recipient("POST", &format!("/api/v1/links/{link}/items/{file}/save"), &session)
        .await;
    assert_eq!(
        saved.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&saved.body)
    );
    let copy = saved.json()["id"].as_str().unwrap().to_owned();
    let drive = t.call("GET", "/api/v1/drive/items", Some(&bob), None).await.json();
    assert_eq!(drive["items"][0]["id"], copy);
    assert_eq!(drive["items"][0]["name"], "plan.txt");
    let content = t
        .call("GET", &format!("/api/v1/drive/items/{copy}/content"), Some(&bob), None)
        .await;
    assert_eq!(content.body, b"the plan");
    let types: Vec<String> = t.share_events(share).await.into_iter().map(|e| e.0).collect();
    assert_eq!(types.last().unwrap(), "FileSaved");
    let registered = t
        .count(&format!(
            "SELECT count(*) FROM events WHERE stream_id = 'item-{copy}' AND event_type = 'FileRegistered'"
        ))
        .await;
    assert_eq!(registered, 1, "the copy's own stream, in the same transaction");
}

#[tokio::test]
async fn an_upload_into_a_shared_folder_lands_in_the_owners_drive() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let inbox = t.folder(&alice, "Inbox").await;
    let (share, link) = t
        .shared_link(
            &alice,
            &[inbox],
            json!({"permissions": {"preview": true, "upload": true}}),
        )
        .await;
    let session = t.session(&link, None, None).await;
    let boundary = "B0UNDARY";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cv.pdf\"\r\nContent-Type: application/pdf\r\n\r\n").into_bytes();
    body.extend_from_slice(b"%PDF-cv");
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(format!("/api/v1/links/{link}/upload"))
        .header("x-share-session", &session)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(axum::body::Body::from(body))
        .unwrap();
    let uploaded = t.send(request).await;
    assert_eq!(
        uploaded.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&uploaded.body)
    );
    let inside = t
        .call(
            "GET",
            &format!("/api/v1/drive/items?parent={inbox}"),
            Some(&alice),
            None,
        )
        .await
        .json();
    assert_eq!(inside["items"][0]["name"], "cv.pdf");
    assert_eq!(inside["items"][0]["size"], 7);
    let listing = t
        .as_recipient("GET", &format!("/api/v1/links/{link}/items?parent={inbox}"), &session)
        .await;
    assert_eq!(listing.json()["items"][0]["name"], "cv.pdf", "the folder is browsable");
    assert_eq!(t.share_events(share).await.last().unwrap().0, "FileUploaded");
}

#[tokio::test]
async fn a_document_is_edited_when_the_link_and_the_enterprise_allow_it() {
    let t = TestApp::new().await;
    t.policy("acme", json!({"online_editing": true})).await;
    let alice = t.user("alice");
    let doc = t.upload(&alice, "notes.txt", b"v1", None).await;
    let (share, link) = t
        .shared_link(&alice, &[doc], json!({"permissions": {"preview": true, "edit": true}}))
        .await;
    let session = t.session(&link, None, None).await;
    let request = axum::http::Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/links/{link}/items/{doc}/content"))
        .header("x-share-session", &session)
        .header("content-type", "text/plain")
        .body(axum::body::Body::from("v2 edited"))
        .unwrap();
    let edited = t.send(request).await;
    assert_eq!(
        edited.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&edited.body)
    );
    assert_eq!(edited.json()["size"], 9);
    let content = t
        .call("GET", &format!("/api/v1/drive/items/{doc}/content"), Some(&alice), None)
        .await;
    assert_eq!(content.body, b"v2 edited");
    assert_eq!(t.share_events(share).await.last().unwrap().0, "DocumentEdited");
}

#[tokio::test]
async fn a_report_is_recorded_and_counted_for_the_owner() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let (share, link) = t.shared_link(&alice, &[file], json!({})).await;
    let reply = t
        .request_from(
            "192.0.2.9",
            "POST",
            &format!("/api/v1/links/{link}/report"),
            None,
            None,
            Some(json!({"reason": "phishing"})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let details = t
        .call("GET", &format!("/api/v1/shares/{share}"), Some(&alice), None)
        .await
        .json();
    assert_eq!(details["counters"]["reports"], 1);
    t.request_from(
        "192.0.2.9",
        "POST",
        &format!("/api/v1/links/{link}/report"),
        None,
        None,
        Some(json!({"reason": " "})),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY, "message_invalid");
}
