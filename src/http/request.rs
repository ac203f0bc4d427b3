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
    /// What throttles count per client: the client address, or `unknown`.
    pub fn client_key(&self) -> String {
        self.ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
    }

    /// Metadata for the events a recipient causes.
    pub fn for_visitor(&self, visitor: &shareledger_domain::share::Visitor) -> EventMetadata {
        match visitor {
            shareledger_domain::share::Visitor::User { user_id, enterprise_id } => EventMetadata {
                actor: Some(user_id.clone()),
                actor_kind: Some("user".to_owned()),
                enterprise: Some(enterprise_id.clone()),
                ..self.base()
            },
            shareledger_domain::share::Visitor::Anonymous { visitor_id } => EventMetadata {
                actor: Some(format!("anonymous:{visitor_id}")),
                actor_kind: Some("anonymous".to_owned()),
                ..self.base()
            },
        }
    }

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

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let peer = client_ip(peer, &parts.headers, &state.config().trusted_proxies);
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

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` that is not a trusted proxy (anything further left is the client's say-so).
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[crate::config::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted.iter().any(|net| net.contains(peer)) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse().ok())
        .collect();
    Some(
        forwarded
            .iter()
            .rev()
            .copied()
            .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
            .unwrap_or(peer),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1".parse().unwrap());
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            client_ip(Some(proxy), &headers, &trusted),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(
            client_ip(Some(stranger), &headers, &trusted),
            Some(stranger),
            "spoofed header ignored"
        );
        assert_eq!(
            client_ip(Some(proxy), &axum::http::HeaderMap::new(), &trusted),
            Some(proxy)
        );
    }
}
