//! `Idempotency-Key`: a retried request with the same key gets the first outcome and appends
//! nothing; the same key with another body is refused (422); of concurrent duplicates one wins
//! and the other gets the winner's outcome.
//!
//! The outcome of an accepted command is stored in its append transaction (a hook), so it is
//! remembered exactly when the events are; a refusal is stored on its own.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use futures_util::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shareledger_domain::Aggregate;
use sqlx::{PgConnection, PgPool, Row};

use super::error::ApiError;
use crate::runtime::{HookError, TxHook};
use crate::state::AppState;
use crate::store::{StoredEvent, is_unique_violation};

/// The request's `Idempotency-Key`, if it sent one.
#[derive(Debug, Clone)]
pub struct IdempotencyKey(pub Option<String>);

impl FromRequestParts<AppState> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b)))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "idempotency_key_invalid",
                    "Idempotency-Key must be 1 to 255 visible ASCII characters.",
                )
            })?;
        Ok(IdempotencyKey(Some(key.to_owned())))
    }
}

/// A keyed request: who sent it, the key, and a fingerprint of what was asked.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub scope: String,
    pub key: String,
    pub fingerprint: Vec<u8>,
}

impl Keyed {
    /// Keys are per user; the fingerprint covers method, path and body.
    pub fn new(user_id: &str, key: String, method: &str, path: &str, body: &Value) -> Self {
        let mut digest = Sha256::new();
        for part in [
            method.as_bytes(),
            path.as_bytes(),
            &crate::store::chain::canonical_json(body),
        ] {
            digest.update((part.len() as u64).to_be_bytes());
            digest.update(part);
        }
        Self {
            scope: format!("user:{user_id}"),
            key,
            fingerprint: digest.finalize().to_vec(),
        }
    }
}

/// A remembered outcome.
#[derive(Debug, Clone)]
pub struct Remembered {
    pub status: StatusCode,
    pub body: Value,
}

/// The outcome remembered for this key, or `None`. The same key with another request is 422.
pub async fn recall(pool: &PgPool, keyed: &Keyed) -> Result<Option<Remembered>, ApiError> {
    let row = sqlx::query("SELECT request_hash, status, response FROM idempotency_keys WHERE scope = $1 AND key = $2")
        .bind(&keyed.scope)
        .bind(&keyed.key)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let fingerprint: Vec<u8> = row.try_get(0)?;
    if fingerprint != keyed.fingerprint {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        ));
    }
    let status: i32 = row.try_get(1)?;
    Ok(Some(Remembered {
        status: StatusCode::from_u16(u16::try_from(status).unwrap_or(500)).unwrap_or(StatusCode::OK),
        body: row.try_get(2)?,
    }))
}

/// Remembers a refusal (nothing was appended). If a concurrent duplicate already stored an
/// outcome, that one is returned instead.
pub async fn remember_refusal(
    pool: &PgPool,
    keyed: &Keyed,
    status: StatusCode,
    body: &Value,
) -> Result<Option<Remembered>, ApiError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(&keyed.scope)
    .bind(&keyed.key)
    .bind(&keyed.fingerprint)
    .bind(i32::from(status.as_u16()))
    .bind(body)
    .execute(pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        Ok(None)
    } else {
        recall(pool, keyed).await
    }
}

/// The code a hook refusal carries when a concurrent duplicate committed first.
pub const DUPLICATE: &str = "idempotency_duplicate";

/// Stores the accepted command's response in its append transaction.
pub struct RememberHook<F> {
    pub keyed: Keyed,
    pub status: StatusCode,
    pub respond: F,
}

impl<A, F> TxHook<A> for RememberHook<F>
where
    A: Aggregate,
    F: Fn(&A::State, &[StoredEvent]) -> Value + Send + Sync,
{
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        state: &'a A::State,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        let body = (self.respond)(state, events);
        Box::pin(async move {
            let result = sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, request_hash, status, response) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&self.keyed.scope)
            .bind(&self.keyed.key)
            .bind(&self.keyed.fingerprint)
            .bind(i32::from(self.status.as_u16()))
            .bind(&body)
            .execute(tx)
            .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) if is_unique_violation(&e, "idempotency_keys_pkey") => Err(HookError::Refused {
                    code: DUPLICATE,
                    detail: "a concurrent request with the same Idempotency-Key won".into(),
                }),
                Err(e) => Err(e.into()),
            }
        })
    }
}

/// Deletes remembered outcomes older than a day (keys are honoured for 24 hours).
pub async fn forget_old(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
