//! The embedded PostgreSQL launcher: create, stop, restart with data kept; root handling.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use shareledger::db::embedded::{ClusterOptions, DB_NAME, EmbeddedPostgres};
use sqlx::{Connection, PgConnection};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shareledger-{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn connect(cluster: &EmbeddedPostgres) -> PgConnection {
    PgConnection::connect_with(&cluster.connect_options(DB_NAME))
        .await
        .unwrap()
}

fn running(cluster_dir: &std::path::Path) -> bool {
    cluster_dir.join("postmaster.pid").exists()
}

#[tokio::test]
async fn starts_stops_and_restarts_a_cluster_with_its_data_kept() {
    let data_dir = temp_dir("launcher");
    let options = ClusterOptions { ephemeral: true };

    let cluster = EmbeddedPostgres::start(&data_dir, options).await.unwrap();
    assert!(cluster.started_here());
    let cluster_dir = cluster.layout().cluster_dir.clone();
    assert!(cluster_dir.join("PG_VERSION").is_file());
    if nix::unistd::geteuid().is_root() {
        let owner = std::fs::metadata(&cluster_dir)
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap();
        assert_ne!(owner, 0, "as root, the cluster runs as an unprivileged user");
    }
    let mut conn = connect(&cluster).await;
    sqlx::query("CREATE TABLE kept (v text)")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO kept VALUES ('survives restarts')")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    // A second user attaches to the running cluster instead of starting another.
    let second = EmbeddedPostgres::start(&data_dir, options).await.unwrap();
    assert!(!second.started_here());
    assert!(
        !second.release().await.unwrap(),
        "not the last user: the cluster keeps running"
    );
    assert!(running(&cluster_dir));

    assert!(cluster.release().await.unwrap(), "the last user stops it");
    assert!(!running(&cluster_dir));

    let again = EmbeddedPostgres::start(&data_dir, options).await.unwrap();
    assert!(again.started_here());
    let mut conn = connect(&again).await;
    let kept: String = sqlx::query_scalar("SELECT v FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(kept, "survives restarts");
    conn.close().await.unwrap();
    assert!(again.release().await.unwrap());
    std::fs::remove_dir_all(&data_dir).unwrap();
    let _ = std::fs::remove_dir_all(&cluster_dir);
}

#[tokio::test]
async fn as_root_a_data_dir_the_cluster_user_cannot_reach_gets_its_cluster_placed_outside() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: only meaningful when run as root");
        return;
    }
    let private = temp_dir("private-home");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = private.join("data");
    let cluster = EmbeddedPostgres::start(&data_dir, ClusterOptions { ephemeral: true })
        .await
        .unwrap();
    let cluster_dir = cluster.layout().cluster_dir.clone();
    assert!(
        !cluster_dir.starts_with(&private),
        "placed where the cluster user can reach it: {}",
        cluster_dir.display()
    );
    let remembered = std::fs::read_to_string(data_dir.join("postgres.location")).unwrap();
    assert_eq!(remembered.trim(), cluster_dir.to_str().unwrap());
    let mut conn = connect(&cluster).await;
    sqlx::query("SELECT 1").execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    assert!(cluster.release().await.unwrap());

    // The next start finds the remembered place.
    let again = EmbeddedPostgres::start(&data_dir, ClusterOptions { ephemeral: true })
        .await
        .unwrap();
    assert_eq!(again.layout().cluster_dir, cluster_dir);
    assert!(again.release().await.unwrap());
    std::fs::remove_dir_all(&private).unwrap();
    std::fs::remove_dir_all(&cluster_dir).unwrap();
}

#[tokio::test]
async fn a_missing_postgresql_installation_is_reported_in_one_clear_line() {
    let err = shareledger::db::embedded::EmbeddedError::BinariesNotFound.to_string();
    assert!(!err.contains('\n'));
    assert!(err.contains("apt-get install postgresql"), "{err}");
}
