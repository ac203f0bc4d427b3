//! Daily quota counters per user: the transactional check used while appending, and the
//! replayable projection that rebuilds the same counts from the log.

use chrono::NaiveDate;
use serde::Serialize;
use shareledger_domain::log::StoredEvent;
use shareledger_domain::quota::QuotaKind;
use shareledger_domain::share::{ShareEvent, Visitor};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use crate::ProjectionError;

/// Counts one more use if the counter is below `limit` (no limit: always). Returns false,
/// changing nothing, when the quota is used up. Concurrent callers queue on the counter's row,
/// so exactly the remaining quota is granted.
pub async fn try_consume(
    conn: &mut PgConnection,
    user_id: &str,
    enterprise_id: &str,
    day: NaiveDate,
    kind: QuotaKind,
    limit: Option<u32>,
) -> Result<bool, sqlx::Error> {
    let mut q = QueryBuilder::new("");
    push_consume(&mut q, user_id, enterprise_id, day, kind, limit);
    Ok(q.build().fetch_optional(conn).await?.is_some())
}

/// `try_consume`'s statement, to run on its own or inside a larger one (a common table
/// expression): it returns a row when the use was counted, and none, changing nothing, when the
/// quota is used up.
pub fn push_consume(
    q: &mut QueryBuilder<Postgres>,
    user_id: &str,
    enterprise_id: &str,
    day: NaiveDate,
    kind: QuotaKind,
    limit: Option<u32>,
) {
    let limit = limit.map_or(i32::MAX, |l| i32::try_from(l).unwrap_or(i32::MAX));
    q.push("INSERT INTO quota_usage AS q (user_id, day, kind, enterprise_id, used) SELECT ")
        .push_bind(user_id)
        .push(", ")
        .push_bind(day)
        .push(", ")
        .push_bind(kind.as_str())
        .push(", ")
        .push_bind(enterprise_id)
        .push(", 1 WHERE ")
        .push_bind(limit)
        .push(" > 0 ON CONFLICT (user_id, day, kind) DO UPDATE SET used = q.used + 1 WHERE q.used < ")
        .push_bind(limit)
        .push(" RETURNING used");
}

