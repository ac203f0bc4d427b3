//! Access statistics: per share, per hour and per day in the enterprise's time zone, counts by
//! operation and outcome (granted, or refused with its reason) and unique visitors; daily roll-ups
//! per enterprise for analysts. A batch is aggregated in memory and written with a few bulk
//! upserts, so rebuilding from a long log is fast.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, DurationRound, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use shareledger_domain::log::StoredEvent;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::ProjectionError;
use crate::audit_index::{attempt, share_of};
use crate::copy::CopyRows;
use crate::rebuild::live_keys;

type Counts<K> = HashMap<K, i64>;

/// (operation, outcome, reason): the first two from a fixed set, the reason only for refusals.
type Kind = (&'static str, &'static str, String);

#[derive(Default)]
struct Batch {
    hourly: Counts<(Uuid, DateTime<Utc>, NaiveDate, Kind)>,
    enterprise: Counts<(Arc<str>, NaiveDate, Kind)>,
    visitors: HashSet<(Uuid, DateTime<Utc>, NaiveDate, Arc<str>)>,
    enterprise_visitors: HashSet<(Arc<str>, NaiveDate, Arc<str>)>,
}

/// What an event counts as, if it is a recipient's attempt.
fn kind_of(e: &StoredEvent) -> Option<Kind> {
    let a = attempt(e)?;
    Some(match a.refused {
        None => (a.operation, "granted", String::new()),
        Some(reason) => (a.operation, "refused", reason.to_owned()),
    })
}

/// The local hour (as the instant it starts) and local day of `at` in `tz`.
pub fn buckets(at: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, NaiveDate) {
    let local = at.with_timezone(&tz);
    let hour = local.duration_trunc(chrono::Duration::hours(1)).unwrap_or(local);
    (hour.with_timezone(&Utc), local.date_naive())
}

/// One recipient attempt, placed: which share, which local hour and day, what kind, whose.
struct Hit<'a> {
    share: Uuid,
    hour: DateTime<Utc>,
    day: NaiveDate,
    kind: Kind,
    enterprise: Arc<str>,
    visitor: Option<&'a str>,
}

impl Batch {
    fn add(&mut self, hit: Hit<'_>) {
        *self
            .hourly
            .entry((hit.share, hit.hour, hit.day, hit.kind.clone()))
            .or_default() += 1;
        *self
            .enterprise
            .entry((hit.enterprise.clone(), hit.day, hit.kind))
            .or_default() += 1;
        if let Some(visitor) = hit.visitor {
            let visitor: Arc<str> = Arc::from(visitor);
            self.visitors.insert((hit.share, hit.hour, hit.day, visitor.clone()));
            self.enterprise_visitors.insert((hit.enterprise, hit.day, visitor));
        }
    }
}

/// Applies a batch: aggregated in memory, then a few bulk upserts.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    let mut batch = Batch::default();
    classify(conn, events, |hit| batch.add(hit)).await?;
    write(conn, batch).await
}

