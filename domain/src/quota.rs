//! The daily quota rules: how many shares a user may create (and access) per day, in the
//! enterprise's time zone. Enforcement is a transactional counter at the edge; the rules are
//! here.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

use crate::policy::PolicyState;

/// The reference product's default: 500 creates and 500 accesses per user per day.
pub const DEFAULT_DAILY_QUOTA: u32 = 500;

/// Which counter a quota applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaKind {
    /// Shares created.
    Create,
    /// Distinct shares accessed.
    Access,
}

impl QuotaKind {
    /// Stable name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Create => "create",
            QuotaKind::Access => "access",
        }
    }
}

/// The per-user daily limit under this policy; `None` when a custom domain lifts it.
pub fn daily_limit(policy: &PolicyState) -> Option<u32> {
    if policy.custom_domain.is_some() {
        None
    } else {
        Some(policy.daily_quota)
    }
}

/// The enterprise's time zone (UTC when the stored name is unknown).
pub fn time_zone(policy: &PolicyState) -> Tz {
    policy.time_zone.parse().unwrap_or(Tz::UTC)
}

/// The quota day `now` falls in, in the enterprise's time zone.
pub fn quota_day(now: DateTime<Utc>, tz: Tz) -> NaiveDate {
    now.with_timezone(&tz).date_naive()
}

/// When the quota day containing `now` ends (the next local midnight), as an instant.
pub fn next_reset(now: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
    let tomorrow = quota_day(now, tz)
        .checked_add_days(Days::new(1))
        .expect("date in range");
    let midnight = tomorrow.and_hms_opt(0, 0, 0).expect("midnight exists");
    // Around a DST change local midnight can be skipped or doubled: take the earliest instant
    // at or after it.
    match tz.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        chrono::LocalResult::None => tz
            .from_local_datetime(&(midnight + chrono::Duration::hours(1)))
            .earliest()
            .expect("an hour after a gap exists")
            .with_timezone(&Utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_day_follows_the_enterprise_time_zone() {
        let shanghai: Tz = "Asia/Shanghai".parse().unwrap();
        // 15:59:59 UTC is 23:59:59 in Shanghai; one second later it is the next day there.
        let before = "2026-11-27T15:59:59Z".parse::<DateTime<Utc>>().unwrap();
        let after = "2026-11-27T16:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(quota_day(before, shanghai).to_string(), "2026-11-27");
        assert_eq!(quota_day(after, shanghai).to_string(), "2026-11-28");
        assert_eq!(quota_day(after, Tz::UTC).to_string(), "2026-11-27");
        assert_eq!(next_reset(before, shanghai), after);
    }

    #[test]
    fn a_custom_domain_lifts_the_daily_limit() {
        let mut policy = PolicyState::default();
        assert_eq!(daily_limit(&policy), Some(DEFAULT_DAILY_QUOTA));
        policy.custom_domain = Some("share.example.com".into());
        assert_eq!(daily_limit(&policy), None);
    }
}
