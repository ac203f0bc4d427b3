//! The enterprise policy, for admins.

use serde::{Deserialize, Serialize};
use shareledger_domain::policy::{ChangePolicy, EnterprisePolicy, PolicyContext, PolicyState};
use shareledger_domain::{Actor, Aggregate, Role};
use utoipa::ToSchema;

use crate::http::auth::require_any;
use crate::http::error::ApiError;
use crate::http::request::RequestMeta;
use crate::runtime::CommandMeta;
use crate::service::context;
use crate::state::AppState;

/// An enterprise's sharing policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PolicyDto {
    pub enterprise_id: String,
    /// Links anyone may open.
    pub external_sharing: bool,
    /// Links for signed-in members only.
    pub internal_sharing: bool,
    /// Links that allow editing documents online.
    pub online_editing: bool,
    /// Host name links use; lifts the daily quota. Null: the service's public URL.
    pub custom_domain: Option<String>,
    /// Shares per user per day (creates, and distinct accesses).
    pub daily_quota: u32,
    /// IANA time zone of the quota day.
    pub time_zone: String,
}

impl PolicyDto {
    fn new(enterprise_id: &str, p: PolicyState) -> Self {
        PolicyDto {
            enterprise_id: enterprise_id.to_owned(),
            external_sharing: p.external_sharing,
            internal_sharing: p.internal_sharing,
            online_editing: p.online_editing,
            custom_domain: p.custom_domain,
            daily_quota: p.daily_quota,
            time_zone: p.time_zone,
        }
    }
}

/// A change of policy: only the fields given change.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyChangeRequest {
    #[serde(default)]
    pub external_sharing: Option<bool>,
    #[serde(default)]
    pub internal_sharing: Option<bool>,
    #[serde(default)]
    pub online_editing: Option<bool>,
    /// A host name; `null` removes the custom domain; omit to keep it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub custom_domain: Option<Option<String>>,
    /// Shares a user may create (and open) a day, 1 to 1,000,000.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub daily_quota: Option<u32>,
    #[serde(default)]
    pub time_zone: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::deserialize(d)?))
}

/// The actor's enterprise policy (admins).
pub async fn get(state: &AppState, actor: &Actor) -> Result<PolicyDto, ApiError> {
    require_any(actor, &[Role::Admin])?;
    Ok(PolicyDto::new(
        &actor.enterprise_id,
        context::policy(state, &actor.enterprise_id).await?,
    ))
}

/// Changes the actor's enterprise policy (admins).
pub async fn change(
    state: &AppState,
    actor: &Actor,
    req: &RequestMeta,
    body: PolicyChangeRequest,
) -> Result<PolicyDto, ApiError> {
    let now = state.clock().now();
    let command = ChangePolicy {
        external_sharing: body.external_sharing,
        internal_sharing: body.internal_sharing,
        online_editing: body.online_editing,
        custom_domain: body.custom_domain,
        daily_quota: body.daily_quota,
        time_zone: body.time_zone,
    };
    let ctx = PolicyContext {
        actor: actor.clone(),
        enterprise_id: actor.enterprise_id.clone(),
    };
    let meta = CommandMeta {
        metadata: req.for_actor(actor),
        occurred_at: now,
    };
    let done = state
        .runtime()
        .execute::<EnterprisePolicy>(
            &EnterprisePolicy::stream_id(&actor.enterprise_id),
            &command,
            &ctx,
            &meta,
            &[],
        )
        .await?
        .map_err(ApiError::from)?;
    Ok(PolicyDto::new(&actor.enterprise_id, done.state))
}