/// Rebuilding from zero: every attempt goes into an unindexed staging table with one binary
/// `COPY`, and `finish_rebuild` aggregates them all at once — set-based grouping instead of an
/// upsert per counter, several times cheaper for a long log.
pub async fn prepare_rebuild(conn: &mut PgConnection) -> Result<(), ProjectionError> {
    sqlx::query(
        "CREATE UNLOGGED TABLE stats_staging (share_id uuid NOT NULL, hour timestamptz NOT NULL, \
         day date NOT NULL, operation text COLLATE \"C\" NOT NULL, outcome text COLLATE \"C\" NOT NULL, \
         reason text COLLATE \"C\" NOT NULL, enterprise_id text COLLATE \"C\" NOT NULL, visitor text COLLATE \"C\")",
    )
    .execute(&mut *conn)
    .await?;
    // The counted tables are filled once, at the end: their keys are built after that, in one
    // sorted pass each, instead of being maintained row by row.
    for table in COUNTED {
        for (name, _) in live_keys(conn, table).await? {
            sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} DROP CONSTRAINT {name}")))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// The tables `finish_rebuild` fills from the staged attempts.
const COUNTED: [&str; 4] = [
    "share_access_hourly",
    "share_visitors",
    "enterprise_access_daily",
    "enterprise_visitors_daily",
];

/// Stages a batch of a rebuild (see `prepare_rebuild`).
pub async fn apply_rebuild(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    let mut rows = CopyRows::new(8, events.len());
    classify(conn, events, |hit| {
        rows.uuid(hit.share)
            .time(hit.hour)
            .date(hit.day)
            .text(hit.kind.0)
            .text(hit.kind.1)
            .text(&hit.kind.2)
            .text(&hit.enterprise)
            .opt_text(hit.visitor);
        rows.end_row();
    })
    .await?;
    rows.send(
        conn,
        "COPY stats_staging (share_id, hour, day, operation, outcome, reason, enterprise_id, visitor) \
         FROM STDIN (FORMAT binary)",
    )
    .await?;
    Ok(())
}

/// Turns the staged attempts of a rebuild into the statistics tables (still empty then).
pub async fn finish_rebuild(conn: &mut PgConnection) -> Result<(), ProjectionError> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    for sql in [
        "SET LOCAL work_mem = '256MB'",
        "SET LOCAL maintenance_work_mem = '256MB'",
        "INSERT INTO share_access_hourly SELECT share_id, hour, day, operation, outcome, reason, count(*) \
         FROM stats_staging GROUP BY 1, 2, 3, 4, 5, 6",
        "INSERT INTO enterprise_access_daily SELECT enterprise_id, day, operation, outcome, reason, count(*) \
         FROM stats_staging GROUP BY 1, 2, 3, 4, 5",
        "INSERT INTO share_visitors SELECT DISTINCT share_id, hour, day, visitor \
         FROM stats_staging WHERE visitor IS NOT NULL",
        "INSERT INTO enterprise_visitors_daily SELECT DISTINCT enterprise_id, day, visitor \
         FROM stats_staging WHERE visitor IS NOT NULL",
        "DROP TABLE stats_staging",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    for table in COUNTED {
        for (name, definition) in live_keys(&mut tx, table).await? {
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Places every recipient attempt of a batch (`on_hit`), keeping the share and time-zone
/// lookups current as it goes (they are written here in both modes).
async fn classify<'e>(
    conn: &mut PgConnection,
    events: &'e [StoredEvent],
    mut on_hit: impl FnMut(Hit<'e>),
) -> Result<(), ProjectionError> {
    let (shares, mut zones) = lookups(conn, events).await?;
    let mut shares: HashMap<Uuid, Arc<str>> = shares.into_iter().map(|(k, v)| (k, Arc::from(v))).collect();
    let mut new_shares = Vec::new();
    let mut zone_changes = Vec::new();
    for e in events {
        if let Some(enterprise) = e.stream_id.strip_prefix("policy-") {
            if e.event_type == "TimeZoneChanged"
                && let Some(tz) = e.payload.get("time_zone").and_then(|v| v.as_str())
            {
                zones.insert(enterprise.to_owned(), tz.parse().unwrap_or(Tz::UTC));
                zone_changes.push((enterprise.to_owned(), tz.to_owned()));
            }
            continue;
        }
        let Some(share) = share_of(e) else { continue };
        if e.event_type == "ShareCreated" {
            if let Some(enterprise) = e.payload.get("enterprise_id").and_then(|v| v.as_str()) {
                shares.insert(share, Arc::from(enterprise));
                new_shares.push((share, enterprise.to_owned()));
            }
            continue;
        }
        let Some(kind) = kind_of(e) else { continue };
        let Some(enterprise) = shares.get(&share).cloned() else {
            continue;
        };
        let tz = zones.get(&*enterprise).copied().unwrap_or(Tz::UTC);
        let (hour, day) = buckets(e.occurred_at, tz);
        on_hit(Hit {
            share,
            hour,
            day,
            kind,
            enterprise,
            visitor: e.metadata.get("actor").and_then(|v| v.as_str()),
        });
    }
    write_lookups(conn, new_shares, zone_changes).await
}

/// The enterprise of each share and the time zone of each enterprise the batch needs.
async fn lookups(
    conn: &mut PgConnection,
    events: &[StoredEvent],
) -> Result<(HashMap<Uuid, String>, HashMap<String, Tz>), ProjectionError> {
    let ids: Vec<Uuid> = events
        .iter()
        .filter_map(share_of)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let shares: HashMap<Uuid, String> =
        sqlx::query_as("SELECT share_id, enterprise_id FROM stats_shares WHERE share_id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let zones: HashMap<String, Tz> =
        sqlx::query_as::<_, (String, String)>("SELECT enterprise_id, time_zone FROM stats_time_zones")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|(e, tz)| (e, tz.parse().unwrap_or(Tz::UTC)))
            .collect();
    Ok((shares, zones))
}

async fn write_lookups(
    conn: &mut PgConnection,
    new_shares: Vec<(Uuid, String)>,
    zone_changes: Vec<(String, String)>,
) -> Result<(), ProjectionError> {
    if !new_shares.is_empty() {
        let (ids, ents): (Vec<Uuid>, Vec<String>) = new_shares.into_iter().unzip();
        sqlx::query("INSERT INTO stats_shares SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING")
            .bind(ids)
            .bind(ents)
            .execute(&mut *conn)
            .await?;
    }
    for (enterprise, tz) in zone_changes {
        sqlx::query("INSERT INTO stats_time_zones VALUES ($1, $2) ON CONFLICT (enterprise_id) DO UPDATE SET time_zone = EXCLUDED.time_zone")
            .bind(enterprise)
            .bind(tz)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn write(conn: &mut PgConnection, b: Batch) -> Result<(), ProjectionError> {
    if !b.hourly.is_empty() {
        let n = b.hourly.len();
        let (mut s, mut h, mut d) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut op, mut oc, mut re, mut c) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for ((share, hour, day, (operation, outcome, reason)), count) in b.hourly {
            s.push(share);
            h.push(hour);
            d.push(day);
            op.push(operation);
            oc.push(outcome);
            re.push(reason);
            c.push(count);
        }
        sqlx::query(
            "INSERT INTO share_access_hourly AS t SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::date[], \
             $4::text[], $5::text[], $6::text[], $7::int8[]) \
             ON CONFLICT (share_id, hour, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count",
        )
        .bind(s)
        .bind(h)
        .bind(d)
        .bind(op)
        .bind(oc)
        .bind(re)
        .bind(c)
        .execute(&mut *conn)
        .await?;
    }
    let enterprise: Counts<(String, NaiveDate, Kind)> = b
        .enterprise
        .into_iter()
        .map(|((e, d, k), n)| ((e.to_string(), d, k), n))
        .collect();
    upsert_counts(
        conn,
        "INSERT INTO enterprise_access_daily AS t SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::text[], $5::text[], $6::int8[]) \
         ON CONFLICT (enterprise_id, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count",
        enterprise,
    )
    .await?;
    if !b.visitors.is_empty() {
        let (mut s, mut h, mut d, mut v) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (share, hour, day, visitor) in b.visitors {
            s.push(share);
            h.push(hour);
            d.push(day);
            v.push(visitor.to_string());
        }
        sqlx::query("INSERT INTO share_visitors SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::date[], $4::text[]) ON CONFLICT DO NOTHING")
            .bind(s)
            .bind(h)
            .bind(d)
            .bind(v)
            .execute(&mut *conn)
            .await?;
    }
    if !b.enterprise_visitors.is_empty() {
        let (mut e, mut d, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (enterprise, day, visitor) in b.enterprise_visitors {
            e.push(enterprise.to_string());
            d.push(day);
            v.push(visitor.to_string());
        }
        sqlx::query("INSERT INTO enterprise_visitors_daily SELECT * FROM unnest($1::text[], $2::date[], $3::text[]) ON CONFLICT DO NOTHING")
            .bind(e)
            .bind(d)
            .bind(v)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Counts keyed by (who, when, operation, outcome, reason), as the columns of one bulk upsert.
struct CountColumns<A, B> {
    who: Vec<A>,
    when: Vec<B>,
    operation: Vec<String>,
    outcome: Vec<String>,
    reason: Vec<String>,
    count: Vec<i64>,
}

impl<A, B> From<Counts<(A, B, Kind)>> for CountColumns<A, B> {
    fn from(counts: Counts<(A, B, Kind)>) -> Self {
        let mut c = CountColumns {
            who: Vec::with_capacity(counts.len()),
            when: Vec::with_capacity(counts.len()),
            operation: Vec::with_capacity(counts.len()),
            outcome: Vec::with_capacity(counts.len()),
            reason: Vec::with_capacity(counts.len()),
            count: Vec::with_capacity(counts.len()),
        };
        for ((who, when, (operation, outcome, reason)), n) in counts {
            c.who.push(who);
            c.when.push(when);
            c.operation.push(operation.to_owned());
            c.outcome.push(outcome.to_owned());
            c.reason.push(reason);
            c.count.push(n);
        }
        c
    }
}

async fn upsert_counts<A, B>(
    conn: &mut PgConnection,
    sql: &'static str,
    counts: Counts<(A, B, Kind)>,
) -> Result<(), ProjectionError>
where
    Vec<A>: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    Vec<B>: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
{
    if counts.is_empty() {
        return Ok(());
    }
    let c = CountColumns::from(counts);
    sqlx::query(sql)
        .bind(c.who)
        .bind(c.when)
        .bind(c.operation)
        .bind(c.outcome)
        .bind(c.reason)
        .bind(c.count)
        .execute(conn)
        .await?;
    Ok(())
}

/// One bucket of a statistics series.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bucket {
    /// The bucket's start: a date (`YYYY-MM-DD`) or an instant (RFC 3339) for hours.
    pub bucket: String,
    pub opens: i64,
    pub previews: i64,
    pub downloads: i64,
    pub saves: i64,
    pub uploads: i64,
    pub edits: i64,
    pub refused: i64,
    pub refused_by_reason: std::collections::BTreeMap<String, i64>,
    pub unique_visitors: i64,
}

impl Bucket {
    fn add(&mut self, operation: &str, outcome: &str, reason: &str, n: i64) {
        if outcome == "refused" {
            self.refused += n;
            *self.refused_by_reason.entry(reason.to_owned()).or_default() += n;
            return;
        }
        match operation {
            "open" => self.opens += n,
            "preview" => self.previews += n,
            "download" => self.downloads += n,
            "save" => self.saves += n,
            "upload" => self.uploads += n,
            "edit" => self.edits += n,
            _ => {}
        }
    }
}

/// A share's series between two local days (inclusive), by day or by hour, and the totals.
/// Hours are selected by the local day they belonged to, as the daily series is, so the two
/// always add up to the same totals.
pub async fn share_series<'c, E: PgExecutor<'c> + Copy>(
    db: E,
    share: Uuid,
    from: NaiveDate,
    to: NaiveDate,
    hourly: bool,
) -> Result<(Vec<Bucket>, Bucket), sqlx::Error> {
    let key = if hourly {
        "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    } else {
        "day::text"
    };
    let counts = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key}, operation, outcome, reason, sum(count)::int8 FROM share_access_hourly \
         WHERE share_id = $1 AND day >= $2 AND day <= $3 GROUP BY 1, 2, 3, 4"
    )))
    .bind(share)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let visitors = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key}, count(DISTINCT visitor) FROM share_visitors \
         WHERE share_id = $1 AND day >= $2 AND day <= $3 GROUP BY 1"
    )))
    .bind(share)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let unique: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT visitor) FROM share_visitors WHERE share_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(share)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await?;
    Ok(assemble(&counts, &visitors, unique))
}

