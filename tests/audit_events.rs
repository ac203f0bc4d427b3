//! The compliance queries: filters, pages, streams, scoping, redaction, client-address modes.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use shareledger::service::audit::{AuditRow, ClientIpMode};
use shareledger::state::{AppOptions, AppState};
use support::{TestApp, catch_up};
use uuid::Uuid;

/// Two enterprises' activity: acme's alice shares a file with a code; visitors from two
/// addresses open it (one with a wrong code first) and download; globex's gus shares too.
struct Seeded {
    app: TestApp,
    share: Uuid,
    code: String,
    link: String,
    session: String,
}

async fn seeded() -> Seeded {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "report.pdf", b"numbers", None).await;
    let (share, link) = app
        .shared_link(&alice, &[file], json!({"access_code": "s3cret-code"}))
        .await;
    let wrong = app
        .request_from(
            "198.51.100.9",
            "POST",
            &format!("/api/v1/links/{link}/session"),
            None,
            None,
            Some(json!({"code": "nope"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let mut session = String::new();
    for ip in ["198.51.100.9", "203.0.113.7"] {
        let opened = app
            .request_from(
                ip,
                "POST",
                &format!("/api/v1/links/{link}/session"),
                None,
                None,
                Some(json!({"code": "s3cret-code"})),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED);
        session = opened.json()["session"].as_str().unwrap().to_owned();
        let got = app
            .request_from(
                ip,
                "GET",
                &format!("/api/v1/links/{link}/items/{file}/download"),
                None,
                Some(&session),
                None,
            )
            .await;
        assert_eq!(got.status, StatusCode::OK);
    }
    let gus = app.token("gus", "globex", &["user"]);
    let gfile = app.upload(&gus, "plan.txt", b"plan", None).await;
    app.share(&gus, &[gfile], json!({})).await;
    catch_up(&app.db).await;
    Seeded {
        app,
        share,
        code: "s3cret-code".into(),
        link,
        session,
    }
}

/// Every page of a selection, following `next_cursor`.
async fn all_pages(app: &TestApp, token: &str, query: &str, limit: usize) -> Vec<AuditRow> {
    let mut rows = Vec::new();
    let mut after = String::new();
    loop {
        let reply = app
            .call(
                "GET",
                &format!("/api/v1/audit/events?{query}&limit={limit}{after}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        let page = reply.json();
        let events: Vec<AuditRow> = serde_json::from_value(page["events"].clone()).unwrap();
        assert!(events.len() <= limit);
        rows.extend(events);
        match page["next_cursor"].as_str() {
            Some(c) => after = format!("&after={c}"),
            None => return rows,
        }
    }
}

async fn positions(app: &TestApp, sql: &str) -> Vec<i64> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&app.db.pool)
        .await
        .unwrap()
}

fn pos(rows: &[AuditRow]) -> Vec<i64> {
    rows.iter().map(|r| r.position).collect()
}

#[tokio::test]
async fn filters_and_pages_return_exactly_the_expected_events() {
    let s = seeded().await;
    let auditor = s.app.token("ann", "acme", &["auditor"]);
    let order = "ORDER BY tx_id, global_position";

    let by_share = all_pages(&s.app, &auditor, &format!("share={}", s.share), 2).await;
    assert_eq!(
        pos(&by_share),
        positions(
            &s.app,
            &format!(
                "SELECT global_position FROM events WHERE stream_id = 'share-{}' {order}",
                s.share
            )
        )
        .await
    );
    assert_eq!(by_share[0].event_type, "ShareCreated");
    assert_eq!(by_share[0].actor.as_deref(), Some("alice"));

    let refused = all_pages(&s.app, &auditor, "outcome=refused", 100).await;
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].event_type, "AccessRefused");
    assert_eq!(refused[0].reason.as_deref(), Some("code_wrong"));
    assert_eq!(refused[0].client_ip.as_deref(), Some("198.51.100.9"));

    let downloads = all_pages(&s.app, &auditor, "type=FileDownloaded,ShareOpened&ip=203.0.113.7", 1).await;
    let types: Vec<&str> = downloads.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(types, ["ShareOpened", "FileDownloaded"]);

    // Several keys together (one index holds them all): exactly the rows matching each.
    let from_ip = all_pages(&s.app, &auditor, "ip=203.0.113.7", 100).await;
    assert!(from_ip.len() >= 2);
    for enterprise in ["acme", "globex"] {
        let expected: Vec<i64> = from_ip
            .iter()
            .filter(|r| r.enterprise_id.as_deref() == Some(enterprise))
            .map(|r| r.position)
            .collect();
        let both = all_pages(&s.app, &auditor, &format!("ip=203.0.113.7&enterprise={enterprise}"), 2).await;
        assert_eq!(pos(&both), expected, "{enterprise}");
        let actors: BTreeSet<&str> = from_ip.iter().filter_map(|r| r.actor.as_deref()).collect();
        for actor in actors {
            let expected: Vec<i64> = from_ip
                .iter()
                .filter(|r| r.enterprise_id.as_deref() == Some(enterprise) && r.actor.as_deref() == Some(actor))
                .map(|r| r.position)
                .collect();
            let all_three = format!("ip=203.0.113.7&enterprise={enterprise}&actor={}", urlencode(actor));
            assert_eq!(
                pos(&all_pages(&s.app, &auditor, &all_three, 100).await),
                expected,
                "{all_three}"
            );
        }
    }

    let globex = all_pages(&s.app, &auditor, "enterprise=globex", 100).await;
    assert!(!globex.is_empty());
    assert!(globex.iter().all(|r| r.enterprise_id.as_deref() == Some("globex")));
    assert_eq!(
        pos(&all_pages(&s.app, &auditor, "actor=gus", 100).await),
        positions(
            &s.app,
            &format!("SELECT global_position FROM events WHERE metadata->>'actor' = 'gus' {order}")
        )
        .await
    );

    // A time range, cut in the middle of the history.
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT recorded_at FROM events {order}")))
            .fetch_all(&s.app.db.pool)
            .await
            .unwrap();
    let (from, to) = (times[2], times[times.len() - 2]);
    let q = format!(
        "from={}&to={}",
        urlencode(&from.to_rfc3339()),
        urlencode(&to.to_rfc3339())
    );
    let ranged = all_pages(&s.app, &auditor, &q, 3).await;
    let expected: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT global_position FROM events WHERE recorded_at >= $1 AND recorded_at < $2 {order}"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(&s.app.db.pool)
    .await
    .unwrap();
    assert_eq!(pos(&ranged), expected);

    // Pages of any size add up to the same selection, without duplicates.
    let everything = all_pages(&s.app, &auditor, "", 1000).await;
    for size in [1, 3, 7] {
        let paged = all_pages(&s.app, &auditor, "", size).await;
        assert_eq!(pos(&paged), pos(&everything));
    }
    assert_eq!(
        pos(&everything).into_iter().collect::<BTreeSet<_>>().len(),
        everything.len()
    );
}

#[tokio::test]
async fn admins_see_their_own_enterprise_and_everyone_else_is_refused() {
    let s = seeded().await;
    let admin = s.app.token("carol", "acme", &["admin"]);
    let rows = all_pages(&s.app, &admin, "", 100).await;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.enterprise_id.as_deref() == Some("acme")));
    s.app
        .call("GET", "/api/v1/audit/events?enterprise=globex", Some(&admin), None)
        .await
        .problem(StatusCode::FORBIDDEN, "forbidden");
    for roles in [&["user"][..], &["analyst"][..]] {
        let token = s.app.token("dave", "acme", roles);
        s.app
            .call("GET", "/api/v1/audit/events", Some(&token), None)
            .await
            .problem(StatusCode::FORBIDDEN, "forbidden");
    }
    s.app
        .call("GET", "/api/v1/audit/events", None, None)
        .await
        .problem(StatusCode::UNAUTHORIZED, "unauthorized");
    let auditor = s.app.token("ann", "acme", &["auditor"]);
    for bad in [
        "limit=0",
        "limit=1001",
        "outcome=maybe",
        "after=nonsense",
        "type=Share%20Created",
        "from=2026-11-28T00:00:00Z&to=2026-11-27T00:00:00Z",
        "share=not-a-uuid",
        "colour=blue",
    ] {
        let reply = s
            .app
            .call("GET", &format!("/api/v1/audit/events?{bad}"), Some(&auditor), None)
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.content_type(), "application/problem+json");
    }
}

