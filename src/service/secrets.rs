//! A share's secrets: the link token (found by its SHA-256, sealed for the owner) and the access
//! code (argon2id hash for checks, sealed for the owner). Never in an event, a log or a metric.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::crypto::seal::SealKey;
use crate::crypto::tokens::token_hash;
use crate::runtime::{Fused, HookError, TxHook};
use crate::store::{FusedWrite, StoreError, StoredEvent};
use shareledger_domain::share::{Share, ShareEvent, ShareState};

/// A share's secrets, opened.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub token: String,
    pub code: Option<String>,
    pub code_hash: Option<String>,
    pub code_version: u32,
}

/// A new code, as typed or generated, with its hash.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub plain: String,
    pub phc: String,
}

/// Writes the secrets of a share in its append transaction: on create, the token and code;
/// on a code change or removal, the new code state.
pub struct WriteSecrets {
    pub share_id: Uuid,
    pub seal: SealKey,
    /// The link token (creates only).
    pub token: Option<String>,
    /// The code being set, if any.
    pub code: Option<NewCode>,
}

impl TxHook<Share> for WriteSecrets {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        _: &'a shareledger_domain::share::ShareState,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            let binding = self.share_id.as_bytes();
            let sealed_code = self.code.as_ref().map(|c| self.seal.seal(c.plain.as_bytes(), binding));
            let phc = self.code.as_ref().map(|c| c.phc.clone());
            for stored in events {
                let event: ShareEvent = stored
                    .decode()
                    .map_err(|e| HookError::Store(StoreError::Corrupt(e.to_string())))?;
                match event {
                    ShareEvent::ShareCreated(created) => {
                        let mut q = QueryBuilder::new("");
                        self.created_row(created.code_version).push(&mut q, "VALUES (", ")");
                        q.build().execute(&mut *tx).await?;
                    }
                    ShareEvent::ShareAccessCodeChanged { code_version, .. } => {
                        set_code(tx, self.share_id, phc.as_deref(), sealed_code.as_deref(), code_version).await?;
                    }
                    ShareEvent::ShareAccessCodeRemoved { code_version } => {
                        set_code(tx, self.share_id, None, None, code_version).await?;
                    }
                    _ => {}
                }
            }
            Ok(())
        })
    }

    /// A new share's secrets, in the statement that appends its `ShareCreated`.
    fn fused(&self, _: &ShareState, events: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        let [stored] = events else {
            return Ok(None);
        };
        if stored.event_type != "ShareCreated" {
            return Ok(None);
        }
        let ShareEvent::ShareCreated(created) = stored
            .decode::<ShareEvent>()
            .map_err(|e| HookError::Store(StoreError::Corrupt(e.to_string())))?
        else {
            return Ok(None);
        };
        let row = self.created_row(created.code_version);
        Ok(Some(Fused::Write(FusedWrite::new(move |q, appended| {
            row.push(q, "SELECT ", &format!(" FROM {appended}"))
        }))))
    }
}

/// A new share's row of secrets, sealed.
struct CreatedRow {
    share_id: Uuid,
    token_hash: Vec<u8>,
    token_sealed: Vec<u8>,
    code_hash: Option<String>,
    code_sealed: Option<Vec<u8>>,
    code_version: i32,
}

impl CreatedRow {
    /// `INSERT ... <open> values <close>`: a `VALUES` row, or a `SELECT` from another statement.
    fn push(self, q: &mut QueryBuilder<Postgres>, open: &str, close: &str) {
        q.push("INSERT INTO share_secrets (share_id, token_hash, token_sealed, code_hash, code_sealed, code_version) ")
            .push(open);
        let mut values = q.separated(", ");
        values.push_bind(self.share_id);
        values.push_bind(self.token_hash);
        values.push_bind(self.token_sealed);
        values.push_bind(self.code_hash);
        values.push_bind(self.code_sealed);
        values.push_bind(self.code_version);
        q.push(close);
    }
}

impl WriteSecrets {
    fn created_row(&self, code_version: u32) -> CreatedRow {
        let binding = self.share_id.as_bytes();
        let token = self.token.as_deref().expect("a create carries its token");
        CreatedRow {
            share_id: self.share_id,
            token_hash: token_hash(token).to_vec(),
            token_sealed: self.seal.seal(token.as_bytes(), binding),
            code_hash: self.code.as_ref().map(|c| c.phc.clone()),
            code_sealed: self.code.as_ref().map(|c| self.seal.seal(c.plain.as_bytes(), binding)),
            code_version: i32::try_from(code_version).unwrap_or(i32::MAX),
        }
    }
}

async fn set_code(
    tx: &mut PgConnection,
    share_id: Uuid,
    phc: Option<&str>,
    sealed: Option<&[u8]>,
    version: u32,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE share_secrets SET code_hash = $2, code_sealed = $3, code_version = $4, updated_at = now() \
         WHERE share_id = $1",
    )
    .bind(share_id)
    .bind(phc)
    .bind(sealed)
    .bind(i32::try_from(version).unwrap_or(i32::MAX))
    .execute(tx)
    .await?;
    Ok(())
}

/// Opens a share's secrets (owner views); `None` if the share has none.
pub async fn read<'c>(
    db: impl PgExecutor<'c>,
    seal: &SealKey,
    share_id: Uuid,
) -> Result<Option<Secrets>, anyhow::Error> {
    Ok(read_many(db, seal, &[share_id]).await?.remove(&share_id))
}

/// Opens the secrets of several shares at once (a page of an owner's list).
pub async fn read_many<'c>(
    db: impl PgExecutor<'c>,
    seal: &SealKey,
    share_ids: &[Uuid],
) -> Result<HashMap<Uuid, Secrets>, anyhow::Error> {
    let rows = sqlx::query(
        "SELECT share_id, token_sealed, code_sealed, code_hash, code_version FROM share_secrets \
         WHERE share_id = ANY($1)",
    )
    .bind(share_ids)
    .fetch_all(db)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let share_id: Uuid = row.try_get(0)?;
        let binding = share_id.as_bytes();
        let token = String::from_utf8(seal.open(&row.try_get::<Vec<u8>, _>(1)?, binding)?)?;
        let code = match row.try_get::<Option<Vec<u8>>, _>(2)? {
            Some(sealed) => Some(String::from_utf8(seal.open(&sealed, binding)?)?),
            None => None,
        };
        out.insert(
            share_id,
            Secrets {
                token,
                code,
                code_hash: row.try_get(3)?,
                code_version: u32::try_from(row.try_get::<i32, _>(4)?).unwrap_or(0),
            },
        );
    }
    Ok(out)
}
