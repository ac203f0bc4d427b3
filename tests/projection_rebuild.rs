//! Rebuilds: every projection rebuilt from zero equals the live one, row for row (a property
//! over random command sequences); a rebuild under traffic serves complete answers throughout
//! and loses nothing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::StatusCode;
use chrono::Duration;
use proptest::prelude::*;
use serde_json::json;
use support::{TestApp, catch_up, rebuilt_differences, rebuilt_differences_in_batches, start};
use uuid::Uuid;

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    Upload,
    Share {
        file: usize,
        code: bool,
        limit: Option<u32>,
        enterprise_only: bool,
    },
    Rename {
        share: usize,
    },
    ChangeCode {
        share: usize,
    },
    Cancel {
        share: usize,
    },
    Open {
        share: usize,
        right_code: bool,
        signed_in: bool,
    },
    Download {
        share: usize,
    },
    Preview {
        share: usize,
    },
    Report {
        share: usize,
    },
    Qr {
        share: usize,
    },
    DeleteFile {
        file: usize,
    },
    TimeZone {
        shanghai: bool,
    },
    Advance {
        minutes: i64,
    },
    /// The clock goes back (a log not in time order, as after a clock correction).
    Rewind {
        days: i64,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => Just(Step::Upload),
        3 => (0..4usize, any::<bool>(), proptest::option::of(1..3u32), any::<bool>())
            .prop_map(|(file, code, limit, enterprise_only)| Step::Share { file, code, limit, enterprise_only }),
        1 => (0..6usize).prop_map(|share| Step::Rename { share }),
        1 => (0..6usize).prop_map(|share| Step::ChangeCode { share }),
        1 => (0..6usize).prop_map(|share| Step::Cancel { share }),
        3 => (0..6usize, any::<bool>(), any::<bool>()).prop_map(|(share, right_code, signed_in)| Step::Open { share, right_code, signed_in }),
        4 => (0..6usize).prop_map(|share| Step::Download { share }),
        2 => (0..6usize).prop_map(|share| Step::Preview { share }),
        1 => (0..6usize).prop_map(|share| Step::Report { share }),
        1 => (0..6usize).prop_map(|share| Step::Qr { share }),
        1 => (0..4usize).prop_map(|file| Step::DeleteFile { file }),
        1 => any::<bool>().prop_map(|shanghai| Step::TimeZone { shanghai }),
        2 => (1..600i64).prop_map(|minutes| Step::Advance { minutes }),
        1 => (1..4i64).prop_map(|days| Step::Rewind { days }),
    ]
}

struct World {
    files: Vec<Uuid>,
    shares: Vec<(Uuid, String, Option<String>)>,
    sessions: Vec<Option<String>>,
}

