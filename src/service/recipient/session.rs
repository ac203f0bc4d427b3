//! Share sessions: what a recipient gets after opening a link (and typing its code). A signed,
//! short-lived token (<= 2 h, never past the link's expiry) bound to the link and to the code
//! version; a changed code or a cancelled link ends it on the next request, because every
//! request checks it against the share's current state.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shareledger_domain::share::Visitor;
use uuid::Uuid;

/// Longest a share session lasts.
pub const SESSION_TTL: Duration = Duration::hours(2);
/// The audience that keeps session tokens and API bearer tokens apart.
const AUDIENCE: &str = "shareledger-share-session";
/// The header API clients send the session in.
pub const HEADER: &str = "x-share-session";

/// What a share session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub aud: String,
    /// Session id.
    pub sid: Uuid,
    /// The share it opens.
    pub shr: Uuid,
    /// The code version it was opened with.
    pub cv: u32,
    pub vis: Visitor,
    pub exp: i64,
    pub iat: i64,
}

impl Session {
    /// A new session for a share, ending after 2 hours or at the link's expiry.
    pub fn new(
        share_id: Uuid,
        code_version: u32,
        visitor: Visitor,
        now: DateTime<Utc>,
        link_expiry: Option<DateTime<Utc>>,
    ) -> Self {
        let end = link_expiry.map_or(now + SESSION_TTL, |e| e.min(now + SESSION_TTL));
        Session {
            aud: AUDIENCE.to_owned(),
            sid: Uuid::now_v7(),
            shr: share_id,
            cv: code_version,
            vis: visitor,
            exp: end.timestamp(),
            iat: now.timestamp(),
        }
    }

    /// When it ends.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }

    /// Signs it.
    pub fn sign(&self, secret: &[u8]) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), self, &EncodingKey::from_secret(secret))
            .expect("HS256 signing of plain claims cannot fail")
    }

    /// Checks a token's signature and audience, whatever its expiry (see `verify`).
    pub fn verify_signature(secret: &[u8], token: &str) -> Option<Session> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        validation.validate_exp = false;
        jsonwebtoken::decode::<Session>(token, &DecodingKey::from_secret(secret), &validation)
            .ok()
            .map(|d| d.claims)
    }

    /// Whether it has ended at `now`.
    pub fn ended(&self, now: DateTime<Utc>) -> bool {
        now.timestamp() >= self.exp
    }

    /// Checks a token's signature, audience and expiry (at `now`).
    pub fn verify(secret: &[u8], token: &str, now: DateTime<Utc>) -> Option<Session> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "aud"]);
        // Expiry is judged by the service's clock below (tests move it), not the system's.
        validation.validate_exp = false;
        let session = jsonwebtoken::decode::<Session>(token, &DecodingKey::from_secret(secret), &validation)
            .ok()?
            .claims;
        (now.timestamp() < session.exp).then_some(session)
    }
}

/// The cookie a browser keeps the session of one link in (`__Host-`: Secure, Path=/, no Domain).
pub fn cookie_name(link_token: &str) -> String {
    let digest = hex::encode(Sha256::digest(link_token.as_bytes()));
    format!("__Host-shs-{}", &digest[..16])
}

/// The `Set-Cookie` value for a session.
pub fn set_cookie(link_token: &str, value: &str, max_age_seconds: i64) -> String {
    crate::web::set_cookie(&cookie_name(link_token), value, max_age_seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visitor() -> Visitor {
        Visitor::Anonymous {
            visitor_id: Uuid::nil(),
        }
    }

    #[test]
    fn sessions_last_two_hours_at_most_and_never_past_the_link() {
        let now: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let s = Session::new(Uuid::nil(), 1, visitor(), now, None);
        assert_eq!(s.expires_at(), now + Duration::hours(2));
        let s = Session::new(Uuid::nil(), 1, visitor(), now, Some(now + Duration::minutes(5)));
        assert_eq!(s.expires_at(), now + Duration::minutes(5));
    }

    #[test]
    fn a_session_verifies_with_its_key_until_it_ends_and_is_not_a_bearer_token() {
        let now: DateTime<Utc> = "2026-11-27T10:00:00Z".parse().unwrap();
        let s = Session::new(Uuid::nil(), 3, visitor(), now, None);
        let token = s.sign(b"0123456789abcdef0123456789abcdef");
        assert_eq!(
            Session::verify(b"0123456789abcdef0123456789abcdef", &token, now),
            Some(s.clone())
        );
        assert_eq!(Session::verify(b"another key, another key, anothe", &token, now), None);
        assert_eq!(
            Session::verify(b"0123456789abcdef0123456789abcdef", &token, now + Duration::hours(2)),
            None
        );
        assert!(crate::http::auth::verify(b"0123456789abcdef0123456789abcdef", &token, now).is_err());
        let cookie = set_cookie("TOKEN", &token, 7200);
        assert!(cookie.starts_with("__Host-shs-") && cookie.contains("Secure; HttpOnly; SameSite=Strict"));
    }
}
