//! The compliance queries: who did what to which share, when and from where — a page at a time
//! (keyset by catch-up cursor), or the whole selection streamed as NDJSON or CSV with constant
//! memory. Rows come from the `audit_index` projection joined to the log for the event's data;
//! events never hold a secret (codes, tokens, sessions), so nothing needs redacting beyond the
//! client address, which is shown as configured.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use shareledger_domain::actor::{Actor, Role};
use shareledger_domain::log::Cursor;
use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::http::error::ApiError;
use crate::runtime::position;

/// How client addresses appear in audit output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientIpMode {
    /// As recorded.
    Full,
    /// IPv4 to its /24, IPv6 to its /48.
    Truncated,
    /// A keyed hash (the same address always gives the same value; not reversible without the
    /// service's key).
    Hashed,
}

impl ClientIpMode {
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "truncated" => Ok(Self::Truncated),
            "hashed" => Ok(Self::Hashed),
            _ => Err(format!("{s:?} is not one of full, truncated, hashed")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Truncated => "truncated",
            Self::Hashed => "hashed",
        }
    }

    /// An address as this mode shows it.
    pub fn show(self, ip: &str, key: &[u8]) -> String {
        match self {
            Self::Full => ip.to_owned(),
            Self::Truncated => match ip.parse::<IpAddr>() {
                Ok(IpAddr::V4(v4)) => {
                    let o = v4.octets();
                    format!("{}.{}.{}.0/24", o[0], o[1], o[2])
                }
                Ok(IpAddr::V6(v6)) => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
                }
                Err(_) => "unknown".to_owned(),
            },
            Self::Hashed => {
                let mut h = Sha256::new();
                h.update(b"shareledger-client-ip-v1");
                h.update(key);
                h.update(ip.as_bytes());
                format!("h:{}", &hex::encode(h.finalize())[..24])
            }
        }
    }
}

/// Filters of `GET /api/v1/audit/events` and `audit export`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events of this share.
    pub share: Option<Uuid>,
    /// Events by this actor (user id, or `anonymous:<visitor>`... as recorded).
    pub actor: Option<String>,
    /// Events of this enterprise's shares, items and policy (admins: always their own).
    pub enterprise: Option<String>,
    /// Event types, comma-separated (`FileDownloaded,AccessRefused`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub types: Option<String>,
    /// `granted`, `refused`, or `refused:<reason>` (recipient operations).
    #[param(pattern = "^(granted|refused|refused:[a-z_]+)$")]
    pub outcome: Option<String>,
    /// Recorded at or after this instant (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before this instant.
    pub to: Option<DateTime<Utc>>,
    /// Client address, exactly as recorded.
    pub ip: Option<String>,
    /// Continue after this cursor (`next_cursor` of the previous page).
    pub after: Option<String>,
    /// Page size, 1 to 1000 (default 100). Streams (NDJSON, CSV) ignore it.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// One audited event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditRow {
    /// Catch-up cursor (`<tx_id>-<position>`): the order of the log.
    pub cursor: String,
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub occurred_at: DateTime<Utc>,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub share_id: Option<Uuid>,
    pub actor: Option<String>,
    pub actor_kind: Option<String>,
    pub enterprise_id: Option<String>,
    /// As the configured client-address mode shows it.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// A refusal's reason.
    pub reason: Option<String>,
    /// The event's data (never a secret).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// A page of audited events.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditRow>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
    /// How client addresses are shown (`full`, `truncated`, `hashed`).
    pub client_ip: ClientIpMode,
}

/// A checked, scoped selection.
#[derive(Debug, Clone)]
pub struct Selection {
    query: AuditQuery,
    types: Vec<String>,
    after: Cursor,
    /// Forced for admins: their own enterprise.
    enterprise: Option<String>,
}

fn bad(detail: impl Into<String>) -> ApiError {
    ApiError::new(axum::http::StatusCode::BAD_REQUEST, "invalid_query", detail)
}

