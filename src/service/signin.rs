//! One-time sign-in links: a random code (its SHA-256 stored) that signs one person in once,
//! before it expires. What it signs in with is a bearer token of the service's own key.

use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, Row};

use crate::crypto::tokens::{new_link_token, token_hash};
use crate::http::auth::Claims;

/// Who a sign-in link is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninFor {
    pub user_id: String,
    pub enterprise_id: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
}

/// How long a session started by a sign-in link lasts.
pub const SESSION: Duration = Duration::hours(12);

/// Stores a new link's code and returns the code (the path is `/signin/once/{code}`).
pub async fn issue(pool: &PgPool, who: &SigninFor, valid: Duration, now: DateTime<Utc>) -> Result<String, sqlx::Error> {
    let code = new_link_token();
    sqlx::query(
        "INSERT INTO signin_links (code_hash, user_id, enterprise_id, display_name, roles, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&token_hash(&code)[..])
    .bind(&who.user_id)
    .bind(&who.enterprise_id)
    .bind(&who.display_name)
    .bind(&who.roles)
    .bind(now + valid)
    .execute(pool)
    .await?;
    Ok(code)
}

/// Who an unused, unexpired link is for, without using it.
pub async fn peek(pool: &PgPool, code: &str, now: DateTime<Utc>) -> Result<Option<SigninFor>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT user_id, enterprise_id, display_name, roles FROM signin_links \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(&token_hash(code)[..])
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.map(|r| who(&r)).transpose()
}

/// Uses a link (once: concurrent uses, one wins) and returns the claims of the session it starts.
pub async fn redeem(pool: &PgPool, code: &str, now: DateTime<Utc>) -> Result<Option<Claims>, sqlx::Error> {
    let row = sqlx::query(
        "UPDATE signin_links SET used_at = $2 \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING user_id, enterprise_id, display_name, roles",
    )
    .bind(&token_hash(code)[..])
    .bind(now)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let who = who(&row)?;
    Ok(Some(Claims {
        sub: who.user_id,
        ent: who.enterprise_id,
        roles: who.roles,
        exp: (now + SESSION).timestamp(),
        iat: Some(now.timestamp()),
        name: who.display_name,
    }))
}

fn who(row: &sqlx::postgres::PgRow) -> Result<SigninFor, sqlx::Error> {
    Ok(SigninFor {
        user_id: row.try_get(0)?,
        enterprise_id: row.try_get(1)?,
        display_name: row.try_get(2)?,
        roles: row.try_get(3)?,
    })
}
