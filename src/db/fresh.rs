//! Fresh, fully migrated databases on demand (one per test, one per benchmark run), copied from
//! a template database built once per set of migrations.

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use super::{DbError, MIGRATOR};

/// Creates a new database named `<prefix>_<random>` with every migration applied, and returns
/// its connection options. `server` reaches any database of the server (its name is ignored).
pub async fn fresh_database(server: &PgConnectOptions, prefix: &str) -> Result<(PgConnectOptions, String), DbError> {
    let mut admin = PgConnection::connect_with(&server.clone().database("postgres"))
        .await
        .map_err(DbError::Connect)?;
    let template = ensure_template(&mut admin, server).await?;
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(AssertSqlSafe(format!(
        "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
    )))
    .execute(&mut admin)
    .await
    .map_err(DbError::Connect)?;
    admin.close().await.map_err(DbError::Connect)?;
    Ok((server.clone().database(&name), name))
}

/// Drops a database made by `fresh_database` (closing its other connections).
pub async fn drop_database(server: &PgConnectOptions, name: &str) -> Result<(), DbError> {
    let mut admin = PgConnection::connect_with(&server.clone().database("postgres"))
        .await
        .map_err(DbError::Connect)?;
    sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .map_err(DbError::Connect)?;
    admin.close().await.map_err(DbError::Connect)
}

/// The template's name changes with the migrations, so an edited migration set gets a new one.
fn template_name() -> String {
    let mut digest = Sha256::new();
    for m in MIGRATOR.iter() {
        digest.update(m.version.to_be_bytes());
        digest.update(&m.checksum);
    }
    format!("shareledger_template_{}", &hex::encode(digest.finalize())[..12])
}

async fn ensure_template(admin: &mut PgConnection, server: &PgConnectOptions) -> Result<String, DbError> {
    let name = template_name();
    // One builder at a time across processes; the others wait and then find it built.
    sqlx::query("SELECT pg_advisory_lock(hashtext('shareledger-template'))")
        .execute(&mut *admin)
        .await
        .map_err(DbError::Connect)?;
    let result = build_template_if_missing(admin, server, &name).await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext('shareledger-template'))")
        .execute(&mut *admin)
        .await
        .map_err(DbError::Connect)?;
    result.map(|()| name)
}

async fn build_template_if_missing(
    admin: &mut PgConnection,
    server: &PgConnectOptions,
    name: &str,
) -> Result<(), DbError> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut *admin)
        .await
        .map_err(DbError::Connect)?;
    if exists {
        return Ok(());
    }
    // Build under a temporary name and rename when complete, so a crash mid-way never leaves
    // a half-migrated template behind under the real name.
    let building = format!("{name}_building");
    for sql in [
        format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        format!("CREATE DATABASE \"{building}\""),
    ] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *admin)
            .await
            .map_err(DbError::Connect)?;
    }
    let mut conn = server
        .clone()
        .database(&building)
        .connect()
        .await
        .map_err(DbError::Connect)?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await.map_err(DbError::Connect)?;
    sqlx::query(AssertSqlSafe(format!(
        "ALTER DATABASE \"{building}\" RENAME TO \"{name}\""
    )))
    .execute(&mut *admin)
    .await
    .map_err(DbError::Connect)?;
    Ok(())
}
