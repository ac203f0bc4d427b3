//! EnterprisePolicy (`policy-<enterprise>`): the admin's switches for sharing in one enterprise.

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::Actor;
use crate::aggregate::Aggregate;
use crate::event::{DecodeError, DomainEvent, decode_tagged, encode_tagged};
use crate::quota::DEFAULT_DAILY_QUOTA;
use crate::refusal::{Refusal, RefusalKind};

/// Highest daily quota an admin may set.
pub const MAX_DAILY_QUOTA: u32 = 1_000_000;

/// The enterprise's sharing policy (defaults apply until an admin changes something).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyState {
    /// Links anyone may open (scope `anyone`).
    pub external_sharing: bool,
    /// Links for signed-in members only (scope `enterprise`).
    pub internal_sharing: bool,
    /// Links that allow editing documents online.
    pub online_editing: bool,
    /// The host name links use instead of the service's public URL; lifts the daily quota.
    pub custom_domain: Option<String>,
    /// Shares a user may create, and distinct shares a user may access, per day.
    pub daily_quota: u32,
    /// IANA time zone the quota day follows.
    pub time_zone: String,
}

impl Default for PolicyState {
    fn default() -> Self {
        Self {
            external_sharing: true,
            internal_sharing: true,
            online_editing: false,
            custom_domain: None,
            daily_quota: DEFAULT_DAILY_QUOTA,
            time_zone: "UTC".to_owned(),
        }
    }
}

/// An admin's change: only the given fields change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePolicy {
    pub external_sharing: Option<bool>,
    pub internal_sharing: Option<bool>,
    pub online_editing: Option<bool>,
    /// `Some(None)` removes the custom domain.
    pub custom_domain: Option<Option<String>>,
    pub daily_quota: Option<u32>,
    pub time_zone: Option<String>,
}

/// What changed in a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PolicyEvent {
    ExternalSharingChanged { enabled: bool },
    InternalSharingChanged { enabled: bool },
    OnlineEditingChanged { enabled: bool },
    CustomDomainChanged { domain: Option<String> },
    DailyQuotaChanged { limit: u32 },
    TimeZoneChanged { time_zone: String },
}

/// Why a policy change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("only an administrator of this enterprise can change its policy")]
    NotAdmin,
    #[error("{0:?} is not a valid host name for a custom domain")]
    InvalidDomain(String),
    #[error("the daily quota must be between 1 and {MAX_DAILY_QUOTA}")]
    InvalidQuota,
    #[error("{0:?} is not an IANA time zone name (like Europe/Berlin or Asia/Shanghai)")]
    InvalidTimeZone(String),
}

impl Refusal for PolicyError {
    fn code(&self) -> &'static str {
        match self {
            PolicyError::NotAdmin => "admin_required",
            PolicyError::InvalidDomain(_) => "custom_domain_invalid",
            PolicyError::InvalidQuota => "daily_quota_invalid",
            PolicyError::InvalidTimeZone(_) => "time_zone_invalid",
        }
    }

    fn kind(&self) -> RefusalKind {
        match self {
            PolicyError::NotAdmin => RefusalKind::Forbidden,
            _ => RefusalKind::Invalid,
        }
    }
}

/// Who asks, for which enterprise.
#[derive(Debug, Clone)]
pub struct PolicyContext {
    pub actor: Actor,
    pub enterprise_id: String,
}

/// The EnterprisePolicy aggregate.
pub struct EnterprisePolicy;

impl Aggregate for EnterprisePolicy {
    const STREAM_PREFIX: &'static str = "policy";
    const STATE_SCHEMA: i32 = 1;
    type State = PolicyState;
    type Command = ChangePolicy;
    type Event = PolicyEvent;
    type Context = PolicyContext;
    type Error = PolicyError;

    fn decide(
        state: &PolicyState,
        change: &ChangePolicy,
        ctx: &PolicyContext,
    ) -> Result<Vec<PolicyEvent>, PolicyError> {
        if !ctx.actor.is_admin_of(&ctx.enterprise_id) {
            return Err(PolicyError::NotAdmin);
        }
        let mut events = Vec::new();
        if let Some(enabled) = change.external_sharing.filter(|v| *v != state.external_sharing) {
            events.push(PolicyEvent::ExternalSharingChanged { enabled });
        }
        if let Some(enabled) = change.internal_sharing.filter(|v| *v != state.internal_sharing) {
            events.push(PolicyEvent::InternalSharingChanged { enabled });
        }
        if let Some(enabled) = change.online_editing.filter(|v| *v != state.online_editing) {
            events.push(PolicyEvent::OnlineEditingChanged { enabled });
        }
        if let Some(domain) = &change.custom_domain {
            let domain = domain.as_deref().map(validate_domain).transpose()?;
            if domain != state.custom_domain {
                events.push(PolicyEvent::CustomDomainChanged { domain });
            }
        }
        if let Some(limit) = change.daily_quota {
            if limit == 0 || limit > MAX_DAILY_QUOTA {
                return Err(PolicyError::InvalidQuota);
            }
            if limit != state.daily_quota {
                events.push(PolicyEvent::DailyQuotaChanged { limit });
            }
        }
        if let Some(tz) = &change.time_zone {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                return Err(PolicyError::InvalidTimeZone(tz.clone()));
            }
            if *tz != state.time_zone {
                events.push(PolicyEvent::TimeZoneChanged { time_zone: tz.clone() });
            }
        }
        Ok(events)
    }

    fn evolve(mut state: PolicyState, event: &PolicyEvent) -> PolicyState {
        match event {
            PolicyEvent::ExternalSharingChanged { enabled } => state.external_sharing = *enabled,
            PolicyEvent::InternalSharingChanged { enabled } => state.internal_sharing = *enabled,
            PolicyEvent::OnlineEditingChanged { enabled } => state.online_editing = *enabled,
            PolicyEvent::CustomDomainChanged { domain } => state.custom_domain = domain.clone(),
            PolicyEvent::DailyQuotaChanged { limit } => state.daily_quota = *limit,
            PolicyEvent::TimeZoneChanged { time_zone } => state.time_zone = time_zone.clone(),
        }
        state
    }
}

/// A lower-case DNS host name: labels of letters, digits and inner hyphens, at least two labels.
fn validate_domain(domain: &str) -> Result<String, PolicyError> {
    let lower = domain.to_ascii_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    let ok = lower.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(lower)
    } else {
        Err(PolicyError::InvalidDomain(domain.to_owned()))
    }
}

impl DomainEvent for PolicyEvent {
    fn event_type(&self) -> &'static str {
        match self {
            PolicyEvent::ExternalSharingChanged { .. } => "ExternalSharingChanged",
            PolicyEvent::InternalSharingChanged { .. } => "InternalSharingChanged",
            PolicyEvent::OnlineEditingChanged { .. } => "OnlineEditingChanged",
            PolicyEvent::CustomDomainChanged { .. } => "CustomDomainChanged",
            PolicyEvent::DailyQuotaChanged { .. } => "DailyQuotaChanged",
            PolicyEvent::TimeZoneChanged { .. } => "TimeZoneChanged",
        }
    }

    fn schema_version(&self) -> i32 {
        1
    }

    fn to_payload(&self) -> Value {
        encode_tagged(self)
    }

    fn from_stored(
        event_type: &str,
        schema_version: i32,
        payload: &crate::json::LazyJson,
    ) -> Result<Self, DecodeError> {
        if schema_version > 1 {
            return Err(DecodeError::FutureVersion {
                event_type: event_type.to_owned(),
                found: schema_version,
                known: 1,
            });
        }
        decode_tagged(event_type, schema_version, payload)
    }
}