/// The enterprise's daily series between two days (inclusive), and the totals.
pub async fn enterprise_series<'c, E: PgExecutor<'c> + Copy>(
    db: E,
    enterprise: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(Vec<Bucket>, Bucket), sqlx::Error> {
    let counts = sqlx::query("SELECT day::text, operation, outcome, reason, count FROM enterprise_access_daily WHERE enterprise_id = $1 AND day >= $2 AND day <= $3")
        .bind(enterprise)
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await?;
    let visitors = sqlx::query("SELECT day::text, count(*) FROM enterprise_visitors_daily WHERE enterprise_id = $1 AND day >= $2 AND day <= $3 GROUP BY 1")
        .bind(enterprise)
        .bind(from)
        .bind(to)
        .fetch_all(db)
        .await?;
    let unique: i64 = sqlx::query_scalar("SELECT count(DISTINCT visitor) FROM enterprise_visitors_daily WHERE enterprise_id = $1 AND day >= $2 AND day <= $3")
        .bind(enterprise)
        .bind(from)
        .bind(to)
        .fetch_one(db)
        .await?;
    Ok(assemble(&counts, &visitors, unique))
}

/// A series from rows of (bucket, operation, outcome, reason, count) and (bucket, unique
/// visitors), and its totals.
fn assemble(counts: &[PgRow], visitors: &[PgRow], unique: i64) -> (Vec<Bucket>, Bucket) {
    fn bucket(series: &mut std::collections::BTreeMap<String, Bucket>, key: String) -> &mut Bucket {
        series.entry(key).or_insert_with_key(|key| Bucket {
            bucket: key.clone(),
            ..Bucket::default()
        })
    }
    let mut series = std::collections::BTreeMap::new();
    let mut totals = Bucket {
        bucket: "total".into(),
        unique_visitors: unique,
        ..Bucket::default()
    };
    for row in counts {
        let (op, outcome, reason, n): (String, String, String, i64) = (row.get(1), row.get(2), row.get(3), row.get(4));
        bucket(&mut series, row.get(0)).add(&op, &outcome, &reason, n);
        totals.add(&op, &outcome, &reason, n);
    }
    for row in visitors {
        bucket(&mut series, row.get(0)).unique_visitors = row.get(1);
    }
    (series.into_values().collect(), totals)
}
