//! Access statistics: per share, per hour and per day in the enterprise's time zone, counts by
//! operation and outcome (granted, or refused with its reason) and unique visitors; daily roll-ups
//! per enterprise for analysts. A batch is aggregated in memory and written with a few bulk
//! upserts, so rebuilding from a long log is fast.

use foldhash::{HashMap, HashSet};
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
use crate::projection::RebuildState;
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
    visitor: Option<std::borrow::Cow<'a, str>>,
}

impl Batch {
    fn add(&mut self, hit: Hit<'_>) {
        let visitor: Option<Arc<str>> = hit.visitor.as_deref().map(Arc::from);
        self.add_to_hour(&hit, visitor.as_ref());
        self.add_to_day(hit, visitor);
    }

    /// The share's hourly counts and visitors.
    fn add_to_hour(&mut self, hit: &Hit<'_>, visitor: Option<&Arc<str>>) {
        *self
            .hourly
            .entry((hit.share, hit.hour, hit.day, hit.kind.clone()))
            .or_default() += 1;
        if let Some(visitor) = visitor {
            self.visitors.insert((hit.share, hit.hour, hit.day, visitor.clone()));
        }
    }

    /// The enterprise's daily counts and visitors.
    fn add_to_day(&mut self, hit: Hit<'_>, visitor: Option<Arc<str>>) {
        *self
            .enterprise
            .entry((hit.enterprise.clone(), hit.day, hit.kind))
            .or_default() += 1;
        if let Some(visitor) = visitor {
            self.enterprise_visitors.insert((hit.enterprise, hit.day, visitor));
        }
    }
}

/// Applies a batch: aggregated in memory, then a few bulk upserts.
pub async fn apply(conn: &mut PgConnection, events: &[StoredEvent]) -> Result<(), ProjectionError> {
    let mut batch = Batch::default();
    let found = classify(conn, events, |hit| batch.add(hit)).await?;
    write(conn, batch, found).await
}

/// Rebuilding from zero streams the counts into the empty tables instead of upserting batch after
/// batch or aggregating every attempt at the end. The log is in (roughly) chronological order, so
/// an hour's or a day's counts are complete soon after the log has moved past it: the rebuild
/// keeps the counts of the recent hours and days in memory (`Open`) and writes every key once,
/// with binary `COPY`, when its period is `HOURS_OPEN` hours (days: `DAYS_OPEN` days) older than
/// the newest attempt seen. An attempt for a period already written (a log not in time order)
/// is staged in a `late_*` table and added to the written counts at the end, after the keys are
/// built. Memory holds a few hours' and days' keys, whatever the length of the log.
const HOURS_OPEN: i64 = 2;
const DAYS_OPEN: i64 = 2;

/// The counted tables, filled by the rebuild without their keys, which are built at the end.
const COUNTED: [&str; 4] = [
    "share_access_hourly",
    "share_visitors",
    "enterprise_access_daily",
    "enterprise_visitors_daily",
];

/// The rebuild's counts of periods not yet written.
#[derive(Default)]
struct Open {
    counts: Batch,
    /// The newest local hour of any attempt so far.
    newest: Option<DateTime<Utc>>,
    /// Every hour before this one is written (hourly counts, visitors per hour).
    hours_written_before: Option<DateTime<Utc>>,
    /// Every day before this one is written (enterprise counts and visitors per day).
    days_written_before: Option<NaiveDate>,
}

impl Open {
    /// Counts an attempt, in `late` if its period is already written.
    fn add(&mut self, hit: Hit<'_>, late: &mut Batch) {
        self.newest = self.newest.max(Some(hit.hour));
        let hour_late = self.hours_written_before.is_some_and(|h| hit.hour < h);
        let day_late = self.days_written_before.is_some_and(|d| hit.day < d);
        let visitor: Option<Arc<str>> = hit.visitor.as_deref().map(Arc::from);
        let hourly = if hour_late { &mut *late } else { &mut self.counts };
        hourly.add_to_hour(&hit, visitor.as_ref());
        let daily = if day_late { late } else { &mut self.counts };
        daily.add_to_day(hit, visitor);
    }

