//! Store failures, classified so callers can retry, report 503, or give up.

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer appended first: an expected stream head no longer matches.
    #[error("concurrent append: {streams:?} moved past the expected version")]
    Conflict { streams: Vec<String> },
    /// PostgreSQL cannot be reached or refuses connections right now.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A stored row does not have the shape this build expects.
    #[error("corrupt event row: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl StoreError {
    /// Whether running the same work again may succeed (conflicts, serialization failures,
    /// deadlocks).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Conflict { .. } => true,
            StoreError::Database(e) => is_retryable_sqlx(e),
            _ => false,
        }
    }

    /// Whether the error means "the database is not there" rather than "this went wrong".
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<shareledger_projections::log::LogError> for StoreError {
    fn from(e: shareledger_projections::log::LogError) -> Self {
        match e {
            shareledger_projections::log::LogError::Database(e) => e.into(),
            shareledger_projections::log::LogError::Corrupt(detail) => StoreError::Corrupt(detail),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable_sqlx(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

/// SQLSTATE of a database error, if it is one.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

/// Serialization failure or deadlock: the transaction may simply be run again.
pub fn is_retryable_sqlx(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("40001" | "40P01"))
}

/// Connection-level trouble: the pool cannot hand out a working connection.
pub fn is_unavailable_sqlx(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(_) => sqlstate(e).is_some_and(|code| {
            // 08: connection exception; 57P01-03: shutdown / cannot connect now; 53300: too many
            // connections; 25006 read-only transaction (a standby after fail-over).
            code.starts_with("08") || matches!(code.as_str(), "57P01" | "57P02" | "57P03" | "53300" | "25006")
        }),
        _ => false,
    }
}

/// Whether the error is a unique violation of the named constraint.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint),
        _ => false,
    }
}
