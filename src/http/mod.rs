//! The HTTP surface: one router per resource, merged here behind the shared middleware, with
//! the OpenAPI document generated from the handlers (a route cannot exist undocumented).

pub mod admin;
pub mod audit;
pub mod auth;
pub mod download;
pub mod drive;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod json;
pub mod links;
pub mod me;
pub mod middleware;
pub mod ops;
pub mod pds;
pub mod request;
pub mod shares;
pub mod stats;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;
use error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "shareledger",
        description = "An event-sourced ledger for file share links. Errors are application/problem+json with a stable `code`."
    ),
    modifiers(&BearerAuth),
    components(schemas(extract::Problem))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The API routes and their OpenAPI document.
pub fn api(max_upload_bytes: u64) -> (Router<AppState>, OpenApiDoc) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(ops::router())
        .merge(shares::router())
        .merge(drive::router(max_upload_bytes))
        .merge(admin::router())
        .merge(me::router())
        .merge(links::router(max_upload_bytes))
        .merge(stats::router())
        .merge(audit::router())
        .split_for_parts();
    document_problems(&mut doc);
    (router, doc)
}

/// Every error answer is a problem document (`application/problem+json`): the documented error
/// responses say so, and every operation documents a `default` problem answer, since any of
/// them may meet bad input (400, 413, 415, 422), a missing or expired token (401), throttling
/// (429) or a database away (503).
fn document_problems(doc: &mut OpenApiDoc) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            for (status, response) in operation.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && (status.starts_with('4') || status.starts_with('5'))
                    && let Some(content) = response.content.shift_remove("application/json")
                {
                    response.content.insert("application/problem+json".to_owned(), content);
                }
            }
            operation
                .responses
                .responses
                .entry("default".to_owned())
                .or_insert_with(|| {
                    RefOr::T(
                        ResponseBuilder::new()
                            .description("An error, as a problem document (RFC 9457)")
                            .content("application/problem+json", problem())
                            .build(),
                    )
                });
        }
    }
}

/// The whole application as a router (tests drive it with `oneshot`, `serve` with a socket).
pub fn app(state: AppState) -> Router {
    let body_limit = state.config().max_body_bytes;
    let (api, mut doc) = api(state.config().max_upload_bytes);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .merge(pds::router())
        .merge(crate::web::router(state.config().max_upload_bytes))
        .route(
            "/api/v1/openapi.json",
            get(move || async move { axum::Json(doc.as_ref().clone()) }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(middleware::observe))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("There is nothing at this address.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This address does not accept that method.",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    use axum::response::IntoResponse;
    ApiError::internal(anyhow::anyhow!("a request handler panicked")).into_response()
}
