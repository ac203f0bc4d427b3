//! Bearer tokens: HS256 JWTs with `sub`, `ent`, `roles` and `exp`, signed with the service's
//! secret (`shareledger token` mints them for development).

use std::collections::BTreeSet;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use shareledger_domain::{Actor, Role};

use super::error::ApiError;
use crate::state::AppState;

/// The claims shareledger reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Enterprise id.
    pub ent: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Display name (shown to recipients as the share's owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Signs claims into a bearer token.
pub fn mint(secret: &[u8], claims: &Claims) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing of plain claims cannot fail")
}

/// Why a bearer token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the bearer token is invalid or expired")]
    Invalid,
    #[error("the token's claims are not acceptable: {0}")]
    Claims(&'static str),
}

/// Checks a token and turns its claims into an actor.
pub fn verify(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<Actor, AuthError> {
    actor_from(claims(secret, token, now)?)
}

/// A valid token's claims: signature, `exp` and `sub` present, and not expired at `now` (with 5 s
/// leeway). `now` is the service's clock, the one that set the `exp` of the tokens it mints, so
/// the two never disagree (the library's own check would read the system clock).
fn claims(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<Claims, AuthError> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(secret), &validation)
        .map(|data| data.claims)
        .map_err(|_| AuthError::Invalid)?;
    if claims.exp.saturating_add(LEEWAY_SECONDS) < now.timestamp() {
        return Err(AuthError::Invalid);
    }
    Ok(claims)
}

/// How long after its `exp` a token is still taken (clocks of issuers differ a little).
const LEEWAY_SECONDS: i64 = 5;

/// Checks a token with the service's key, against the service's clock (the one that set the
/// `exp` of the tokens it mints): what every request's sign-in goes through.
pub fn verify_in(state: &AppState, token: &str) -> Result<Actor, AuthError> {
    verify(&state.keys().jwt_secret, token, state.clock().now())
}

/// Checks a token like `verify`, and also says until when it is valid (seconds since the
/// epoch), e.g. for a cookie that should live as long.
pub fn verify_until(secret: &[u8], token: &str, now: DateTime<Utc>) -> Result<(Actor, i64), AuthError> {
    let claims = claims(secret, token, now)?;
    let exp = claims.exp;
    Ok((actor_from(claims)?, exp))
}

fn actor_from(claims: Claims) -> Result<Actor, AuthError> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control);
    if !ok(&claims.sub) {
        return Err(AuthError::Claims("sub must be 1 to 128 printable characters"));
    }
    if !ok(&claims.ent) {
        return Err(AuthError::Claims("ent must be 1 to 128 printable characters"));
    }
    let roles = if claims.roles.is_empty() {
        BTreeSet::from([Role::User])
    } else {
        claims
            .roles
            .iter()
            .map(|r| Role::parse(r).ok_or(AuthError::Claims("roles are user, admin, auditor, analyst")))
            .collect::<Result<_, _>>()?
    };
    let display_name = claims.name.filter(|n| ok(n)).unwrap_or_else(|| claims.sub.clone());
    Ok(Actor {
        user_id: claims.sub,
        enterprise_id: claims.ent,
        display_name,
        roles,
    })
}

/// The signed-in caller; rejects the request with 401 when there is none.
#[derive(Debug, Clone)]
pub struct Auth(pub Actor);

/// The signed-in caller, if any (recipients may be anonymous).
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Actor>);

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).with_header(header::WWW_AUTHENTICATE, "Bearer")
}

fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| unauthorized("The Authorization header is not readable."))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(unauthorized("Use `Authorization: Bearer <token>`.")),
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.ok_or_else(|| unauthorized("Sign in: send `Authorization: Bearer <token>`."))?;
        verify_in(state, token)
            .map(Auth)
            .map_err(|e| unauthorized(&e.to_string()))
    }
}

impl FromRequestParts<AppState> for MaybeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match bearer(parts)? {
            None => Ok(MaybeAuth(None)),
            Some(token) => verify_in(state, token)
                .map(|actor| MaybeAuth(Some(actor)))
                .map_err(|e| unauthorized(&e.to_string())),
        }
    }
}

/// Refuses unless the actor holds one of `roles`.
pub fn require_any(actor: &Actor, roles: &[Role]) -> Result<(), ApiError> {
    if roles.iter().any(|r| actor.has(*r)) {
        Ok(())
    } else {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("This needs one of the roles: {}.", names.join(", ")),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn token(exp: DateTime<Utc>) -> String {
        mint(
            SECRET,
            &Claims {
                sub: "ann".into(),
                ent: "acme".into(),
                roles: vec![],
                exp: exp.timestamp(),
                iat: None,
                name: None,
            },
        )
    }

    /// Expiry is judged by the service's clock, the one that set it: a token valid for an hour
    /// from a clock set in the year 2000 is valid for that hour, whatever the system clock says
    /// (a test clock, or a clock the service was told to use, never disagrees with itself).
    #[test]
    fn expiry_follows_the_clock_given_not_the_system_clock() {
        let at: DateTime<Utc> = "2000-01-01T00:00:00Z".parse().unwrap();
        let token = token(at + chrono::Duration::hours(1));
        assert_eq!(verify(SECRET, &token, at).unwrap().user_id, "ann");
        let (_, exp) = verify_until(SECRET, &token, at + chrono::Duration::minutes(59)).unwrap();
        assert_eq!(exp, (at + chrono::Duration::hours(1)).timestamp());
        // Within the leeway, then expired.
        assert!(verify(SECRET, &token, at + chrono::Duration::seconds(3605)).is_ok());
        assert!(verify(SECRET, &token, at + chrono::Duration::seconds(3606)).is_err());
        assert!(verify(b"another key, another key, anothe", &token, at).is_err());
    }
}