async fn stream(app: &TestApp, token: &str, accept: &str, query: &str) -> (String, String) {
    let request = Request::builder()
        .uri(format!("/api/v1/audit/events?{query}"))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", accept)
        .body(Body::empty())
        .unwrap();
    let reply = app.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    (
        reply.content_type().to_owned(),
        String::from_utf8(reply.body.clone()).unwrap(),
    )
}

#[tokio::test]
async fn ndjson_and_csv_streams_parse_back_to_the_same_rows_and_hold_no_secret() {
    let s = seeded().await;
    let auditor = s.app.token("ann", "acme", &["auditor"]);
    let pages = all_pages(&s.app, &auditor, "", 1000).await;

    let (content_type, ndjson) = stream(&s.app, &auditor, "application/x-ndjson", "").await;
    assert_eq!(content_type, "application/x-ndjson");
    let from_ndjson: Vec<AuditRow> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(from_ndjson, pages);

    let (content_type, csv) = stream(&s.app, &auditor, "text/csv", "").await;
    assert!(content_type.starts_with("text/csv"));
    let records = parse_csv(&csv);
    assert_eq!(records[0][0], "cursor");
    assert_eq!(records.len() - 1, pages.len());
    for (record, row) in records[1..].iter().zip(&pages) {
        assert_eq!(record[0], row.cursor);
        assert_eq!(record[1], row.position.to_string());
        assert_eq!(record[6], row.event_type);
        assert_eq!(record[8], row.actor.clone().unwrap_or_default());
        assert_eq!(record[11], row.client_ip.clone().unwrap_or_default());
        assert_eq!(serde_json::from_str::<Value>(&record[16]).unwrap(), row.data);
    }

    // No access code, link token or session anywhere in what auditors get.
    for text in [&ndjson, &csv] {
        assert!(!text.contains(&s.code));
        assert!(!text.contains(&s.link));
        assert!(!text.contains(&s.session));
    }
}