impl Selection {
    /// Checks the filters and the caller's right to them: auditors see everything, admins their
    /// own enterprise, nobody else anything.
    pub fn new(actor: Option<&Actor>, query: AuditQuery) -> Result<Selection, ApiError> {
        let mut enterprise = query.enterprise.clone();
        if let Some(actor) = actor
            && !actor.has(Role::Auditor)
        {
            if !actor.has(Role::Admin) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "The audit trail is for auditors (and admins, for their own enterprise).",
                ));
            }
            if enterprise.as_ref().is_some_and(|e| *e != actor.enterprise_id) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "forbidden",
                    "Admins see their own enterprise's audit trail only.",
                ));
            }
            enterprise = Some(actor.enterprise_id.clone());
        }
        let types: Vec<String> = query
            .types
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        if types
            .iter()
            .any(|t| t.len() > 64 || !t.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(bad("type: event type names are letters and digits, comma-separated"));
        }
        if let Some(o) = &query.outcome
            && o != "granted"
            && o != "refused"
            && !o.strip_prefix("refused:").is_some_and(|r| {
                !r.is_empty() && r.len() <= 64 && r.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            })
        {
            return Err(bad("outcome: granted, refused, or refused:<reason>"));
        }
        if let (Some(from), Some(to)) = (query.from, query.to)
            && from >= to
        {
            return Err(bad("from must be before to"));
        }
        if let Some(limit) = query.limit
            && !(1..=1000).contains(&limit)
        {
            return Err(bad("limit: 1 to 1000"));
        }
        for (name, value) in [
            ("actor", &query.actor),
            ("enterprise", &query.enterprise),
            ("ip", &query.ip),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > 256) {
                return Err(bad(format!("{name}: at most 256 characters")));
            }
        }
        let after = match query.after.as_deref() {
            None => Cursor::START,
            Some(s) => position::parse(s).ok_or_else(|| bad("after: a cursor as returned in next_cursor"))?,
        };
        Ok(Selection {
            query,
            types,
            after,
            enterprise,
        })
    }

    fn sql(&self, limit: Option<i64>) -> QueryBuilder<Postgres> {
        let mut q = QueryBuilder::new(
            "SELECT a.global_position, a.tx_id::text, a.recorded_at, e.occurred_at, e.stream_id, e.stream_version, \
             a.event_type, a.share_id, a.actor, e.metadata->>'actor_kind', a.enterprise_id, a.client_ip, \
             e.metadata->>'user_agent', a.operation, a.outcome, e.payload->>'reason', e.payload \
             FROM audit_index a JOIN events e ON e.global_position = a.global_position \
             WHERE (a.tx_id, a.global_position) > (",
        );
        q.push_bind(self.after.tx_id.to_string())
            .push("::xid8, ")
            .push_bind(self.after.position)
            .push(")");
        if let Some(share) = self.query.share {
            q.push(" AND a.share_id = ").push_bind(share);
        }
        // Actor, enterprise and client IP are looked up together in the GIN index over hashes
        // of the row's tagged keys (migration 0008; the expression is the index's, word for
        // word), and compared exactly, which drops any row of a colliding hash.
        let keys = [
            ("a:", "a.actor", self.query.actor.as_ref()),
            ("e:", "a.enterprise_id", self.enterprise.as_ref()),
            ("i:", "a.client_ip", self.query.ip.as_ref()),
        ];
        let mut tags = keys
            .iter()
            .filter_map(|(tag, _, value)| value.map(|v| format!("{tag}{v}")));
        if let Some(first) = tags.next() {
            q.push(
                " AND ARRAY[hashtextextended('a:' || a.actor, 0), hashtextextended('e:' || a.enterprise_id, 0), \
                 hashtextextended('i:' || a.client_ip, 0)] @> ARRAY[hashtextextended(",
            )
            .push_bind(first)
            .push(", 0)");
            for tag in tags {
                q.push(", hashtextextended(").push_bind(tag).push(", 0)");
            }
            q.push("]");
        }
        for (_, column, value) in keys {
            if let Some(value) = value {
                q.push(format!(" AND {column} = ")).push_bind(value.clone());
            }
        }
        if !self.types.is_empty() {
            q.push(" AND a.event_type = ANY(")
                .push_bind(self.types.clone())
                .push(")");
        }
        match self.query.outcome.as_deref() {
            None => {}
            Some("refused") => {
                q.push(" AND a.outcome LIKE 'refused:%'");
            }
            Some(outcome) => {
                q.push(" AND a.outcome = ").push_bind(outcome.to_owned());
            }
        }
        if let Some(from) = self.query.from {
            q.push(" AND a.recorded_at >= ").push_bind(from);
        }
        if let Some(to) = self.query.to {
            q.push(" AND a.recorded_at < ").push_bind(to);
        }
        q.push(" ORDER BY a.tx_id, a.global_position");
        if let Some(limit) = limit {
            q.push(" LIMIT ").push_bind(limit);
        }
        q
    }

    /// One page.
    pub async fn page(&self, pool: &PgPool, ip: ClientIpMode, key: &[u8]) -> Result<AuditPage, ApiError> {
        let limit = self.query.limit.unwrap_or(100);
        let rows = self.sql(Some(limit + 1)).build().fetch_all(pool).await?;
        let mut events = rows.iter().map(|r| decode(r, ip, key)).collect::<Result<Vec<_>, _>>()?;
        let next_cursor = if events.len() as i64 > limit {
            events.truncate(limit as usize);
            events.last().map(|e| e.cursor.clone())
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_cursor,
            client_ip: ip,
        })
    }

    /// Every row of the selection, streamed: one query whose rows are read as the database
    /// produces them, at most a few hundred rows ahead of the consumer.
    pub fn stream(
        &self,
        pool: PgPool,
        ip: ClientIpMode,
        key: Vec<u8>,
    ) -> impl futures_util::Stream<Item = Result<AuditRow, sqlx::Error>> + Send + 'static {
        let (send, receive) = tokio::sync::mpsc::channel::<Result<AuditRow, sqlx::Error>>(256);
        let selection = self.clone();
        tokio::spawn(async move {
            let mut builder = selection.sql(None);
            let mut rows = builder.build().fetch(&pool);
            loop {
                let item = match rows.try_next().await {
                    Ok(Some(row)) => decode(&row, ip, &key),
                    Ok(None) => return,
                    Err(e) => Err(e),
                };
                let failed = item.is_err();
                // A closed receiver means the client went away: stop reading.
                if send.send(item).await.is_err() || failed {
                    return;
                }
            }
        });
        futures_util::stream::unfold(receive, |mut receive| async move {
            receive.recv().await.map(|item| (item, receive))
        })
    }
}