/// Counts a signed-in user's access to a share against their daily quota of distinct shares:
/// a share already opened that day is free; a new one is counted if the quota allows. Returns
/// false (the caller's transaction must then be rolled back) when the quota is used up.
pub async fn try_consume_access(
    conn: &mut PgConnection,
    user_id: &str,
    enterprise_id: &str,
    day: NaiveDate,
    share_id: Uuid,
    limit: Option<u32>,
) -> Result<bool, sqlx::Error> {
    let first_today = sqlx::query(
        "INSERT INTO quota_access_seen (user_id, day, share_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(day)
    .bind(share_id)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !first_today {
        return Ok(true);
    }
    try_consume(conn, user_id, enterprise_id, day, QuotaKind::Access, limit).await
}

/// Rebuild path: counts every create and every signed-in user's first open of a share per day
/// in the log (each was accepted when it was appended), in bulk.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    let mut creates: foldhash::HashMap<(String, NaiveDate), (String, i32)> = foldhash::HashMap::default();
    let (mut users, mut days, mut shares, mut enterprises) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for e in events
        .iter()
        .filter(|e| e.event_type == "ShareCreated" || e.event_type == "ShareOpened")
    {
        let event = e.decode::<ShareEvent>().map_err(|source| ProjectionError::Decode {
            position: e.global_position,
            source,
        })?;
        match event {
            ShareEvent::ShareCreated(c) => {
                creates
                    .entry((c.owner_id, c.quota_day))
                    .or_insert((c.enterprise_id, 0))
                    .1 += 1
            }
            ShareEvent::ShareOpened {
                visitor: Visitor::User { user_id, enterprise_id },
                quota_day: Some(day),
                ..
            } => {
                users.push(user_id);
                days.push(day);
                shares.push(crate::stream_uuid(&e.stream_id, "share")?);
                enterprises.push(enterprise_id);
            }
            _ => {}
        }
    }
    if !creates.is_empty() {
        let (mut u, mut d, mut en, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for ((user, day), (enterprise, count)) in creates {
            u.push(user);
            d.push(day);
            en.push(enterprise);
            n.push(count);
        }
        sqlx::query(
            "INSERT INTO quota_usage AS q (user_id, day, kind, enterprise_id, used) \
             SELECT u, d, 'create', e, n FROM unnest($1::text[], $2::date[], $3::text[], $4::int4[]) AS x(u, d, e, n) \
             ON CONFLICT (user_id, day, kind) DO UPDATE SET used = q.used + EXCLUDED.used",
        )
        .bind(u)
        .bind(d)
        .bind(en)
        .bind(n)
        .execute(&mut *conn)
        .await?;
    }
    if !users.is_empty() {
        // A share counts once per user and day: only first sightings add to the counter.
        sqlx::query(
            "WITH seen AS ( \
                 INSERT INTO quota_access_seen (user_id, day, share_id) \
                 SELECT DISTINCT u, d, s FROM unnest($1::text[], $2::date[], $3::uuid[]) AS x(u, d, s) \
                 ON CONFLICT DO NOTHING RETURNING user_id, day), \
             firsts AS (SELECT user_id, day, count(*)::int AS n FROM seen GROUP BY user_id, day), \
             owners AS (SELECT DISTINCT ON (u, d) u, d, e FROM unnest($1::text[], $2::date[], $4::text[]) AS y(u, d, e)) \
             INSERT INTO quota_usage AS q (user_id, day, kind, enterprise_id, used) \
             SELECT f.user_id, f.day, 'access', o.e, f.n FROM firsts f JOIN owners o ON o.u = f.user_id AND o.d = f.day \
             ON CONFLICT (user_id, day, kind) DO UPDATE SET used = q.used + EXCLUDED.used",
        )
        .bind(users)
        .bind(days)
        .bind(shares)
        .bind(enterprises)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Used counts of one user on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub creates: u32,
    pub accesses: u32,
}

/// A user's usage on `day`.
pub async fn usage<'c>(db: impl PgExecutor<'c>, user_id: &str, day: NaiveDate) -> Result<Usage, sqlx::Error> {
    let rows = sqlx::query("SELECT kind, used FROM quota_usage WHERE user_id = $1 AND day = $2")
        .bind(user_id)
        .bind(day)
        .fetch_all(db)
        .await?;
    let mut usage = Usage::default();
    for row in rows {
        let used = u32::try_from(row.get::<i32, _>(1)).unwrap_or(0);
        match row.get::<String, _>(0).as_str() {
            "create" => usage.creates = used,
            _ => usage.accesses = used,
        }
    }
    Ok(usage)
}

/// One user's line in an enterprise's daily usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserUsage {
    pub user_id: String,
    pub creates: u32,
    pub accesses: u32,
}

/// Every user of an enterprise with any use on `day`, by user id.
pub async fn enterprise_usage<'c>(
    db: impl PgExecutor<'c>,
    enterprise_id: &str,
    day: NaiveDate,
) -> Result<Vec<UserUsage>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT user_id, \
                coalesce(sum(used) FILTER (WHERE kind = 'create'), 0)::int, \
                coalesce(sum(used) FILTER (WHERE kind = 'access'), 0)::int \
         FROM quota_usage WHERE enterprise_id = $1 AND day = $2 GROUP BY user_id ORDER BY user_id",
    )
    .bind(enterprise_id)
    .bind(day)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| UserUsage {
            user_id: r.get(0),
            creates: u32::try_from(r.get::<i32, _>(1)).unwrap_or(0),
            accesses: u32::try_from(r.get::<i32, _>(2)).unwrap_or(0),
        })
        .collect())
}
