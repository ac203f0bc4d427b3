//! Operations endpoints and the error envelope, through the router.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use shareledger::state::AppState;
use shareledger::testkit::TestDb;
use tower::ServiceExt;

async fn call(app: axum::Router, method: &str, uri: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .oneshot(Request::builder().method(method).uri(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        response.headers().contains_key("x-request-id"),
        "every response carries a request id"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    (status, content_type, body)
}

#[tokio::test]
async fn healthz_and_readyz_answer_when_the_database_is_migrated() {
    let db = TestDb::new().await;
    let app = shareledger::http::app(AppState::new(db.config(), db.pool.clone()).unwrap());
    let (status, _, body) = call(app.clone(), "GET", "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["status"], "ok");
    let (status, _, body) = call(app, "GET", "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["checks"]["migrations"],
        "ok"
    );
}

#[tokio::test]
async fn readyz_is_not_ready_while_migrations_are_pending() {
    let db = TestDb::new().await;
    let mut conn = db.connection().await;
    sqlx::query("DELETE FROM _sqlx_migrations")
        .execute(&mut conn)
        .await
        .unwrap();
    let app = shareledger::http::app(AppState::new(db.config(), db.pool.clone()).unwrap());
    let (status, content_type, body) = call(app, "GET", "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "not_ready");
    assert_eq!(problem["checks"]["migrations"], "pending");
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text_by_route_template() {
    let db = TestDb::new().await;
    let app = shareledger::http::app(AppState::new(db.config(), db.pool.clone()).unwrap());
    call(app.clone(), "GET", "/healthz").await;
    let (status, content_type, body) = call(app, "GET", "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"));
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_get_problem_documents() {
    let db = TestDb::new().await;
    let app = shareledger::http::app(AppState::new(db.config(), db.pool.clone()).unwrap());
    let (status, content_type, body) = call(app.clone(), "GET", "/no/such/thing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["code"], "not_found");
    assert_eq!(problem["status"], 404);
    assert!(problem["type"].as_str().unwrap().ends_with("not_found"));
    let (status, _, body) = call(app, "DELETE", "/healthz").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["code"],
        "method_not_allowed"
    );
}
