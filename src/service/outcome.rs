//! The answer of a use case: a status and a JSON body (replayable for idempotent retries).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Status and body of a command's answer.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: Value,
}

impl Outcome {
    /// An answer with this status and serializable body.
    pub fn new(status: StatusCode, body: &impl Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_value(body).expect("response bodies are plain data"),
        }
    }
}

impl IntoResponse for Outcome {
    fn into_response(self) -> Response {
        let problem = self.status.is_client_error() || self.status.is_server_error();
        let mut response = (self.status, axum::Json(self.body)).into_response();
        if problem {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            );
        }
        response
    }
}