#[tokio::test]
async fn client_addresses_are_shown_as_configured_and_said_so() {
    let s = seeded().await;
    let auditor = s.app.token("ann", "acme", &["auditor"]);
    let reply = s
        .app
        .call("GET", "/api/v1/audit/events?outcome=refused", Some(&auditor), None)
        .await;
    assert_eq!(reply.headers["shareledger-client-ip"], "full");
    assert_eq!(reply.json()["client_ip"], "full");

    let mut config = s.app.db.config();
    config.audit_client_ip = ClientIpMode::Truncated;
    let state = AppState::with_options(
        config,
        s.app.db.pool.clone(),
        AppOptions {
            clock: Arc::new(s.app.clock.clone()),
        },
    )
    .unwrap();
    let truncated = TestApp {
        app: shareledger::http::app(state.clone()),
        state,
        db: s.app.db,
        clock: s.app.clock.clone(),
    };
    let auditor = truncated.token("ann", "acme", &["auditor"]);
    let reply = truncated
        .call("GET", "/api/v1/audit/events?outcome=refused", Some(&auditor), None)
        .await;
    assert_eq!(reply.headers["shareledger-client-ip"], "truncated");
    assert_eq!(reply.json()["events"][0]["client_ip"], "198.51.100.0/24");
    let (_, ndjson) = stream(&truncated, &auditor, "application/x-ndjson", "").await;
    assert!(!ndjson.contains("198.51.100.9") && !ndjson.contains("203.0.113.7"));
}

/// A minimal RFC 4180 reader for the test.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let (mut record, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    records
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

/// 200,000 events exported by the command line: the files hold every row, NDJSON and CSV agree
/// row for row, and the exporter's memory stays far below the size of what it wrote.
#[tokio::test]
async fn a_large_export_streams_with_bounded_memory_and_parses_back() {
    use shareledger::store::{EventMetadata, NewEvent, StreamAppend, StreamHead};
    const SHARES: usize = 200;
    const PER_SHARE: usize = 1_000;
    let app = TestApp::new().await;
    let at = app.clock_now();
    let agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) ".repeat(4);
    for s in 0..SHARES {
        let share = Uuid::now_v7();
        let metadata = EventMetadata {
            actor: Some(format!("visitor-{s}")),
            actor_kind: Some("anonymous".into()),
            ip: Some(format!("198.51.{}.{}", s / 250, s % 250)),
            user_agent: Some(agent.clone()),
            ..EventMetadata::default()
        };
        let events = (0..PER_SHARE)
            .map(|i| {
                NewEvent::new(
                    "FileDownloaded",
                    1,
                    json!({"session_id": Uuid::now_v7(), "item_id": share, "bytes": i, "counted": true}),
                    &metadata,
                    at,
                )
            })
            .collect();
        app.state
            .store()
            .append(&[StreamAppend {
                stream_id: format!("share-{share}"),
                expected: StreamHead::EMPTY,
                events,
            }])
            .await
            .unwrap();
    }
    catch_up(&app.db).await;
    let total = (SHARES * PER_SHARE) as u64;

    let config = app.db.config();
    std::fs::create_dir_all(&config.data_dir).unwrap();
    let export = |format: &str| {
        let output = config.data_dir.join(format!("export.{format}"));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_shareledger"))
            .arg("--data-dir")
            .arg(&config.data_dir)
            .args(["audit", "export", "--format", format, "--output"])
            .arg(&output)
            .env("DATABASE_URL", config.database_url.as_deref().unwrap())
            .env("SHARELEDGER_LOG", "warn")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Peak resident memory, read from /proc while it runs.
        let status = format!("/proc/{}/status", child.id());
        let mut peak_kib = 0u64;
        while child.try_wait().unwrap().is_none() {
            if let Ok(text) = std::fs::read_to_string(&status)
                && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
            {
                peak_kib = line.split_whitespace().nth(1).unwrap().parse().unwrap();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let size = std::fs::metadata(&output).unwrap().len();
        (output, peak_kib, size)
    };

    let (ndjson, peak, size) = export("ndjson");
    assert!(size > 120 << 20, "{size} bytes written");
    assert!(
        peak * 1024 < size / 2,
        "peak RSS {peak} KiB for a {size}-byte export: the rows are not streamed"
    );
    let (csv, peak, size) = export("csv");
    assert!(peak * 1024 < size / 2, "peak RSS {peak} KiB for a {size}-byte CSV");

    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}.meta.json", ndjson.display())).unwrap()).unwrap();
    assert_eq!(meta["rows"], total);
    assert_eq!(meta["client_ip"], "full");

    use std::io::BufRead;
    let ndjson_rows = std::io::BufReader::new(std::fs::File::open(&ndjson).unwrap()).lines();
    let csv_text = std::fs::read_to_string(&csv).unwrap();
    let records = parse_csv(&csv_text);
    assert_eq!(records.len() as u64, total + 1);
    let mut last = 0i64;
    let mut count = 0u64;
    for (line, record) in ndjson_rows.zip(&records[1..]) {
        let row: AuditRow = serde_json::from_str(&line.unwrap()).unwrap();
        assert_eq!(record[0], row.cursor);
        assert_eq!(record[12], row.user_agent.clone().unwrap());
        assert_eq!(serde_json::from_str::<Value>(&record[16]).unwrap(), row.data);
        assert!(row.position > last, "log order");
        last = row.position;
        count += 1;
    }
    assert_eq!(count, total);
}