    /// Moves the periods the log has left behind out of memory, to be written.
    fn close_old_periods(&mut self) -> Batch {
        let Some(newest) = self.newest else {
            return Batch::default();
        };
        let hours = newest - chrono::Duration::hours(HOURS_OPEN);
        let days = (newest - chrono::Duration::days(DAYS_OPEN)).date_naive();
        let hours = self.hours_written_before.max(Some(hours)).unwrap_or(hours);
        let days = self.days_written_before.max(Some(days)).unwrap_or(days);
        self.hours_written_before = Some(hours);
        self.days_written_before = Some(days);
        let c = &mut self.counts;
        Batch {
            hourly: c.hourly.extract_if(|(_, hour, _, _), _| *hour < hours).collect(),
            visitors: c.visitors.extract_if(|(_, hour, _, _)| *hour < hours).collect(),
            enterprise: c.enterprise.extract_if(|(_, day, _), _| *day < days).collect(),
            enterprise_visitors: c.enterprise_visitors.extract_if(|(_, day, _)| *day < days).collect(),
        }
    }
}

/// Sets up a rebuild (see `HOURS_OPEN`): the counted tables lose their keys until the end, and
/// the late attempts get their staging tables.
pub async fn prepare_rebuild(conn: &mut PgConnection) -> Result<RebuildState, ProjectionError> {
    for table in COUNTED {
        for (name, _) in live_keys(conn, table).await? {
            sqlx::query(AssertSqlSafe(format!("ALTER TABLE {table} DROP CONSTRAINT {name}")))
                .execute(&mut *conn)
                .await?;
        }
        sqlx::query(AssertSqlSafe(format!(
            "CREATE UNLOGGED TABLE late_{table} (LIKE {table})"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(Box::new(Open::default()))
}

/// Counts a batch of a rebuild, writes the periods it closes and stages its late attempts.
pub async fn apply_rebuild(
    conn: &mut PgConnection,
    events: &[StoredEvent],
    state: &mut RebuildState,
) -> Result<(), ProjectionError> {
    let open = state
        .downcast_mut::<Open>()
        .expect("the statistics' rebuild state comes from their prepare_rebuild");
    let mut late = Batch::default();
    let found = classify(conn, events, |hit| open.add(hit, &mut late)).await?;
    write_lookups(conn, found).await?;
    copy(conn, open.close_old_periods(), &WRITE).await?;
    copy(conn, late, &STAGE_LATE).await
}

/// Writes the periods still open, builds the keys and adds the late attempts.
pub async fn finish_rebuild(conn: &mut PgConnection, state: RebuildState) -> Result<(), ProjectionError> {
    use sqlx::Connection;
    let open = state
        .downcast::<Open>()
        .expect("the statistics' rebuild state comes from their prepare_rebuild");
    let mut tx = conn.begin().await?;
    copy(&mut tx, open.counts, &WRITE).await?;
    sqlx::query("SET LOCAL maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await?;
    for table in COUNTED {
        for (name, definition) in live_keys(&mut tx, table).await? {
            sqlx::query(AssertSqlSafe(format!(
                "ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"
            )))
            .execute(&mut *tx)
            .await?;
        }
    }
    for sql in [
        "INSERT INTO share_access_hourly AS t \
         SELECT share_id, hour, day, operation, outcome, reason, sum(count)::int8 FROM late_share_access_hourly \
         GROUP BY 1, 2, 3, 4, 5, 6 \
         ON CONFLICT (share_id, hour, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count",
        "INSERT INTO enterprise_access_daily AS t \
         SELECT enterprise_id, day, operation, outcome, reason, sum(count)::int8 FROM late_enterprise_access_daily \
         GROUP BY 1, 2, 3, 4, 5 \
         ON CONFLICT (enterprise_id, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count",
        "INSERT INTO share_visitors SELECT DISTINCT * FROM late_share_visitors ON CONFLICT DO NOTHING",
        "INSERT INTO enterprise_visitors_daily SELECT DISTINCT * FROM late_enterprise_visitors_daily \
         ON CONFLICT DO NOTHING",
        "DROP TABLE late_share_access_hourly, late_share_visitors, late_enterprise_access_daily, \
         late_enterprise_visitors_daily",
    ] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Where `copy` sends each kind of count: the `COPY` statements for the four counted tables.
struct CopyTargets {
    hourly: &'static str,
    visitors: &'static str,
    enterprise: &'static str,
    enterprise_visitors: &'static str,
}

const WRITE: CopyTargets = CopyTargets {
    hourly: "COPY share_access_hourly (share_id, hour, day, operation, outcome, reason, count) \
             FROM STDIN (FORMAT binary)",
    visitors: "COPY share_visitors (share_id, hour, day, visitor) FROM STDIN (FORMAT binary)",
    enterprise: "COPY enterprise_access_daily (enterprise_id, day, operation, outcome, reason, count) \
                 FROM STDIN (FORMAT binary)",
    enterprise_visitors: "COPY enterprise_visitors_daily (enterprise_id, day, visitor) FROM STDIN (FORMAT binary)",
};

const STAGE_LATE: CopyTargets = CopyTargets {
    hourly: "COPY late_share_access_hourly (share_id, hour, day, operation, outcome, reason, count) \
             FROM STDIN (FORMAT binary)",
    visitors: "COPY late_share_visitors (share_id, hour, day, visitor) FROM STDIN (FORMAT binary)",
    enterprise: "COPY late_enterprise_access_daily (enterprise_id, day, operation, outcome, reason, count) \
                 FROM STDIN (FORMAT binary)",
    enterprise_visitors: "COPY late_enterprise_visitors_daily (enterprise_id, day, visitor) \
                          FROM STDIN (FORMAT binary)",
};

/// Ends a counted row: operation, outcome, reason, count.
fn kind_and_count(rows: &mut CopyRows, (operation, outcome, reason): &Kind, count: i64) {
    rows.text(operation).text(outcome).text(reason).int8(count);
    rows.end_row();
}

/// Writes counts with one binary `COPY` per table that has any.
async fn copy(conn: &mut PgConnection, b: Batch, to: &CopyTargets) -> Result<(), ProjectionError> {
    if !b.hourly.is_empty() {
        let mut rows = CopyRows::new(7, b.hourly.len());
        for ((share, hour, day, kind), count) in b.hourly {
            rows.uuid(share).time(hour).date(day);
            kind_and_count(&mut rows, &kind, count);
        }
        rows.send(conn, to.hourly).await?;
    }
    if !b.visitors.is_empty() {
        let mut rows = CopyRows::new(4, b.visitors.len());
        for (share, hour, day, visitor) in b.visitors {
            rows.uuid(share).time(hour).date(day).text(&visitor);
            rows.end_row();
        }
        rows.send(conn, to.visitors).await?;
    }
    if !b.enterprise.is_empty() {
        let mut rows = CopyRows::new(6, b.enterprise.len());
        for ((enterprise, day, kind), count) in b.enterprise {
            rows.text(&enterprise).date(day);
            kind_and_count(&mut rows, &kind, count);
        }
        rows.send(conn, to.enterprise).await?;
    }
    if !b.enterprise_visitors.is_empty() {
        let mut rows = CopyRows::new(3, b.enterprise_visitors.len());
        for (enterprise, day, visitor) in b.enterprise_visitors {
            rows.text(&enterprise).date(day).text(&visitor);
            rows.end_row();
        }
        rows.send(conn, to.enterprise_visitors).await?;
    }
    Ok(())
}

/// What a batch adds to the share and time-zone lookups, to be written with its counts.
#[derive(Default)]
struct Found {
    new_shares: Vec<(Uuid, String)>,
    zone_changes: Vec<(String, String)>,
}

/// Places every recipient attempt of a batch (`on_hit`), keeping the share and time-zone
/// lookups current as it goes; returns their additions, for the caller to write.
async fn classify<'e>(
    conn: &mut PgConnection,
    events: &'e [StoredEvent],
    mut on_hit: impl FnMut(Hit<'e>),
) -> Result<Found, ProjectionError> {
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
            visitor: e.meta().actor.0,
        });
    }
    Ok(Found {
        new_shares,
        zone_changes,
    })
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
    // One round trip for both (the time zones are a row per enterprise that changed it).
    let rows: Vec<(Option<Uuid>, String, Option<String>)> = sqlx::query_as(
        "SELECT share_id, enterprise_id, NULL FROM stats_shares WHERE share_id = ANY($1) \
         UNION ALL SELECT NULL, enterprise_id, time_zone FROM stats_time_zones",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await?;
    let (mut shares, mut zones) = (HashMap::default(), HashMap::default());
    for (share, enterprise, time_zone) in rows {
        match (share, time_zone) {
            (Some(share), _) => {
                shares.insert(share, enterprise);
            }
            (None, time_zone) => {
                zones.insert(enterprise, time_zone.and_then(|tz| tz.parse().ok()).unwrap_or(Tz::UTC));
            }
        }
    }
    Ok((shares, zones))
}

/// Writes a batch's additions to the lookups: the rebuild's path (the live one writes new shares
/// in its one statement with the counts, whose `ON CONFLICT` needs the keys a rebuild has dropped
/// until its end).
async fn write_lookups(conn: &mut PgConnection, found: Found) -> Result<(), ProjectionError> {
    if !found.new_shares.is_empty() {
        let (ids, ents): (Vec<Uuid>, Vec<String>) = found.new_shares.into_iter().unzip();
        sqlx::query("INSERT INTO stats_shares SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING")
            .bind(ids)
            .bind(ents)
            .execute(&mut *conn)
            .await?;
    }
    write_zones(conn, found.zone_changes).await
}

/// Time-zone changes, in order (rare: an admin's setting).
async fn write_zones(conn: &mut PgConnection, zone_changes: Vec<(String, String)>) -> Result<(), ProjectionError> {
    for (enterprise, tz) in zone_changes {
        sqlx::query("INSERT INTO stats_time_zones VALUES ($1, $2) ON CONFLICT (enterprise_id) DO UPDATE SET time_zone = EXCLUDED.time_zone")
            .bind(enterprise)
            .bind(tz)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Writes a live batch: its new shares and every count, in one statement (one round trip,
/// whatever the batch holds), then any time-zone change.
async fn write(conn: &mut PgConnection, b: Batch, found: Found) -> Result<(), ProjectionError> {
    let (mut share_ids, mut share_enterprises) = (Vec::new(), Vec::new());
    for (share, enterprise) in found.new_shares {
        share_ids.push(share);
        share_enterprises.push(enterprise);
    }
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
    let daily = CountColumns::from(
        b.enterprise
            .into_iter()
            .map(|((e, d, k), n)| ((e.to_string(), d, k), n))
            .collect::<Counts<(String, NaiveDate, Kind)>>(),
    );
    let (mut vs, mut vh, mut vd, mut vv) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (share, hour, day, visitor) in b.visitors {
        vs.push(share);
        vh.push(hour);
        vd.push(day);
        vv.push(visitor.to_string());
    }
    let (mut ee, mut ed, mut ev) = (Vec::new(), Vec::new(), Vec::new());
    for (enterprise, day, visitor) in b.enterprise_visitors {
        ee.push(enterprise.to_string());
        ed.push(day);
        ev.push(visitor.to_string());
    }
    sqlx::query(
        "WITH shares AS (INSERT INTO stats_shares SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING), \
         hourly AS (INSERT INTO share_access_hourly AS t SELECT * FROM unnest($3::uuid[], $4::timestamptz[], \
             $5::date[], $6::text[], $7::text[], $8::text[], $9::int8[]) \
           ON CONFLICT (share_id, hour, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count), \
         daily AS (INSERT INTO enterprise_access_daily AS t SELECT * FROM unnest($10::text[], $11::date[], \
             $12::text[], $13::text[], $14::text[], $15::int8[]) \
           ON CONFLICT (enterprise_id, day, operation, outcome, reason) DO UPDATE SET count = t.count + EXCLUDED.count), \
         visitors AS (INSERT INTO share_visitors SELECT * FROM unnest($16::uuid[], $17::timestamptz[], $18::date[], \
             $19::text[]) ON CONFLICT DO NOTHING), \
         enterprise_visitors AS (INSERT INTO enterprise_visitors_daily SELECT * FROM unnest($20::text[], $21::date[], \
             $22::text[]) ON CONFLICT DO NOTHING) \
         SELECT 1",
    )
    .bind(share_ids)
    .bind(share_enterprises)
    .bind(s)
    .bind(h)
    .bind(d)
    .bind(op)
    .bind(oc)
    .bind(re)
    .bind(c)
    .bind(daily.who)
    .bind(daily.when)
    .bind(daily.operation)
    .bind(daily.outcome)
    .bind(daily.reason)
    .bind(daily.count)
    .bind(vs)
    .bind(vh)
    .bind(vd)
    .bind(vv)
    .bind(ee)
    .bind(ed)
    .bind(ev)
    .execute(&mut *conn)
    .await?;
    write_zones(conn, found.zone_changes).await
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

/// A range of UTC hours that holds every hour whose local day is in `from..=to`, in any time
/// zone: two days wider on each side (local days start at most 14 hours from UTC midnight), and
/// within what PostgreSQL's timestamps hold. The share's rows are read through the primary key
/// `(share_id, hour, ...)` by this range, then filtered by day.
fn hours_of_days(from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let earliest = NaiveDate::from_ymd_opt(-4000, 1, 1).expect("a valid date");
    let midnight = |day: NaiveDate, shift: i64| {
        day.checked_add_signed(chrono::Duration::days(shift))
            .unwrap_or(day)
            .max(earliest)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    };
    (midnight(from, -2), midnight(to, 3))
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
    let hours = hours_of_days(from, to);
    let key = if hourly {
        "to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    } else {
        "day::text"
    };
    let counts = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key}, operation, outcome, reason, sum(count)::int8 FROM share_access_hourly \
         WHERE share_id = $1 AND hour >= $4 AND hour < $5 AND day >= $2 AND day <= $3 GROUP BY 1, 2, 3, 4"
    )))
    .bind(share)
    .bind(from)
    .bind(to)
    .bind(hours.0)
    .bind(hours.1)
    .fetch_all(db)
    .await?;
    let visitors = sqlx::query(AssertSqlSafe(format!(
        "SELECT {key}, count(DISTINCT visitor) FROM share_visitors \
         WHERE share_id = $1 AND hour >= $4 AND hour < $5 AND day >= $2 AND day <= $3 \
         GROUP BY GROUPING SETS ((1), ())"
    )))
    .bind(share)
    .bind(from)
    .bind(to)
    .bind(hours.0)
    .bind(hours.1)
    .fetch_all(db)
    .await?;
    Ok(assemble(&counts, &visitors))
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
    let visitors = sqlx::query(
        "SELECT day::text, count(DISTINCT visitor) FROM enterprise_visitors_daily \
         WHERE enterprise_id = $1 AND day >= $2 AND day <= $3 GROUP BY GROUPING SETS ((1), ())",
    )
    .bind(enterprise)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    Ok(assemble(&counts, &visitors))
}

/// A series from rows of (bucket, operation, outcome, reason, count) and (bucket, unique
/// visitors), and its totals. The visitors are read once, grouped by bucket and over the whole
/// range (`GROUPING SETS ((1), ())`): the row without a bucket holds the range's unique visitors.
fn assemble(counts: &[PgRow], visitors: &[PgRow]) -> (Vec<Bucket>, Bucket) {
    fn bucket(series: &mut std::collections::BTreeMap<String, Bucket>, key: String) -> &mut Bucket {
        series.entry(key).or_insert_with_key(|key| Bucket {
            bucket: key.clone(),
            ..Bucket::default()
        })
    }
    let mut series = std::collections::BTreeMap::new();
    let mut totals = Bucket {
        bucket: "total".into(),
        ..Bucket::default()
    };
    for row in counts {
        let (op, outcome, reason, n): (String, String, String, i64) = (row.get(1), row.get(2), row.get(3), row.get(4));
        bucket(&mut series, row.get(0)).add(&op, &outcome, &reason, n);
        totals.add(&op, &outcome, &reason, n);
    }
    for row in visitors {
        match row.get::<Option<String>, _>(0) {
            Some(key) => bucket(&mut series, key).unique_visitors = row.get(1),
            None => totals.unique_visitors = row.get(1),
        }
    }
    (series.into_values().collect(), totals)
}
