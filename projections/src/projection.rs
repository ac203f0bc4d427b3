//! What a projection is, and the list of them.

use futures_util::future::BoxFuture;
use shareledger_domain::log::StoredEvent;
use sqlx::PgConnection;

use crate::ProjectionError;

/// How a projection is kept current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Applied in the append transaction by the writers (always current).
    Inline,
    /// Applied after commit by a runner following the log.
    Async,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Inline => "inline",
            Kind::Async => "async",
        }
    }
}

/// A read model built from events. `apply` writes through unqualified table names, so a
/// rebuild can point it at fresh copies of its tables (see `rebuild`).
pub trait Projection: Send + Sync {
    /// Stable name (checkpoints, API, CLI).
    fn name(&self) -> &'static str;
    /// The tables it owns, rebuilt and swapped together.
    fn tables(&self) -> &'static [&'static str];
    fn kind(&self) -> Kind;
    /// Applies events in log order (events it does not care about are skipped).
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectionError>>;
    /// Rebuilding from zero into fresh tables may take a faster path than `apply`: set up here
    /// (on the shadow's connection, its schema first on the search path; the state it returns is
    /// handed to the next two), ...
    fn prepare_rebuild<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
    ) -> BoxFuture<'a, Result<RebuildState, ProjectionError>> {
        Box::pin(async { Ok(Box::new(()) as RebuildState) })
    }
    /// ... applied to the bulk of the log instead of `apply` (default: `apply`), ...
    fn apply_rebuild<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [StoredEvent],
        _state: &'a mut RebuildState,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        self.apply(conn, events)
    }
    /// ... and completed before the indexes are built; from then on `apply` takes over.
    fn finish_rebuild<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _state: RebuildState,
    ) -> BoxFuture<'a, Result<(), ProjectionError>> {
        Box::pin(async { Ok(()) })
    }
}

/// What a projection carries from one batch of a rebuild to the next (its own type inside).
pub type RebuildState = Box<dyn std::any::Any + Send>;

macro_rules! projection {
    ($ty:ident, $name:literal, $kind:expr, [$($table:literal),+], $apply:path) => {
        projection!($ty, $name, $kind, [$($table),+], $apply, {});
    };
    ($ty:ident, $name:literal, $kind:expr, [$($table:literal),+], $apply:path,
     rebuild: $prepare:path, $apply_rebuild:path, $finish:path) => {
        projection!($ty, $name, $kind, [$($table),+], $apply, {
            fn prepare_rebuild<'a>(&'a self, conn: &'a mut PgConnection) -> BoxFuture<'a, Result<RebuildState, ProjectionError>> {
                Box::pin($prepare(conn))
            }
            fn apply_rebuild<'a>(&'a self, conn: &'a mut PgConnection, events: &'a [StoredEvent], state: &'a mut RebuildState) -> BoxFuture<'a, Result<(), ProjectionError>> {
                Box::pin($apply_rebuild(conn, events, state))
            }
            fn finish_rebuild<'a>(&'a self, conn: &'a mut PgConnection, state: RebuildState) -> BoxFuture<'a, Result<(), ProjectionError>> {
                Box::pin($finish(conn, state))
            }
        });
    };
    ($ty:ident, $name:literal, $kind:expr, [$($table:literal),+], $apply:path, { $($rebuild:tt)* }) => {
        /// The projection, as a value.
        pub struct $ty;

        impl Projection for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn tables(&self) -> &'static [&'static str] {
                &[$($table),+]
            }
            fn kind(&self) -> Kind {
                $kind
            }
            fn apply<'a>(&'a self, conn: &'a mut PgConnection, events: &'a [StoredEvent]) -> BoxFuture<'a, Result<(), ProjectionError>> {
                Box::pin($apply(conn, events))
            }
            $($rebuild)*
        }
    };
}

projection!(
    MyShareLinks,
    "my_share_links",
    Kind::Inline,
    ["my_share_links"],
    crate::my_share_links::apply,
    rebuild: crate::my_share_links::prepare_rebuild,
    crate::my_share_links::apply_rebuild,
    crate::my_share_links::finish_rebuild
);
projection!(
    DriveItems,
    "drive_items",
    Kind::Inline,
    ["drive_items"],
    crate::drive_items::apply
);
projection!(
    QuotaUsage,
    "quota_usage",
    Kind::Inline,
    ["quota_usage", "quota_access_seen"],
    crate::quota_usage::apply
);
projection!(
    ShareAccessStats,
    "share_access_stats",
    Kind::Async,
    [
        "stats_shares",
        "stats_time_zones",
        "share_access_hourly",
        "share_visitors",
        "enterprise_access_daily",
        "enterprise_visitors_daily"
    ],
    crate::access_stats::apply,
    rebuild: crate::access_stats::prepare_rebuild,
    crate::access_stats::apply_rebuild,
    crate::access_stats::finish_rebuild
);
projection!(
    AuditIndex,
    "audit_index",
    Kind::Async,
    ["audit_streams", "audit_index"],
    crate::audit_index::apply
);

/// Every projection of the service.
pub static ALL: [&dyn Projection; 5] = [&MyShareLinks, &DriveItems, &QuotaUsage, &ShareAccessStats, &AuditIndex];

/// A projection by name.
pub fn find(name: &str) -> Option<&'static dyn Projection> {
    ALL.iter().copied().find(|p| p.name() == name)
}
