//! Concurrent creates, by any owners, written together (`service::combine`): one transaction
//! appends them all, inserts their My Share Links rows and their secrets with one statement
//! each, and counts them against their owners' daily quotas with one more. The streams are new,
//! so nothing is read or locked first (`Runtime::execute_batch_new`).
//!
//! A quota that one owner has used up refuses the whole transaction; the batch is then written
//! again one create at a time, so only that owner's extra creates are refused, exactly as
//! without batching. Idempotency-keyed creates do not come here: what they remember is
//! written with each one (`commands::create`).

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use shareledger_domain::quota::{self, QuotaKind};
use shareledger_domain::share::{Share, ShareCreated, ShareEvent};
use shareledger_projections::quota_usage::{self, Uses};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::crypto::seal::SealKey;
use crate::http::error::ApiError;
use crate::runtime::{BatchOutcome, EventsHook, HookError, Rejection};
use crate::service::combine::{Combiner, Kind, Pending};
use crate::service::hooks::{InlineProjections, QUOTA_EXCEEDED, quota_refused};
use crate::service::secrets::{CreatedSecrets, NewCode, insert_created};
use crate::state::AppState;
use crate::store::{StoreError, StoredEvent};

/// Creates written together.
pub struct Creates;

/// What a create carries besides its command: the new share's secrets.
pub struct NewShare {
    pub share_id: Uuid,
    pub token: String,
    pub code: Option<NewCode>,
}

impl Kind for Creates {
    type Extra = NewShare;

    fn combiner(state: &AppState) -> &Combiner<Self> {
        state.creates()
    }

    fn write<'a>(
        state: &'a AppState,
        batch: &'a [Pending<NewShare>],
    ) -> BoxFuture<'a, Result<Vec<BatchOutcome<Share>>, ApiError>> {
        Box::pin(async move {
            let outcomes = write_together(state, batch).await?;
            let over_quota = |o: &BatchOutcome<Share>| {
                matches!(
                    o,
                    Err(Rejection::Hook {
                        code: QUOTA_EXCEEDED,
                        ..
                    })
                )
            };
            if batch.len() == 1 || !outcomes.iter().all(over_quota) {
                return Ok(outcomes);
            }
            let mut each = Vec::with_capacity(batch.len());
            for one in batch.chunks(1) {
                each.extend(write_together(state, one).await?);
            }
            Ok(each)
        })
    }
}

async fn write_together(state: &AppState, batch: &[Pending<NewShare>]) -> Result<Vec<BatchOutcome<Share>>, ApiError> {
    let items: Vec<_> = batch.iter().map(Pending::item).collect();
    let secrets = Secrets {
        seal: &state.keys().seal,
        shares: batch.iter().map(|p| (p.extra.share_id, &p.extra)).collect(),
    };
    let quotas = Quotas {
        limits: (batch.iter())
            .map(|p| (p.extra.share_id, quota::daily_limit(&p.context.policy)))
            .collect(),
    };
    // The quota last: its counter rows stay locked until the commit.
    let hooks: [&dyn EventsHook; 3] = [&InlineProjections, &secrets, &quotas];
    Ok(state.runtime().execute_batch_new::<Share>(&items, &hooks).await?)
}

/// The shares created in a batch's events.
fn created(events: &[StoredEvent]) -> impl Iterator<Item = Result<Box<ShareCreated>, HookError>> + '_ {
    events
        .iter()
        .filter(|e| e.event_type == "ShareCreated")
        .filter_map(|e| match e.decode::<ShareEvent>() {
            Ok(ShareEvent::ShareCreated(c)) => Some(Ok(c)),
            Ok(_) => None,
            Err(e) => Some(Err(HookError::Store(StoreError::Corrupt(e.to_string())))),
        })
}

/// Stores the new shares' secrets.
struct Secrets<'a> {
    seal: &'a SealKey,
    shares: HashMap<Uuid, &'a NewShare>,
}

impl EventsHook for Secrets<'_> {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            let mut rows = Vec::new();
            for c in created(events) {
                let c = c?;
                let share = self.shares.get(&c.share_id).ok_or_else(|| {
                    HookError::Store(StoreError::Corrupt(format!(
                        "share {} was created without its secrets",
                        c.share_id
                    )))
                })?;
                rows.push(CreatedSecrets {
                    share_id: c.share_id,
                    token: &share.token,
                    code: share.code.as_ref(),
                    code_version: c.code_version,
                });
            }
            if !rows.is_empty() {
                insert_created(tx, self.seal, &rows).await?;
            }
            Ok(())
        })
    }
}

/// Counts the new shares against their owners' daily quotas, each owner's at once.
struct Quotas {
    /// Each share's owner's limit, as the create was decided.
    limits: HashMap<Uuid, Option<u32>>,
}

impl EventsHook for Quotas {
    fn apply<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            let mut by_owner: BTreeMap<(String, NaiveDate), Uses> = BTreeMap::new();
            for c in created(events) {
                let c = c?;
                let limit = self.limits.get(&c.share_id).copied().flatten();
                let uses = by_owner
                    .entry((c.owner_id.clone(), c.quota_day))
                    .or_insert_with(|| Uses {
                        user_id: c.owner_id,
                        enterprise_id: c.enterprise_id,
                        day: c.quota_day,
                        count: 0,
                        limit,
                    });
                uses.count += 1;
                // Should the policy have changed between two creates, the tighter limit holds.
                uses.limit = match (uses.limit, limit) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            let uses: Vec<Uses> = by_owner.into_values().collect();
            if uses.is_empty() || quota_usage::try_consume_many(tx, QuotaKind::Create, &uses).await? {
                Ok(())
            } else {
                Err(quota_refused(QuotaKind::Create, uses[0].limit))
            }
        })
    }
}