fn decode(r: &sqlx::postgres::PgRow, ip: ClientIpMode, key: &[u8]) -> Result<AuditRow, sqlx::Error> {
    let position: i64 = r.try_get(0)?;
    let tx: String = r.try_get(1)?;
    let tx_id = tx
        .parse()
        .map_err(|_| sqlx::Error::Decode(format!("tx_id {tx:?}").into()))?;
    let client_ip: Option<String> = r.try_get(11)?;
    Ok(AuditRow {
        cursor: position::format(Cursor { tx_id, position }),
        position,
        recorded_at: r.try_get(2)?,
        occurred_at: r.try_get(3)?,
        stream_id: r.try_get(4)?,
        stream_version: r.try_get(5)?,
        event_type: r.try_get(6)?,
        share_id: r.try_get(7)?,
        actor: r.try_get(8)?,
        actor_kind: r.try_get(9)?,
        enterprise_id: r.try_get(10)?,
        client_ip: client_ip.map(|a| ip.show(&a, key)),
        user_agent: r.try_get(12)?,
        operation: r.try_get(13)?,
        // Stored as `granted` or `refused:<reason>`; the reason has its own field.
        outcome: r
            .try_get::<Option<String>, _>(14)?
            .map(|o| o.split(':').next().unwrap_or_default().to_owned()),
        reason: r.try_get(15)?,
        data: r.try_get(16)?,
    })
}

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "cursor,position,recorded_at,occurred_at,stream_id,stream_version,event_type,share_id,\
actor,actor_kind,enterprise_id,client_ip,user_agent,operation,outcome,reason,data\n";

