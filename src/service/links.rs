//! The links the owner copies: `<base>/s/<token>`, with the code when auto-fill is on, and the
//! QR codes that carry them. The base is the enterprise's custom domain when it has one.

use shareledger_domain::policy::PolicyState;
use uuid::Uuid;

use crate::config::Config;

/// The link of a share.
pub fn link(config: &Config, policy: &PolicyState, token: &str, autofill_code: Option<&str>) -> String {
    let base = match &policy.custom_domain {
        Some(domain) => format!("https://{domain}"),
        None => config.public_url.clone(),
    };
    match autofill_code {
        Some(code) => format!("{base}/s/{token}?code={}", encode_query_value(code)),
        None => format!("{base}/s/{token}"),
    }
}

/// What a QR code encodes: the link plus the QR code's id (valid for 7 days from issue).
pub fn qr_target(link: &str, qr_id: Uuid) -> String {
    let separator = if link.contains('?') { '&' } else { '?' };
    format!("{link}{separator}qr={}", qr_id.simple())
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_custom_domain_and_carry_an_encoded_code_when_auto_filled() {
        let config = Config::for_database(None, std::path::Path::new("/tmp/x"));
        let mut policy = PolicyState::default();
        assert_eq!(link(&config, &policy, "TOKEN", None), "http://127.0.0.1:8080/s/TOKEN");
        policy.custom_domain = Some("share.example.com".into());
        assert_eq!(
            link(&config, &policy, "TOKEN", Some("a&b=c d")),
            "https://share.example.com/s/TOKEN?code=a%26b%3Dc%20d"
        );
        let qr = qr_target("https://x/s/T?code=1", Uuid::nil());
        assert_eq!(qr, "https://x/s/T?code=1&qr=00000000000000000000000000000000");
    }
}
