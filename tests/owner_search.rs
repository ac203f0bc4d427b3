//! My Share Links search: 1,000 shares of mixed names; every filter and every page returns
//! exactly the expected ids, with no duplicates or gaps.

mod support;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use support::{TestApp, start};
use uuid::Uuid;

struct Made {
    id: Uuid,
    name: String,
    created: DateTime<Utc>,
    expires: Option<DateTime<Utc>>,
    cancelled: bool,
}

fn name(i: usize) -> String {
    match i % 4 {
        0 => format!("Quarterly Report {i:04}"),
        1 => format!("季度报告 {i:04}"),
        2 => format!("photo_{i:04}.jpg"),
        _ => format!("Holiday 假期 {i:04}"),
    }
}

async fn page_through(t: &TestApp, token: &str, query: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/shares?limit=37&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = t.call("GET", &path, Some(token), None).await;
        assert_eq!(reply.status, 200, "{path}: {}", String::from_utf8_lossy(&reply.body));
        let page = reply.json();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().parse::<Uuid>().unwrap()),
        );
        match &page["next_cursor"] {
            Value::String(c) => cursor = Some(c.clone()),
            _ => return ids,
        }
    }
}

fn encode(s: &str) -> String {
    shareledger::service::links::encode_query_value(s)
}

#[tokio::test]
async fn a_thousand_shares_are_found_exactly_by_name_time_and_status_across_pages() {
    let t = TestApp::with_pool(10).await;
    t.policy("acme", json!({"daily_quota": 5000})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    // Someone else's shares never show up in alice's list.
    let bob = t.user("bob");
    let bobs = t.upload(&bob, "b.txt", b"b", None).await;
    t.share(&bob, &[bobs], json!({"name": "Quarterly Report bob"})).await;

    let mut made = Vec::new();
    for i in 0..1000 {
        t.clock.set(start() + Duration::minutes(i as i64));
        let expires = (i % 10 == 0).then(|| t.clock_now() + Duration::minutes(30));
        let id = t
            .share(&alice, &[file], json!({"name": name(i), "expires_at": expires}))
            .await;
        made.push(Made {
            id,
            name: name(i),
            created: t.clock_now(),
            expires,
            cancelled: false,
        });
    }
    let to_cancel: Vec<Uuid> = made
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 7 == 3)
        .map(|(_, m)| m.id)
        .collect();
    for chunk in to_cancel.chunks(100) {
        let reply = t
            .call(
                "POST",
                "/api/v1/shares/cancel",
                Some(&alice),
                Some(json!({"ids": chunk})),
            )
            .await;
        assert_eq!(reply.status, 200);
    }
    for m in made.iter_mut() {
        m.cancelled = to_cancel.contains(&m.id);
    }
    let now = start() + Duration::minutes(1000);
    t.clock.set(now);
    let status = |m: &Made| {
        if m.cancelled {
            "cancelled"
        } else if m.expires.is_some_and(|e| now >= e) {
            "expired"
        } else {
            "active"
        }
    };
    // Newest first (the default order), ties impossible: one per minute.
    let expect =
        |pred: &dyn Fn(&Made) -> bool| -> Vec<Uuid> { made.iter().rev().filter(|m| pred(m)).map(|m| m.id).collect() };
    let window = (start() + Duration::minutes(200), start() + Duration::minutes(300));
    let cases: Vec<(String, Vec<Uuid>)> = vec![
        ("status=all".into(), expect(&|_| true)),
        ("".into(), expect(&|m| status(m) == "active")),
        ("status=expired".into(), expect(&|m| status(m) == "expired")),
        ("status=cancelled".into(), expect(&|m| status(m) == "cancelled")),
        (
            "status=all&q=report".into(),
            expect(&|m| m.name.to_lowercase().contains("report")),
        ),
        (
            format!("status=all&q={}", encode("报告")),
            expect(&|m| m.name.contains("报告")),
        ),
        (
            format!("q={}", encode("假期")),
            expect(&|m| m.name.contains("假期") && status(m) == "active"),
        ),
        (
            format!("status=all&q={}", encode("_")),
            expect(&|m| m.name.contains('_')),
        ),
        (format!("status=all&q={}", encode("%")), vec![]),
        (
            format!(
                "status=all&created_after={}&created_before={}",
                encode(&window.0.to_rfc3339()),
                encode(&window.1.to_rfc3339())
            ),
            expect(&|m| m.created >= window.0 && m.created < window.1),
        ),
        (
            format!("status=active&q=hol&created_after={}", encode(&window.1.to_rfc3339())),
            expect(&|m| m.name.to_lowercase().contains("hol") && m.created >= window.1 && status(m) == "active"),
        ),
    ];
    for (query, want) in cases {
        let got = page_through(&t, &alice, &query).await;
        let unique: HashSet<&Uuid> = got.iter().collect();
        assert_eq!(unique.len(), got.len(), "{query}: duplicates across pages");
        assert_eq!(got, want, "{query}: wrong ids or order");
    }
    // Other orders page without gaps either.
    let mut by_name: Vec<&Made> = made.iter().collect();
    by_name.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let got = page_through(&t, &alice, "status=all&order_by=name&order=asc").await;
    assert_eq!(got, by_name.iter().map(|m| m.id).collect::<Vec<_>>());
    let got = page_through(&t, &alice, "status=all&order_by=created&order=asc").await;
    assert_eq!(got, made.iter().map(|m| m.id).collect::<Vec<_>>());
    // Through the name index (an ASCII `q`, 750 candidates): the newest candidates first, then
    // all of them when those do not fill a page (few expired), in either direction.
    let got = page_through(&t, &alice, "status=all&q=REPORT&order=asc").await;
    let reports = |m: &&Made| m.name.to_lowercase().contains("report");
    assert_eq!(got, made.iter().filter(reports).map(|m| m.id).collect::<Vec<_>>());
    let got = page_through(&t, &alice, "status=all&q=0").await;
    assert_eq!(got, expect(&|m| m.name.contains('0')));
    let got = page_through(&t, &alice, "status=all&q=0&order=asc").await;
    assert_eq!(
        got,
        made.iter()
            .filter(|m| m.name.contains('0'))
            .map(|m| m.id)
            .collect::<Vec<_>>()
    );
    let got = page_through(&t, &alice, "status=expired&q=report").await;
    assert_eq!(got, expect(&|m| reports(&m) && status(m) == "expired"));
    assert!(!got.is_empty());
    let got = page_through(&t, &alice, "status=cancelled&q=report&order=asc").await;
    let want: Vec<Uuid> = made
        .iter()
        .filter(|m| reports(m) && m.cancelled)
        .map(|m| m.id)
        .collect();
    assert_eq!(got, want);
    assert!(t.state.names().horizon("alice").is_some(), "the index was used");
}