/// One row as a CSV line (RFC 4180 quoting).
pub fn csv_line(row: &AuditRow) -> String {
    fn field(out: &mut String, value: &str) {
        if value.contains([',', '"', '\n', '\r']) {
            out.push('"');
            out.push_str(&value.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(value);
        }
    }
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let values = [
        row.cursor.clone(),
        row.position.to_string(),
        row.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        row.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        row.stream_id.clone(),
        row.stream_version.to_string(),
        row.event_type.clone(),
        row.share_id.map(|s| s.to_string()).unwrap_or_default(),
        opt(&row.actor),
        opt(&row.actor_kind),
        opt(&row.enterprise_id),
        opt(&row.client_ip),
        opt(&row.user_agent),
        opt(&row.operation),
        opt(&row.outcome),
        opt(&row.reason),
        row.data.to_string(),
    ];
    let mut out = String::with_capacity(256);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        field(&mut out, v);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_as_configured() {
        assert_eq!(ClientIpMode::Full.show("203.0.113.7", b"k"), "203.0.113.7");
        assert_eq!(ClientIpMode::Truncated.show("203.0.113.7", b"k"), "203.0.113.0/24");
        assert_eq!(
            ClientIpMode::Truncated.show("2001:db8:abcd:12::1", b"k"),
            "2001:db8:abcd::/48"
        );
        let a = ClientIpMode::Hashed.show("203.0.113.7", b"k");
        assert_eq!(a, ClientIpMode::Hashed.show("203.0.113.7", b"k"));
        assert_ne!(a, ClientIpMode::Hashed.show("203.0.113.8", b"k"));
        assert_ne!(a, ClientIpMode::Hashed.show("203.0.113.7", b"other key"));
        assert!(!a.contains("203.0"));
    }
}

/// A share as it stood at an instant: `GET /api/v1/audit/shares/{id}/state?as_of=`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareStateAsOf {
    pub share_id: Uuid,
    pub as_of: DateTime<Utc>,
    /// `active`, `expired` or `cancelled` at that instant.
    pub status: String,
    /// Every setting and counter, replayed from the share's events recorded up to `as_of`
    /// (never a secret: whether a code was set and its version, not the code).
    #[schema(value_type = Object)]
    pub share: Value,
    /// The events that led there, oldest first.
    pub events: Vec<crate::service::shares::dto::HistoryEntry>,
}

/// Query of the point-in-time state.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AsOfQuery {
    /// The instant (RFC 3339); default: now.
    pub as_of: Option<DateTime<Utc>>,
}

/// Replays a share's stream up to `as_of`. Auditors: any share; admins: their enterprise's.
pub async fn share_state_as_of(
    pool: &PgPool,
    actor: &Actor,
    id: Uuid,
    as_of: DateTime<Utc>,
) -> Result<ShareStateAsOf, ApiError> {
    use shareledger_domain::Aggregate;
    use shareledger_domain::share::{Share, ShareEvent};
    crate::http::auth::require_any(actor, &[Role::Auditor, Role::Admin])?;
    let not_found = || {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "No such share at that time.",
        )
    };
    let upto = crate::store::read_stream_until(pool, &format!("share-{id}"), as_of).await?;
    let events = upto
        .iter()
        .map(|e| e.decode::<ShareEvent>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let state = Share::replay(events.iter());
    let share = state.share.ok_or_else(not_found)?;
    if !actor.has(Role::Auditor) && share.enterprise_id != actor.enterprise_id {
        return Err(not_found());
    }
    let status = if share.cancelled {
        "cancelled"
    } else if share.is_expired(as_of) {
        "expired"
    } else {
        "active"
    };
    Ok(ShareStateAsOf {
        share_id: id,
        as_of,
        status: status.to_owned(),
        share: serde_json::to_value(&share).map_err(ApiError::internal)?,
        events: upto.into_iter().map(Into::into).collect(),
    })
}
