//! Issue 10: `/v2/share_link/*` through the router — what the SDK scenario does not reach:
//! the error shape for every kind of bad input (nothing appended), who sees what, idempotent
//! creates, and the query language against the projection.

mod support;

use axum::http::StatusCode;
use serde_json::{Value, json};
use support::{Reply, TestApp};

/// Asserts the reference's error shape: this status and code, a message, plain JSON.
#[track_caller]
fn reference_error(reply: &Reply, status: StatusCode, code: &str) -> String {
    assert_eq!(reply.status, status, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.content_type(), "application/json");
    let body = reply.json();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 2, "only code and message: {body}");
    body["message"].as_str().unwrap().to_owned()
}

async fn pds(app: &TestApp, action: &str, token: Option<&str>, body: Value) -> Reply {
    app.call("POST", &format!("/v2/share_link/{action}"), token, Some(body))
        .await
}

async fn events(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM events").await
}

#[tokio::test]
async fn bad_input_gets_the_reference_error_shape_and_changes_nothing() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let created = pds(&app, "create", Some(&alice), json!({"file_id_list": [file]})).await;
    assert_eq!(
        created.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let share_id = created.json()["share_id"].as_str().unwrap().to_owned();
    let before = events(&app).await;

    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "create",
            json!({"file_id_list": []}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.FileIdList",
        ),
        (
            "create",
            json!({"file_id_list": ["../../etc/passwd"]}),
            StatusCode::NOT_FOUND,
            "NotFound.File",
        ),
        (
            "create",
            json!({"file_id_list": [file], "drive_id": "bob"}),
            StatusCode::NOT_FOUND,
            "NotFound.Drive",
        ),
        (
            "create",
            json!({"file_id_list": [file], "download_limit": -1}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.DownloadLimit",
        ),
        (
            "create",
            json!({"file_id_list": [file], "share_pwd": "abc"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidParameter.AccessCodeInvalid",
        ),
        (
            "create",
            json!({"file_id_list": [file], "share_name": "x".repeat(129)}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidParameter.NameTooLong",
        ),
        (
            "create",
            json!({"file_id_list": [file], "user_id": "bob"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.NotSupported",
        ),
        (
            "create",
            json!({"file_id_list": [file], "creatable_file_id_list": [file]}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.NotSupported",
        ),
        (
            "create",
            json!({"file_id_list": [file], "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidParameter.InvalidBody",
        ),
        (
            "create",
            json!({"file_id_list": "all"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "InvalidParameter.InvalidBody",
        ),
        (
            "update",
            json!({"share_id": share_id, "download_count": 0}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.NotSupported",
        ),
        (
            "update",
            json!({"share_id": share_id, "status": "paused"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Status",
        ),
        (
            "update",
            json!({"share_id": share_id, "expiration": "tomorrow"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Expiration",
        ),
        (
            "update",
            json!({"share_id": "unknown-link"}),
            StatusCode::NOT_FOUND,
            "NotFound.ShareLink",
        ),
        (
            "search",
            json!({"query": "status = 'enabled'; DROP TABLE events"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Query",
        ),
        (
            "search",
            json!({"order_by": "size"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.OrderBy",
        ),
        (
            "search",
            json!({"order_direction": "sideways"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.OrderDirection",
        ),
        (
            "search",
            json!({"marker": "not-a-marker"}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Marker",
        ),
        (
            "list",
            json!({"limit": 0}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.Limit",
        ),
        (
            "list",
            json!({"creator": "bob"}),
            StatusCode::FORBIDDEN,
            "Forbidden.OtherCreators",
        ),
        (
            "get_share_token",
            json!({"share_id": share_id, "expire_sec": 0}),
            StatusCode::BAD_REQUEST,
            "InvalidParameter.ExpireSec",
        ),
        (
            "rename",
            json!({"share_id": share_id}),
            StatusCode::NOT_FOUND,
            "NotFound.Action",
        ),
    ];
    for (action, body, status, code) in cases {
        let reply = pds(&app, action, Some(&alice), body.clone()).await;
        reference_error(&reply, status, code);
        assert!(reply.headers.contains_key("x-ca-request-id"), "{action} {body}");
    }
    let reply = app
        .call_with(
            "POST",
            "/v2/share_link/get",
            Some(&alice),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    reference_error(&reply, StatusCode::BAD_REQUEST, "InvalidParameter.MalformedJson");
    let reply = pds(&app, "get", None, json!({"share_id": share_id})).await;
    reference_error(&reply, StatusCode::UNAUTHORIZED, "Unauthorized");
    assert_eq!(events(&app).await, before, "refused input appended nothing");
}

#[tokio::test]
async fn owners_see_their_code_admins_see_the_share_without_it_and_others_see_nothing() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let reply = pds(
        &app,
        "create",
        Some(&alice),
        json!({"file_id_list": [file], "share_pwd": "open-sesame", "require_login": true, "creatable": false}),
    )
    .await;
    let share = reply.json();
    assert_eq!(share["share_pwd"], "open-sesame");
    assert_eq!(share["require_login"], true);
    let share_id = share["share_id"].as_str().unwrap();

    let admin = app.token("root", "acme", &["admin"]);
    let seen = pds(&app, "get", Some(&admin), json!({"share_id": share_id}))
        .await
        .json();
    assert_eq!(
        (seen["share_name"].as_str(), seen["share_pwd"].as_str()),
        (Some("a.txt"), Some(""))
    );

    for stranger in [app.user("bob"), app.token("root", "other", &["admin"])] {
        for action in ["get", "update", "cancel"] {
            let reply = pds(&app, action, Some(&stranger), json!({"share_id": share_id})).await;
            reference_error(&reply, StatusCode::NOT_FOUND, "NotFound.ShareLink");
        }
        let page = pds(&app, "search", Some(&stranger), json!({})).await.json();
        assert_eq!(page["items"], json!([]));
    }
    // The anonymous facts tell no code and no owner id.
    let facts = pds(&app, "get_by_anonymous", None, json!({"share_id": share_id}))
        .await
        .json();
    assert_eq!(facts["has_pwd"], true);
    assert!(!facts.to_string().contains("open-sesame") && !facts.to_string().contains("alice\""));
}

#[tokio::test]
async fn a_create_retried_with_its_idempotency_key_is_one_share() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let body = json!({"file_id_list": [file], "share_name": "once"});
    let headers = [("idempotency-key", "pds-create-1")];
    let first = app
        .call_with(
            "POST",
            "/v2/share_link/create",
            Some(&alice),
            Some(body.clone()),
            &headers,
        )
        .await;
    let again = app
        .call_with("POST", "/v2/share_link/create", Some(&alice), Some(body), &headers)
        .await;
    assert_eq!(first.json()["share_id"], again.json()["share_id"]);
    assert_eq!(
        app.count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
            .await,
        1
    );
}

#[tokio::test]
async fn update_to_disabled_cancels_and_search_sees_every_field_of_the_language() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let mut ids = Vec::new();
    for (name, expiration) in [
        ("Holiday 100%.jpg", "2026-12-01T00:00:00Z"),
        ("holiday_plan.doc", ""),
        ("budget.xlsx", "2026-11-28T00:00:00+08:00"),
    ] {
        let reply = pds(
            &app,
            "create",
            Some(&alice),
            json!({"file_id_list": [file], "share_name": name, "expiration": expiration}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        ids.push(reply.json()["share_id"].as_str().unwrap().to_owned());
    }
    let disabled = pds(
        &app,
        "update",
        Some(&alice),
        json!({"share_id": ids[2], "status": "disabled"}),
    )
    .await;
    assert_eq!(disabled.json()["status"], "disabled");

    let names = |reply: Reply| -> Vec<String> {
        let body = reply.json();
        body["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|i| i["share_name"].as_str().unwrap().to_owned())
            .collect()
    };
    let search = |query: &str| {
        pds(
            &app,
            "search",
            Some(&alice),
            json!({"query": query, "order_by": "share_name", "order_direction": "asc"}),
        )
    };
    // Case-insensitive substring; `%` and `_` are literal.
    assert_eq!(
        names(search("share_name_for_fuzzy match 'HOLIDAY'").await),
        ["Holiday 100%.jpg", "holiday_plan.doc"]
    );
    assert_eq!(
        names(search("share_name_for_fuzzy match '100%'").await),
        ["Holiday 100%.jpg"]
    );
    assert_eq!(
        names(search("share_name_for_fuzzy match 'y_p'").await),
        ["holiday_plan.doc"]
    );
    // Permanent shares compare as the epoch.
    assert_eq!(
        names(search("expired_time = '1970-01-01T00:00:00'").await),
        ["holiday_plan.doc"]
    );
    assert_eq!(
        names(search("expired_time > '2026-11-27T00:00:00' and expired_time < '2026-11-30T00:00:00'").await),
        ["budget.xlsx"]
    );
    assert_eq!(
        names(search("status != 'disabled'").await),
        ["Holiday 100%.jpg", "holiday_plan.doc"]
    );
    assert_eq!(
        names(search("status = 'disabled' or share_name_for_fuzzy match 'plan'").await),
        ["budget.xlsx", "holiday_plan.doc"]
    );
    assert_eq!(
        names(search("updated_at < '2000-01-01T00:00:00Z'").await),
        Vec::<String>::new()
    );
    let all = pds(
        &app,
        "search",
        Some(&alice),
        json!({"return_total_count": true, "limit": 1}),
    )
    .await
    .json();
    assert_eq!(
        (all["total_count"].as_i64(), all["items"].as_array().unwrap().len()),
        (Some(3), 1)
    );
    assert!(!all["next_marker"].as_str().unwrap().is_empty());
    // Expired is its own flag, beside the status.
    app.clock.advance(chrono::Duration::days(10));
    let got = pds(&app, "get", Some(&alice), json!({"share_id": ids[0]})).await.json();
    assert_eq!(
        (got["status"].as_str(), got["expired"].as_bool()),
        (Some("enabled"), Some(true))
    );
}

#[tokio::test]
async fn a_search_that_requires_a_name_goes_through_the_name_index_and_pages_exactly() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "a.txt", b"a", None).await;
    let mut made: Vec<(String, String, bool)> = Vec::new();
    for i in 0..40 {
        app.clock.advance(chrono::Duration::seconds(1));
        let name = match i % 4 {
            0 => format!("Q{i} Report.pdf"),
            1 => format!("photo-{i}.jpg"),
            2 => format!("report_{i}.doc"),
            _ => format!("Ünïcode report {i}"),
        };
        let reply = pds(
            &app,
            "create",
            Some(&alice),
            json!({"file_id_list": [file], "share_name": name}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        let id = reply.json()["share_id"].as_str().unwrap().to_owned();
        let disabled = i % 5 == 0;
        if disabled {
            let reply = pds(
                &app,
                "update",
                Some(&alice),
                json!({"share_id": id, "status": "disabled"}),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        made.push((id, name, disabled));
    }
    let page_through = |query: &'static str, order_by: &'static str, direction: &'static str| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let (mut got, mut marker) = (Vec::new(), String::new());
            loop {
                let body = pds(
                    app,
                    "search",
                    Some(&alice),
                    json!({"query": query, "limit": 3, "order_by": order_by, "order_direction": direction,
                           "marker": marker, "return_total_count": true}),
                )
                .await
                .json();
                let items = body["items"].as_array().unwrap_or_else(|| panic!("{body}"));
                got.extend(items.iter().map(|i| i["share_id"].as_str().unwrap().to_owned()));
                marker = body["next_marker"].as_str().unwrap().to_owned();
                if marker.is_empty() {
                    return (got, body["total_count"].as_i64().unwrap());
                }
            }
        }
    };
    let report = |name: &str| name.to_lowercase().contains("report");
    // Newest first: the reverse of creation.
    let want: Vec<String> = made
        .iter()
        .rev()
        .filter(|(_, name, disabled)| report(name) && !disabled)
        .map(|(id, ..)| id.clone())
        .collect();
    let (got, total) = page_through(
        "share_name_for_fuzzy match 'REPORT' and status = 'enabled'",
        "created_at",
        "DESC",
    )
    .await;
    assert_eq!((got.len() as i64, &got), (total, &want));
    assert!(want.len() > 20, "several pages, the non-ASCII names among them");
    assert!(app.state.names().horizon("alice").is_some(), "the index was used");
    // By name, with the match inside an `and` of an `and`: the same shares, in name order.
    let mut by_name: Vec<&(String, String, bool)> = made.iter().filter(|(_, name, _)| report(name)).collect();
    by_name.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let (got, total) = page_through(
        "(share_name_for_fuzzy match 'port' and share_name_for_fuzzy match 'repo') and status in ['enabled', 'disabled']",
        "share_name",
        "ASC",
    )
    .await;
    assert_eq!(got, by_name.iter().map(|m| m.0.clone()).collect::<Vec<_>>());
    assert_eq!(total, by_name.len() as i64);
    // Under an `or` the name is not required: the database alone, the same answer as always.
    let (got, _) = page_through(
        "share_name_for_fuzzy match 'photo' or status = 'disabled'",
        "created_at",
        "ASC",
    )
    .await;
    let want: Vec<String> = made
        .iter()
        .filter(|(_, name, disabled)| name.contains("photo") || *disabled)
        .map(|(id, ..)| id.clone())
        .collect();
    assert_eq!(got, want);
}
