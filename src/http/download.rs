//! Serving file content: RFC 6266 filenames with dangerous characters neutralised, the
//! no-store/nosniff headers, and single byte ranges.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::content::Opened;

/// Inline (preview) or attachment (download).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Inline,
    Attachment,
}

/// `Content-Disposition` for a file name: an ASCII fallback with quotes, CR, LF and path
/// separators replaced, and the exact UTF-8 name in `filename*` (RFC 6266 / RFC 8187).
pub fn content_disposition(disposition: Disposition, name: &str) -> HeaderValue {
    let kind = match disposition {
        Disposition::Inline => "inline",
        Disposition::Attachment => "attachment",
    };
    let safe: String = name
        .chars()
        .map(|c| match c {
            '"' | '\\' | '/' | '\r' | '\n' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let ascii: String = safe.chars().map(|c| if c.is_ascii() { c } else { '_' }).collect();
    let encoded = crate::service::links::encode_query_value(&safe);
    HeaderValue::from_str(&format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// A `Range` header that cannot be served: malformed, several ranges, or outside the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

impl From<()> for Unsatisfiable {
    fn from(_: ()) -> Self {
        Unsatisfiable
    }
}

/// Parses a single `Range: bytes=a-b` (or `a-`, `-n`) against `size`; `Ok(None)` when no range
/// is asked.
pub fn parse_range(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, Unsatisfiable> {
    parse(headers, size).map_err(Unsatisfiable::from)
}

fn parse(headers: &HeaderMap, size: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| ())?;
    let spec = text.strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') {
        return Err(());
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            size.saturating_sub(n)..size
        }
        (start, "") => start.parse::<u64>().map_err(|_| ())?..size,
        (start, end) => {
            let (s, e): (u64, u64) = (start.parse().map_err(|_| ())?, end.parse().map_err(|_| ())?);
            if e < s {
                return Err(());
            }
            s..(e + 1).min(size)
        }
    };
    if range.start >= size || range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

/// 416 for a range that cannot be served.
pub fn range_not_satisfiable(size: u64) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::RANGE_NOT_SATISFIABLE;
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
        response.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    response
}

/// Streams opened content with the right status, length, range and disposition headers.
pub fn content_response(
    opened: Opened,
    name: &str,
    content_type: &str,
    disposition: Disposition,
    partial: bool,
) -> Response {
    let length = opened.range.end - opened.range.start;
    let mut response = Response::new(Body::from_stream(opened.body));
    *response.status_mut() = if partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_DISPOSITION, content_disposition(disposition, name));
    if partial
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            opened.range.start,
            opened.range.end - 1,
            opened.size
        ))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_cannot_break_out_of_the_header() {
        let v = content_disposition(Disposition::Attachment, "a\"b\r\nSet-Cookie: x=1/../報告.pdf");
        let text = v.to_str().unwrap();
        assert!(!text.contains('\r') && !text.contains('\n'));
        assert!(
            text.starts_with("attachment; filename=\"a_b__Set-Cookie: x=1_.._"),
            "{text}"
        );
        assert!(
            text.contains("filename*=UTF-8''a_b__Set-Cookie%3A%20x%3D1_.._%E5%A0%B1%E5%91%8A.pdf"),
            "{text}"
        );
    }

    #[test]
    fn single_ranges_are_parsed_and_unsatisfiable_ones_refused() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_range(&h, 10), Ok(None));
        for (spec, want) in [
            ("bytes=0-3", Ok(Some(0..4))),
            ("bytes=5-", Ok(Some(5..10))),
            ("bytes=-3", Ok(Some(7..10))),
            ("bytes=8-100", Ok(Some(8..10))),
        ] {
            h.insert(header::RANGE, HeaderValue::from_static(spec));
            assert_eq!(parse_range(&h, 10), want, "{spec}");
        }
        for spec in ["bytes=10-", "bytes=4-2", "bytes=0-1,3-4", "items=0-1", "bytes=-0"] {
            h.insert(header::RANGE, HeaderValue::from_static(spec));
            assert_eq!(parse_range(&h, 10), Err(Unsatisfiable), "{spec}");
        }
    }
}
