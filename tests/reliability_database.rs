//! SECURITY 21: the database going away. Backends killed mid-flight and the whole server stopped:
//! requests fail with a 503 problem (never a hang, never a 500), `/readyz` says not ready, and
//! when the database is back the same service answers again, with nothing lost or half-written.
//! Each test runs its own embedded cluster, so stopping it disturbs no other test.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;
use shareledger::db::embedded::{ClusterOptions, DB_NAME, EmbeddedPostgres};
use shareledger::state::{AppOptions, AppState};
use shareledger::testkit::TestDb;
use support::TestApp;
use uuid::Uuid;

/// A service on a cluster of its own (`TestApp` shapes, a dedicated server underneath).
async fn app_on_own_cluster() -> (TestApp, std::path::PathBuf, EmbeddedPostgres) {
    let dir = std::env::temp_dir().join(format!("shareledger-faults-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let cluster = EmbeddedPostgres::start(&dir, ClusterOptions { ephemeral: true })
        .await
        .unwrap();
    let connect = cluster.connect_options(DB_NAME);
    let mut config = shareledger::config::Config::for_database(Some(cluster.url(DB_NAME)), &dir.join("service"));
    config.db_acquire_timeout = Duration::from_secs(2);
    let pool = shareledger::db::pool_options(&config)
        .connect_with(connect.clone())
        .await
        .unwrap();
    shareledger::db::migrate(&pool).await.unwrap();
    let clock = shareledger::clock::ManualClock::new(support::start());
    let state = AppState::with_options(
        config,
        pool.clone(),
        AppOptions {
            clock: Arc::new(clock.clone()),
        },
    )
    .unwrap();
    let db = TestDb {
        pool,
        name: DB_NAME.to_owned(),
        connect,
    };
    let app = TestApp {
        app: shareledger::http::app(state.clone()),
        state,
        db,
        clock,
    };
    (app, dir, cluster)
}

/// Retries `attempt` until it answers `want`; every other answer must be a 503 problem.
async fn until(what: &str, want: StatusCode, mut attempt: impl AsyncFnMut() -> support::Reply) -> support::Reply {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = tokio::time::timeout(Duration::from_secs(20), attempt())
            .await
            .unwrap_or_else(|_| panic!("{what}: the request hung"));
        if reply.status == want {
            return reply;
        }
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{what}: {}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.content_type(), "application/problem+json");
        assert!(reply.headers.contains_key("retry-after"));
        assert!(std::time::Instant::now() < deadline, "{what}: never answered {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn killed_backends_and_a_stopped_server_give_503_and_the_service_recovers_alone() {
    let (app, dir, cluster) = app_on_own_cluster().await;
    let alice = app.user("alice");
    let file = app.upload(&alice, "report.pdf", b"numbers", None).await;
    let create = async || app.create_share(&alice, &[file], json!({})).await;
    let mut acknowledged = Vec::new();
    let first = create().await;
    assert_eq!(first.status, StatusCode::CREATED);
    acknowledged.push(first.json()["id"].clone());

    // Every backend of the service killed: the next requests fail at most with a 503 and the
    // pool reconnects by itself.
    let mut admin = app.db.connection().await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty());
    let reply = until("create after killed backends", StatusCode::CREATED, create).await;
    acknowledged.push(reply.json()["id"].clone());

    // The server stopped: not ready, writes refused with 503, quickly.
    drop(admin);
    assert!(EmbeddedPostgres::stop_cluster(&dir).await.unwrap());
    for _ in 0..3 {
        let reply = tokio::time::timeout(Duration::from_secs(20), create())
            .await
            .expect("a request while the database is down must not hang");
        reply.problem(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable");
        assert!(reply.headers.contains_key("retry-after"));
    }
    let ready = app.call("GET", "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.call("GET", "/healthz", None, None).await.status, StatusCode::OK);

    // Back again: the same service answers, nothing acknowledged was lost, nothing is half-written.
    let restarted = EmbeddedPostgres::start(&dir, ClusterOptions { ephemeral: true })
        .await
        .unwrap();
    until("readyz after restart", StatusCode::OK, async || {
        app.call("GET", "/readyz", None, None).await
    })
    .await;
    let reply = until("create after restart", StatusCode::CREATED, create).await;
    acknowledged.push(reply.json()["id"].clone());
    let listed = app.call("GET", "/api/v1/shares?limit=100", Some(&alice), None).await;
    let ids: Vec<serde_json::Value> = listed.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].clone())
        .collect();
    for id in &acknowledged {
        assert!(ids.contains(id), "acknowledged share {id} is missing");
    }
    let report = shareledger::store::verify::verify_chains(&app.db.pool, |_| {})
        .await
        .unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);

    app.db.pool.close().await;
    drop(cluster);
    restarted.release().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
