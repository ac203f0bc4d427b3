//! Work that commits with the events: the inline projections and the daily quota.

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use shareledger_domain::Aggregate;
use shareledger_domain::quota::QuotaKind;
use shareledger_projections::{ProjectionError, drive_items, my_share_links, quota_usage};
use sqlx::PgConnection;

use crate::runtime::{EventsHook, Fused, HookError, TxHook};
use crate::store::{FusedWrite, StoreError, StoredEvent};

/// Applies every inline projection (My Share Links, drive items) to the new events.
pub struct InlineProjections;

fn projection_error(e: ProjectionError) -> HookError {
    match e {
        ProjectionError::Database(e) => HookError::Store(e.into()),
        other => HookError::Store(StoreError::Corrupt(other.to_string())),
    }
}

impl EventsHook for InlineProjections {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            my_share_links::apply(tx, events).await.map_err(projection_error)?;
            drive_items::apply(tx, events).await.map_err(projection_error)
        })
    }
}

impl<A: Aggregate> TxHook<A> for InlineProjections {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        _: &'a A::State,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        EventsHook::apply(self, tx, events)
    }

    /// A new share's My Share Links row (drive items take no part in a share's events).
    fn fused(&self, _: &A::State, events: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        let row = my_share_links::push_created_with_append(events).map_err(projection_error)?;
        Ok(row.map(|push| Fused::Write(FusedWrite::new(push))))
    }
}

/// Counts a create (or access) against the user's daily quota; refuses when it is used up.
pub struct DailyQuota {
    pub user_id: String,
    pub enterprise_id: String,
    pub day: NaiveDate,
    pub kind: QuotaKind,
    /// `None`: no limit (a custom domain lifts it), but still counted.
    pub limit: Option<u32>,
}

/// The code of a quota refusal.
pub const QUOTA_EXCEEDED: &str = "daily_quota_exceeded";

impl DailyQuota {
    fn refusal(&self) -> (&'static str, String) {
        let what = match self.kind {
            QuotaKind::Create => "create",
            QuotaKind::Access => "open",
        };
        let detail = format!(
            "You can {what} at most {} shares a day; the quota resets at midnight in your enterprise's time zone.",
            self.limit.unwrap_or(0)
        );
        (QUOTA_EXCEEDED, detail)
    }
}

impl<A: Aggregate> TxHook<A> for DailyQuota {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        _: &'a A::State,
        _: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            let granted =
                quota_usage::try_consume(tx, &self.user_id, &self.enterprise_id, self.day, self.kind, self.limit)
                    .await?;
            if granted {
                Ok(())
            } else {
                let (code, detail) = self.refusal();
                Err(HookError::Refused { code, detail })
            }
        })
    }

    /// The same counter as the gate of a one-statement append: its row is locked from the
    /// statement's start to its commit, one round trip.
    fn fused(&self, _: &A::State, _: &[StoredEvent]) -> Result<Option<Fused>, HookError> {
        let key = format!("quota/{}/{}/{}", self.user_id, self.day, self.kind.as_str());
        let (user_id, enterprise_id, day, kind, limit) = (
            self.user_id.clone(),
            self.enterprise_id.clone(),
            self.day,
            self.kind,
            self.limit,
        );
        let check =
            FusedWrite::new(move |q, _| quota_usage::push_consume(q, &user_id, &enterprise_id, day, kind, limit));
        let (code, detail) = self.refusal();
        Ok(Some(Fused::Gate {
            check,
            key,
            code,
            detail,
        }))
    }
}
