//! Facts about the request that go into event metadata: request id, client address, user agent.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use shareledger_domain::Actor;

use super::error::ApiError;
use super::middleware::RequestId;
use crate::state::AppState;
use crate::store::EventMetadata;

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub request_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

impl RequestMeta {
    /// Metadata for the events a signed-in actor causes.
    pub fn for_actor(&self, actor: &Actor) -> EventMetadata {
        EventMetadata {
            actor: Some(actor.user_id.clone()),
            actor_kind: Some(
                if actor.has(shareledger_domain::Role::Admin) {
                    "admin"
                } else {
                    "user"
                }
                .to_owned(),
            ),
            enterprise: Some(actor.enterprise_id.clone()),
            ..self.base()
        }
    }

    /// Metadata for events of a visitor who is not signed in.
    pub fn for_anonymous(&self) -> EventMetadata {
        EventMetadata {
            actor_kind: Some("anonymous".to_owned()),
            ..self.base()
        }
    }

    fn base(&self) -> EventMetadata {
        EventMetadata {
            ip: self.ip.map(|ip| ip.to_string()),
            user_agent: self.user_agent.clone(),
            request_id: self.request_id.clone(),
            correlation_id: self.request_id.clone(),
            ..EventMetadata::default()
        }
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(RequestMeta {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
            ip: peer,
            user_agent,
        })
    }
}
