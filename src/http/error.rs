//! The one error envelope: `application/problem+json` (RFC 9457) with a stable `code`.
//! Mapped here from every error type; 5xx causes are logged once, by the middleware.

use std::sync::Arc;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// Handler result with the problem envelope as error.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

/// An error answered as a problem document.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
    /// Extra response headers (e.g. `WWW-Authenticate`).
    pub headers: Vec<(axum::http::HeaderName, HeaderValue)>,
    /// The cause, for the log (never sent to the client).
    pub cause: Option<Arc<anyhow::Error>>,
}

/// The cause of a 5xx, handed to the logging middleware through response extensions.
#[derive(Clone)]
pub struct ErrorCause(pub Arc<anyhow::Error>);

impl ApiError {
    /// A problem with this status, stable code and human explanation.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
            headers: Vec::new(),
            cause: None,
        }
    }

    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// The database cannot be reached: fail fast, tell the client to come back.
    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The service cannot reach its database right now. Nothing was changed; retry shortly.",
        );
        e.retry_after = Some(2);
        e.cause = Some(Arc::new(cause.into()));
        e
    }

    /// An unexpected failure: logged with its cause, answered without details.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. It has been logged.",
        );
        e.cause = Some(Arc::new(cause.into()));
        e
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: axum::http::HeaderName, value: &'static str) -> Self {
        self.headers.push((name, HeaderValue::from_static(value)));
        self
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl ApiError {
    /// The problem document.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("urn:shareledger:problem:{}", self.code),
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "code": self.code,
            "detail": self.detail,
        });
        if let Value::Object(map) = &mut body {
            map.extend(self.extra.clone());
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = self.body();
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(ErrorCause(cause));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::unavailable(e)
        } else if let StoreError::Conflict { .. } = e {
            ApiError::new(
                StatusCode::CONFLICT,
                "concurrent_modification",
                "Someone else changed this at the same moment. Nothing was changed; retry.",
            )
            .with_retry_after(1)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> Self {
        match e {
            RuntimeError::Store(store) => store.into(),
            RuntimeError::Contention { attempts } => ApiError::new(
                StatusCode::CONFLICT,
                "concurrent_modification",
                format!("This item is being changed by many requests at once; {attempts} attempts did not get through. Nothing was changed; retry."),
            )
            .with_retry_after(1),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::store::LogError> for ApiError {
    fn from(e: crate::store::LogError) -> Self {
        StoreError::from(e).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl ApiError {
    /// A domain refusal: its kind decides the status, its code and message go to the client.
    pub fn refused<E: shareledger_domain::Refusal>(e: &E) -> Self {
        use shareledger_domain::RefusalKind;
        let status = match e.kind() {
            RefusalKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            RefusalKind::Forbidden => StatusCode::FORBIDDEN,
            RefusalKind::NotFound => StatusCode::NOT_FOUND,
            RefusalKind::Conflict => StatusCode::CONFLICT,
            RefusalKind::Gone => StatusCode::GONE,
            RefusalKind::Exhausted => StatusCode::TOO_MANY_REQUESTS,
        };
        let mut detail = e.to_string();
        if let Some(first) = detail.get(..1) {
            detail = format!("{}{}.", first.to_uppercase(), &detail[1..]);
        }
        ApiError::new(status, e.code(), detail)
    }
}

impl<E: shareledger_domain::Refusal> From<crate::runtime::Rejection<E>> for ApiError {
    fn from(rejection: crate::runtime::Rejection<E>) -> Self {
        match rejection {
            crate::runtime::Rejection::Domain(e) => ApiError::refused(&e),
            crate::runtime::Rejection::Hook { code, detail } => {
                let status = if code.ends_with("quota_exceeded") {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::CONFLICT
                };
                ApiError::new(status, code, detail)
            }
        }
    }
}
