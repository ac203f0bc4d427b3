//! Link tokens: 128 bits from the OS random source, URL-safe base64 (22 characters). The
//! database only ever sees their SHA-256; the raw token is sealed for the owner.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Length of every link token.
pub const TOKEN_LEN: usize = 22;

/// A new random link token.
pub fn new_link_token() -> String {
    URL_SAFE_NO_PAD.encode(super::random_bytes::<16>())
}

/// Whether `text` has the shape of a link token (length and alphabet), before any lookup.
pub fn is_well_formed(text: &str) -> bool {
    text.len() == TOKEN_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// What the database stores and looks up: SHA-256 of the token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn a_hundred_thousand_tokens_are_distinct_fixed_length_and_url_safe() {
        let tokens: HashSet<String> = (0..100_000).map(|_| new_link_token()).collect();
        assert_eq!(tokens.len(), 100_000);
        assert!(tokens.iter().all(|t| is_well_formed(t)));
    }

    #[test]
    fn malformed_tokens_are_recognised() {
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed(&"a".repeat(23)));
        assert!(!is_well_formed("aaaaaaaaaaaaaaaaaaaa/+"));
        assert!(is_well_formed("AZaz09-_AZaz09-_AZaz09"));
    }
}