/// A substring search among an owner's many shares goes through the trigram index even right
/// after the shares were made (no vacuum in between): the index has no pending list that would
/// price it out and make the search walk every share.
#[tokio::test]
async fn a_name_search_uses_the_trigram_index_right_after_many_creates() {
    let db = shareledger::testkit::TestDb::new().await;
    let rows = sqlx::query(
        "INSERT INTO my_share_links (share_id, owner_id, owner_name, enterprise_id, name, message, items, \
             item_count, permissions, scope, limits, has_code, autofill_code, status, created_at, updated_at, \
             last_position) \
         SELECT gen_random_uuid(), 'owner-many', 'Owner', 'ent', 'share ' || g, '', '[]', 1, '{}', 'anyone', \
             '{}', false, false, 'active', now() + g * interval '1 ms', now(), g \
         FROM generate_series(0, 9999) AS g",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    assert_eq!(rows.rows_affected(), 10_000);
    sqlx::query("ANALYZE my_share_links").execute(&db.pool).await.unwrap();
    let plan: Value = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT share_id FROM my_share_links \
         WHERE owner_id = 'owner-many' AND name ILIKE '%share 123%' ESCAPE '\\' AND status = 'active' \
         ORDER BY created_at DESC, share_id DESC LIMIT 21",
    )
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert!(
        plan.to_string().contains("my_share_links_name_trgm_idx"),
        "the search walks the shares instead: {plan:#}"
    );
}

/// The name index (ASCII-lowercased names; anything else always a candidate) finds what
/// PostgreSQL's `ILIKE` finds, whatever the names hold: case, LIKE's wildcards taken
/// literally, letters outside ASCII whose case folding depends on the locale.
#[tokio::test]
async fn the_name_index_finds_what_the_database_finds_for_any_name() {
    let t = TestApp::new().await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    let names = [
        "Kelvin \u{212a}X",
        "\u{130}stanbul trip",
        "istanbul TRIP",
        "STRASSE",
        "stra\u{df}e",
        "\u{3a3}\u{391}\u{3a3} final",
        "na\u{ef}ve plan",
        "naive plan",
        "\u{ff21}\u{ff22}\u{ff23} wide",
        "ABC",
        "100% done_v2\\final",
        "100 percent",
        "Q1 report",
        "q1 REPORT (copy)",
    ];
    for name in names {
        t.share(&alice, &[file], json!({ "name": name })).await;
    }
    for q in [
        "k",
        "kx",
        "i",
        "istanbul",
        "STRASSE",
        "\u{df}",
        "\u{3c3}",
        "na",
        "naive",
        "abc",
        "%",
        "_",
        "\\",
        "% d",
        "e_v",
        "q1 report",
        "Q1 REPORT (",
        ")",
        " ",
        "plan",
        "xyz",
    ] {
        t.found_by_name("alice", q).await;
    }
    assert_eq!(t.found_by_name("alice", "q1 report").await.len(), 2);
    assert_eq!(t.found_by_name("alice", "%").await.len(), 1);
    assert!(t.state.names().horizon("alice").is_some(), "the index was used");
    let metrics = t.call("GET", "/metrics", None, None).await;
    let text = String::from_utf8_lossy(&metrics.body);
    assert!(text.contains("shareledger_name_search_total{path=\"index\"}"), "{text}");
    assert!(text.contains("shareledger_name_index_owners 1"), "{text}");
}
