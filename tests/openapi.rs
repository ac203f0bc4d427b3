//! The OpenAPI document is generated from the handlers; a snapshot makes every change to the
//! public contract visible in review.

mod support;

use axum::http::StatusCode;
use support::TestApp;

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let (_, doc) = shareledger::http::api(100 << 20);
    insta::assert_json_snapshot!("openapi", serde_json::to_value(&doc).unwrap());
}

#[tokio::test]
async fn the_document_is_served_and_documents_every_endpoint() {
    let t = TestApp::new().await;
    let reply = t.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/shares",
        "/api/v1/shares/{id}",
        "/api/v1/shares/{id}/cancel",
        "/api/v1/shares/cancel",
        "/api/v1/shares/{id}/link",
        "/api/v1/shares/{id}/qr.png",
        "/api/v1/shares/{id}/qr.svg",
        "/api/v1/shares/{id}/history",
        "/api/v1/drive/items",
        "/api/v1/drive/items/{id}",
        "/api/v1/drive/items/{id}/restore",
        "/api/v1/drive/items/{id}/content",
        "/api/v1/admin/policy",
        "/api/v1/admin/quota",
        "/api/v1/me",
        "/api/v1/me/quota",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}