/// The point-in-time state equals what the owner's details showed at that moment.
#[tokio::test]
async fn a_shares_state_as_of_an_instant_is_what_the_api_reported_then() {
    let app = TestApp::new().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "report.pdf", b"numbers", None).await;
    let (share, link) = app
        .shared_link(&alice, &[file], json!({"name": "first", "limits": {"download": 3}}))
        .await;
    async fn details(app: &TestApp, alice: &str, share: Uuid) -> (Value, chrono::DateTime<chrono::Utc>) {
        let reply = app
            .call("GET", &format!("/api/v1/shares/{share}"), Some(alice), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        (reply.json(), chrono::Utc::now())
    }
    let mut moments = vec![details(&app, &alice, share).await];
    let changed = app
        .call(
            "PATCH",
            &format!("/api/v1/shares/{share}"),
            Some(&alice),
            Some(json!({"name": "second", "permissions": {"preview": true}, "limits": {"download": 5}})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    moments.push(details(&app, &alice, share).await);
    let session = app.session(&link, None, None).await;
    let got = app
        .as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/preview"), &session)
        .await;
    assert_eq!(got.status, StatusCode::OK);
    moments.push(details(&app, &alice, share).await);
    app.call("POST", &format!("/api/v1/shares/{share}/cancel"), Some(&alice), None)
        .await;
    moments.push(details(&app, &alice, share).await);

    let auditor = app.token("ann", "acme", &["auditor"]);
    for (then, at) in &moments {
        let reply = app
            .call(
                "GET",
                &format!(
                    "/api/v1/audit/shares/{share}/state?as_of={}",
                    urlencode(&at.to_rfc3339())
                ),
                Some(&auditor),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
        let state = reply.json();
        assert_eq!(state["status"], then["status"]);
        for field in ["name", "permissions", "scope", "expires_at", "limits"] {
            assert_eq!(state["share"][field], then[field], "{field} as of {at}");
        }
        assert_eq!(state["share"]["has_code"], then["has_access_code"]);
        for counter in ["opens", "previews", "downloads"] {
            assert_eq!(
                state["share"]["counters"][counter], then["counters"][counter],
                "{counter}"
            );
        }
        let versions = state["events"].as_array().unwrap().len();
        assert!(versions >= 1);
    }
    // Before it existed: nothing. Admins of another enterprise: nothing either.
    let before = moments[0].1 - chrono::Duration::hours(1);
    app.call(
        "GET",
        &format!(
            "/api/v1/audit/shares/{share}/state?as_of={}",
            urlencode(&before.to_rfc3339())
        ),
        Some(&auditor),
        None,
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    let stranger = app.token("gil", "globex", &["admin"]);
    app.call(
        "GET",
        &format!("/api/v1/audit/shares/{share}/state"),
        Some(&stranger),
        None,
    )
    .await
    .problem(StatusCode::NOT_FOUND, "not_found");
    app.call(
        "GET",
        &format!("/api/v1/audit/shares/{share}/state"),
        Some(&alice),
        None,
    )
    .await
    .problem(StatusCode::FORBIDDEN, "forbidden");
}
