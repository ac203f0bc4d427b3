//! `Path` and `Query` extractors whose rejections are problem documents.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path as AxumPath, Query as AxumQuery};
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use super::error::ApiError;

/// Path parameters; a malformed one is a 400 problem.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        AxumPath::<T>::from_request_parts(parts, state)
            .await
            .map(|AxumPath(v)| Path(v))
            .map_err(|e: PathRejection| ApiError::bad_request("invalid_path_parameter", e.body_text()))
    }
}

/// Query parameters; malformed ones are a 400 problem. A parameter with an empty value
/// (`?cursor=&limit=`, what an HTML form sends for a field left blank) is taken as absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let trimmed = parts.uri.query().and_then(without_empty_values).and_then(|kept| {
            let path = parts.uri.path();
            let uri = if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{kept}")
            };
            uri.parse::<axum::http::Uri>().ok()
        });
        AxumQuery::<T>::try_from_uri(trimmed.as_ref().unwrap_or(&parts.uri))
            .map(|AxumQuery(v)| Query(v))
            .map_err(|e: QueryRejection| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// The query string without its empty parameters (`name=` or a bare `name`), or `None` when it
/// has none.
fn without_empty_values(query: &str) -> Option<String> {
    let empty = |pair: &str| pair.split_once('=').is_none_or(|(_, value)| value.is_empty());
    if !query.split('&').any(empty) {
        return None;
    }
    Some(
        query
            .split('&')
            .filter(|pair| !empty(pair))
            .collect::<Vec<_>>()
            .join("&"),
    )
}

/// The error document every endpoint answers with (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:shareledger:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// Human explanation.
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::without_empty_values;

    #[test]
    fn empty_parameters_are_dropped_and_others_kept_as_they_are() {
        assert_eq!(without_empty_values("q=a&limit=5"), None);
        assert_eq!(without_empty_values("q=&limit=5&cursor="), Some("limit=5".to_owned()));
        assert_eq!(without_empty_values("flag&q=a%3D"), Some("q=a%3D".to_owned()));
        assert_eq!(without_empty_values("q=="), None);
        assert_eq!(without_empty_values("&&"), Some(String::new()));
        assert_eq!(without_empty_values("q="), Some(String::new()));
    }
}
