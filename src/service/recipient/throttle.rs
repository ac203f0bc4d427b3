//! Throttling recipients:
//! - token guessing: many unknown tokens from one client get 429 for a while (in memory per
//!   instance; a 128-bit token space makes guessing hopeless anyway, this keeps scanners cheap);
//! - anonymous opens: a per-client rate (in memory);
//! - access-code brute force: failures per (link, client) and per link, counted in PostgreSQL
//!   (shared by instances, kept across restarts) and reserved before argon2 runs, so while a link
//!   is throttled no hash is computed and even the right code is refused. Windows roll; nothing
//!   locks a link for good.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, DurationRound, Utc};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Wrong codes allowed per link and client within `CLIENT_WINDOW`.
pub const CODE_FAILURES_PER_CLIENT: i64 = 10;
pub const CLIENT_WINDOW_MINUTES: i64 = 15;
/// Wrong codes allowed per link within an hour, from all clients together.
pub const CODE_FAILURES_PER_LINK: i64 = 100;
pub const LINK_WINDOW_MINUTES: i64 = 60;

/// A fixed-window counter per key, in memory.
#[derive(Debug)]
pub struct WindowLimiter {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<String, (Instant, u32)>>,
}

impl WindowLimiter {
    /// Allows `limit` events per key per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may go on, if it is over its limit now.
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let counts = self.counts.lock().expect("limiter lock");
        let (start, n) = counts.get(key)?;
        let elapsed = start.elapsed();
        (elapsed < self.window && *n >= self.limit).then(|| (self.window - elapsed).as_secs().max(1))
    }

    /// Counts one event for `key`; returns the wait when this one went over the limit.
    pub fn hit(&self, key: &str) -> Option<u64> {
        let mut counts = self.counts.lock().expect("limiter lock");
        if counts.len() > 100_000 {
            let window = self.window;
            counts.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = counts.entry(key.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        (entry.1 > self.limit).then(|| (self.window - entry.0.elapsed()).as_secs().max(1))
    }
}

/// The in-memory throttles of one instance.
#[derive(Debug)]
pub struct Throttles {
    /// Unknown link tokens per client.
    pub guesses: WindowLimiter,
    /// Anonymous opens per client.
    pub anonymous_opens: WindowLimiter,
    /// Abuse reports per client.
    pub reports: WindowLimiter,
}

impl Default for Throttles {
    fn default() -> Self {
        Self {
            guesses: WindowLimiter::new(20, Duration::from_secs(60)),
            anonymous_opens: WindowLimiter::new(60, Duration::from_secs(60)),
            reports: WindowLimiter::new(10, Duration::from_secs(3600)),
        }
    }
}

/// A reserved attempt: counted as a failure unless released after a right code.
#[derive(Debug, Clone)]
pub struct Reservation {
    share_id: Uuid,
    client: String,
    minute: DateTime<Utc>,
}

/// Reserves one code attempt for `client` on a link, or says how long to wait. Serialized per
/// link (an advisory lock), so concurrent attempts cannot pass the limits together.
pub async fn reserve_code_attempt(
    pool: &PgPool,
    share_id: Uuid,
    client: &str,
    now: DateTime<Utc>,
) -> Result<Result<Reservation, u64>, sqlx::Error> {
    let minute = now
        .duration_trunc(chrono::Duration::minutes(1))
        .expect("minute rounding");
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 11))")
        .bind(share_id)
        .execute(&mut *tx)
        .await?;
    let row = sqlx::query(
        "SELECT coalesce(sum(failures) FILTER (WHERE minute > $2 - make_interval(mins => $4)), 0)::bigint, \
                coalesce(sum(failures) FILTER (WHERE client = $3 AND minute > $2 - make_interval(mins => $5)), 0)::bigint, \
                min(minute) FILTER (WHERE minute > $2 - make_interval(mins => $4)), \
                min(minute) FILTER (WHERE client = $3 AND minute > $2 - make_interval(mins => $5)) \
         FROM code_failures WHERE share_id = $1 AND minute > $2 - make_interval(mins => $4)",
    )
    .bind(share_id)
    .bind(minute)
    .bind(client)
    .bind(i32::try_from(LINK_WINDOW_MINUTES).expect("small"))
    .bind(i32::try_from(CLIENT_WINDOW_MINUTES).expect("small"))
    .fetch_one(&mut *tx)
    .await?;
    let (link_failures, client_failures): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
    let wait_until = |oldest: Option<DateTime<Utc>>, window: i64| {
        oldest.map_or(60, |o| {
            u64::try_from((o + chrono::Duration::minutes(window + 1) - now).num_seconds())
                .unwrap_or(60)
                .max(1)
        })
    };
    if link_failures >= CODE_FAILURES_PER_LINK {
        return Ok(Err(wait_until(row.try_get(2)?, LINK_WINDOW_MINUTES)));
    }
    if client_failures >= CODE_FAILURES_PER_CLIENT {
        return Ok(Err(wait_until(row.try_get(3)?, CLIENT_WINDOW_MINUTES)));
    }
    sqlx::query(
        "INSERT INTO code_failures AS f (share_id, client, minute, failures) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (share_id, minute, client) DO UPDATE SET failures = f.failures + 1",
    )
    .bind(share_id)
    .bind(client)
    .bind(minute)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(Reservation {
        share_id,
        client: client.to_owned(),
        minute,
    }))
}

/// The code was right: the reserved attempt is not a failure.
pub async fn release(pool: &PgPool, reservation: &Reservation) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE code_failures SET failures = greatest(failures - 1, 0) WHERE share_id = $1 AND minute = $2 AND client = $3",
    )
    .bind(reservation.share_id)
    .bind(reservation.minute)
    .bind(&reservation.client)
    .execute(pool)
    .await?;
    Ok(())
}

/// Deletes counters older than every window (run periodically).
pub async fn forget_old_failures(pool: &PgPool) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM code_failures WHERE minute < now() - interval '2 hours'")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_limiter_blocks_past_its_limit_and_other_keys_go_on() {
        let limiter = WindowLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(limiter.hit("a"), None);
        }
        assert!(limiter.hit("a").is_some());
        assert!(limiter.blocked("a").is_some());
        assert_eq!(limiter.blocked("b"), None);
        assert_eq!(limiter.hit("b"), None);
    }
}