async fn play(t: &TestApp, steps: &[Step]) {
    let alice = t.user("alice");
    let bob = t.user("bob");
    let mut w = World {
        files: vec![t.upload(&alice, "first.txt", b"1", None).await],
        shares: Vec::new(),
        sessions: Vec::new(),
    };
    for (n, step) in steps.iter().enumerate() {
        let share = |i: usize| w.shares.get(i % w.shares.len().max(1)).cloned();
        match step {
            Step::Upload => w.files.push(
                t.upload(
                    &alice,
                    &format!("file-{n}.txt"),
                    format!("content {n}").as_bytes(),
                    None,
                )
                .await,
            ),
            Step::Share {
                file,
                code,
                limit,
                enterprise_only,
            } => {
                let f = w.files[file % w.files.len()];
                let code_text = code.then(|| format!("code-{n}"));
                let reply = t
                    .create_share(
                        &alice,
                        &[f],
                        json!({"access_code": code_text, "limits": {"download": limit},
                               "scope": if *enterprise_only { "enterprise" } else { "anyone" }}),
                    )
                    .await;
                if reply.status == StatusCode::CREATED {
                    let body = reply.json();
                    let link = body["link"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
                    w.shares
                        .push((body["id"].as_str().unwrap().parse().unwrap(), link, code_text));
                    w.sessions.push(None);
                }
            }
            Step::Rename { share: i } => {
                if let Some((id, ..)) = share(*i) {
                    t.call(
                        "PATCH",
                        &format!("/api/v1/shares/{id}"),
                        Some(&alice),
                        Some(json!({"name": format!("renamed {n}")})),
                    )
                    .await;
                }
            }
            Step::ChangeCode { share: i } => {
                if let Some((id, ..)) = share(*i) {
                    let code = format!("new-{n}");
                    let reply = t
                        .call(
                            "PATCH",
                            &format!("/api/v1/shares/{id}"),
                            Some(&alice),
                            Some(json!({"access_code": code})),
                        )
                        .await;
                    if reply.status == StatusCode::OK {
                        let k = i % w.shares.len();
                        w.shares[k].2 = Some(code);
                    }
                }
            }
            Step::Cancel { share: i } => {
                if let Some((id, ..)) = share(*i) {
                    t.call("POST", &format!("/api/v1/shares/{id}/cancel"), Some(&alice), None)
                        .await;
                }
            }
            Step::Open {
                share: i,
                right_code,
                signed_in,
            } => {
                if let Some((_, link, code)) = share(*i) {
                    let code = if *right_code {
                        code
                    } else {
                        Some("wrong-code".to_owned())
                    };
                    let reply = t
                        .open_link(&link, code.as_deref(), signed_in.then_some(bob.as_str()))
                        .await;
                    if reply.status == StatusCode::CREATED {
                        let k = i % w.shares.len();
                        w.sessions[k] = Some(reply.json()["session"].as_str().unwrap().to_owned());
                    }
                }
            }
            Step::Download { share: i } | Step::Preview { share: i } => {
                if let Some((_, link, _)) = share(*i) {
                    let k = i % w.shares.len();
                    if let Some(session) = w.sessions[k].clone() {
                        let op = if matches!(step, Step::Download { .. }) {
                            "download"
                        } else {
                            "preview"
                        };
                        let list = t
                            .as_recipient("GET", &format!("/api/v1/links/{link}/items"), &session)
                            .await;
                        let first = serde_json::from_slice::<serde_json::Value>(&list.body)
                            .ok()
                            .and_then(|v| v["items"][0]["id"].as_str().map(str::to_owned));
                        if let Some(item) = first {
                            t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{item}/{op}"), &session)
                                .await;
                        }
                    }
                }
            }
            Step::Report { share: i } => {
                if let Some((_, link, _)) = share(*i) {
                    t.request_from(
                        "192.0.2.77",
                        "POST",
                        &format!("/api/v1/links/{link}/report"),
                        None,
                        None,
                        Some(json!({"reason": "spam"})),
                    )
                    .await;
                }
            }
            Step::Qr { share: i } => {
                if let Some((id, ..)) = share(*i) {
                    t.call("GET", &format!("/api/v1/shares/{id}/qr.svg"), Some(&alice), None)
                        .await;
                }
            }
            Step::DeleteFile { file } => {
                let f = w.files[file % w.files.len()];
                t.call("DELETE", &format!("/api/v1/drive/items/{f}"), Some(&alice), None)
                    .await;
            }
            Step::TimeZone { shanghai } => {
                t.policy(
                    "acme",
                    json!({"time_zone": if *shanghai { "Asia/Shanghai" } else { "America/New_York" }}),
                )
                .await;
            }
            Step::Advance { minutes } => t.clock.advance(Duration::minutes(*minutes)),
            Step::Rewind { days } => t.clock.advance(Duration::days(-*days)),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(6), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_projection_rebuilt_from_zero_equals_the_live_one(steps in proptest::collection::vec(step(), 5..40)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let t = TestApp::new().await;
            play(&t, &steps).await;
            catch_up(&t.db).await;
            let differences = rebuilt_differences(&t.db).await;
            assert!(differences.is_empty(), "rebuilt projections differ: {differences:?}");
            // Again a few events at a time: what a rebuild carries between batches (counts of
            // periods still open, late attempts for periods already written) must not matter.
            let differences = rebuilt_differences_in_batches(&t.db, 3).await;
            assert!(differences.is_empty(), "rebuilt in small batches, projections differ: {differences:?}");
        });
    }
}

#[tokio::test]
async fn attempts_out_of_time_order_rebuild_to_the_same_statistics() {
    // A rebuild writes an hour's (a day's) counts once the log has moved well past it; attempts
    // recorded later for such a period (the clock went back) are added at the end.
    let t = TestApp::new().await;
    let visit = |share| {
        [
            Step::Open {
                share,
                right_code: true,
                signed_in: true,
            },
            Step::Download { share },
            Step::Preview { share },
        ]
    };
    let mut steps = vec![Step::Share {
        file: 0,
        code: false,
        limit: None,
        enterprise_only: false,
    }];
    steps.extend(visit(0));
    steps.push(Step::Advance { minutes: 3 * 24 * 60 });
    steps.extend(visit(0));
    steps.push(Step::Rewind { days: 3 });
    steps.extend(visit(0));
    steps.push(Step::TimeZone { shanghai: true });
    steps.extend(visit(0));
    steps.push(Step::Advance { minutes: 90 });
    steps.extend(visit(0));
    play(&t, &steps).await;
    catch_up(&t.db).await;
    for batch in [1, 2, 3, 500] {
        let differences = rebuilt_differences_in_batches(&t.db, batch).await;
        assert!(differences.is_empty(), "batches of {batch}: {differences:?}");
    }
    let downloads: i64 = sqlx::query_scalar(
        "SELECT sum(count)::int8 FROM share_access_hourly WHERE operation = 'download' AND outcome = 'granted'",
    )
    .fetch_one(&t.db.pool)
    .await
    .unwrap();
    assert_eq!(downloads, 5);
}

#[tokio::test]
async fn time_zone_changes_between_accesses_rebuild_to_the_same_statistics() {
    let t = TestApp::new().await;
    play(
        &t,
        &[
            Step::TimeZone { shanghai: true },
            Step::Share {
                file: 0,
                code: false,
                limit: None,
                enterprise_only: false,
            },
            Step::Open {
                share: 0,
                right_code: true,
                signed_in: false,
            },
            Step::Download { share: 0 },
            Step::Advance { minutes: 300 },
            Step::TimeZone { shanghai: false },
            Step::Open {
                share: 0,
                right_code: false,
                signed_in: true,
            },
            Step::Download { share: 0 },
            Step::TimeZone { shanghai: true },
        ],
    )
    .await;
    catch_up(&t.db).await;
    let differences = rebuilt_differences(&t.db).await;
    assert!(differences.is_empty(), "{differences:?}");
    let zone: String = sqlx::query_scalar("SELECT time_zone FROM stats_time_zones WHERE enterprise_id = 'acme'")
        .fetch_one(&t.db.pool)
        .await
        .unwrap();
    assert_eq!(zone, "Asia/Shanghai");
}

#[tokio::test]
async fn a_rebuild_under_traffic_serves_complete_answers_and_loses_nothing() {
    let t = Arc::new(TestApp::with_pool(20).await);
    t.state.start_runners().await;
    t.policy("acme", json!({"daily_quota": 100000})).await;
    let alice = t.user("alice");
    let file = t.upload(&alice, "a.txt", b"a", None).await;
    for _ in 0..30 {
        let (_, link) = t.shared_link(&alice, &[file], json!({})).await;
        let session = t.session(&link, None, None).await;
        t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
            .await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (t, stop, alice) = (t.clone(), stop.clone(), alice.clone());
        tokio::spawn(async move {
            let mut made = 0;
            while !stop.load(Ordering::Relaxed) {
                let (_, link) = t.shared_link(&alice, &[file], json!({})).await;
                let session = t.session(&link, None, None).await;
                t.as_recipient("GET", &format!("/api/v1/links/{link}/items/{file}/download"), &session)
                    .await;
                made += 1;
            }
            made
        })
    };
    let reader = {
        let (t, stop, alice) = (t.clone(), stop.clone(), alice.clone());
        tokio::spawn(async move {
            let mut last = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let page = t
                    .call("GET", "/api/v1/shares?status=all&limit=100", Some(&alice), None)
                    .await
                    .json();
                let seen = page["items"].as_array().unwrap().len();
                assert!(
                    seen >= last.min(100),
                    "a read during the rebuild saw fewer shares ({seen} < {last})"
                );
                last = seen;
            }
        })
    };
    let rebuilt = shareledger::service::projections::run_rebuild(
        t.state.connect_options(),
        &shareledger_projections::projection::ALL,
        |_| {},
    )
    .await
    .unwrap();
    assert!(rebuilt.events > 0);
    stop.store(true, Ordering::Relaxed);
    let made = traffic.await.unwrap();
    reader.await.unwrap();
    t.state.runners().stop();
    catch_up(&t.db).await;
    let created = t
        .count("SELECT count(*) FROM events WHERE event_type = 'ShareCreated'")
        .await;
    assert_eq!(t.count("SELECT count(*) FROM my_share_links").await, created);
    assert_eq!(created, 30 + made, "nothing lost from the traffic during the rebuild");
    let differences = rebuilt_differences(&t.db).await;
    assert!(differences.is_empty(), "{differences:?}");
    let _ = start();
}
