//! The web pages, served by the service itself: server-rendered HTML (maud, compiled with the
//! binary), one stylesheet, no third-party origin. They call the same services as the API.
//!
//! Every page carries the headers of SECURITY 11. Forms are protected twice against cross-site
//! requests: the cookies are `SameSite=Strict`, and every form carries a token that must match
//! the `__Host-sl-csrf` cookie (double submit, compared in constant time).

mod admin;
mod drive;
mod layout;
mod owner;
mod recipient;
mod share;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::Markup;
use shareledger_domain::Actor;
use subtle::ConstantTimeEq;

use crate::http::auth;
use crate::state::AppState;

/// The cookie a signed-in person's token rides in.
pub const AUTH_COOKIE: &str = "__Host-sl-auth";
/// The cookie forms' tokens are checked against.
pub const CSRF_COOKIE: &str = "__Host-sl-csrf";

/// The pages and their assets.
pub fn router(max_upload_bytes: u64) -> Router<AppState> {
    Router::new()
        .route("/assets/app.css", get(stylesheet))
        .route("/assets/app.js", get(script))
        .merge(owner::router())
        .merge(drive::router(max_upload_bytes))
        .merge(share::router())
        .merge(admin::router())
        .merge(recipient::router(max_upload_bytes))
        .layer(axum::middleware::map_response(page_headers))
}

async fn stylesheet() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/app.css"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("assets/app.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// SECURITY 11, for every page: nothing cached, sniffed, framed, indexed or leaked by referrer;
/// scripts, styles and forms only from here.
async fn page_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("x-robots-tag", HeaderValue::from_static("noindex, nofollow"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// A cookie's value from the request.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value: `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Strict.
pub fn set_cookie(name: &str, value: &str, max_age_seconds: i64) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Strict",
        max_age_seconds.max(0)
    )
}

/// The form token of this browser: its `__Host-sl-csrf` cookie, or a new one to set.
#[derive(Debug, Clone)]
pub struct Csrf {
    pub token: String,
    fresh: bool,
}

impl Csrf {
    /// Whether `sent` (a form's `csrf` field) is this browser's token.
    pub fn accepts(&self, sent: &str) -> bool {
        !self.fresh && bool::from(sent.as_bytes().ct_eq(self.token.as_bytes()))
    }

    /// The cookie to set with the response, when the token is new.
    fn cookie(&self) -> Option<String> {
        self.fresh.then(|| set_cookie(CSRF_COOKIE, &self.token, 12 * 3600))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Csrf {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match cookie(&parts.headers, CSRF_COOKIE).filter(|v| v.len() == 43) {
            Some(token) => Ok(Csrf {
                token: token.to_owned(),
                fresh: false,
            }),
            None => Ok(Csrf {
                token: URL_SAFE_NO_PAD.encode(crate::crypto::random_bytes::<32>()),
                fresh: true,
            }),
        }
    }
}

/// The signed-in person, from the auth cookie (none when it is missing, expired or forged).
#[derive(Debug, Clone)]
pub struct WebUser(pub Option<Actor>);

impl FromRequestParts<AppState> for WebUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(WebUser(
            cookie(&parts.headers, AUTH_COOKIE).and_then(|token| auth::verify_in(state, token).ok()),
        ))
    }
}

/// The signed-in person, for pages only they may see: without a valid auth cookie the request
/// is sent to the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn(pub Actor);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let WebUser(user) = WebUser::from_request_parts(parts, state).await.unwrap_or(WebUser(None));
        user.map(SignedIn).ok_or_else(|| see_other("/signin", &[]))
    }
}

/// A rendered page: its status, the HTML, and cookies to set.
pub struct Page {
    pub status: StatusCode,
    pub html: Markup,
    pub cookies: Vec<String>,
}

impl Page {
    pub fn ok(html: Markup, csrf: &Csrf) -> Page {
        Page::with_status(StatusCode::OK, html, csrf)
    }

    pub fn with_status(status: StatusCode, html: Markup, csrf: &Csrf) -> Page {
        Page {
            status,
            html,
            cookies: csrf.cookie().into_iter().collect(),
        }
    }

    pub fn cookie(mut self, value: String) -> Page {
        self.cookies.push(value);
        self
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.html.into_string()).into_response();
        let h = response.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        for c in self.cookies {
            if let Ok(v) = HeaderValue::from_str(&c) {
                h.append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

/// A 303 to `to` (after a form), with cookies to set.
pub fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(to) {
        h.insert(header::LOCATION, v);
    }
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    response
}

/// A form or query string with repeated fields (checkboxes), as sent.
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(bytes: &[u8]) -> Fields {
        Fields(
            form_urlencoded::parse(bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of a field (trimmed of nothing: values are taken as sent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// A non-empty value.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every value of a field.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Whether the form carries this browser's token.
    pub fn csrf_ok(&self, csrf: &Csrf) -> bool {
        csrf.accepts(self.get("csrf").unwrap_or_default())
    }
}

/// The status of a page that answers a refusal or failure: its own error status (never a
/// success status for a page that reports a problem).
pub fn refused_status(e: &crate::http::error::ApiError) -> StatusCode {
    if e.status.is_client_error() || e.status.is_server_error() {
        e.status
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// A page that only says what went wrong (`title`, the problem's detail) and links back.
pub fn problem_page(
    title: &str,
    user: Option<&Actor>,
    csrf: &Csrf,
    e: &crate::http::error::ApiError,
    back: (&str, &str),
) -> Response {
    let (href, label) = back;
    let html = layout::page(
        title,
        user,
        csrf,
        maud::html! {
            div.card.narrow {
                h1 { (title) }
                (layout::error(&e.detail))
                p { a href=(href) { (label) } }
            }
        },
    );
    Page::with_status(refused_status(e), html, csrf).into_response()
}

/// The refusal of a form that came without this browser's token (expired, or another site's).
pub fn form_expired() -> crate::http::error::ApiError {
    crate::http::error::ApiError::new(
        StatusCode::FORBIDDEN,
        "form_expired",
        "The form had expired: check the page and send it again.",
    )
}

/// Reads a multipart form whose `csrf` field comes before its `file` part, and hands the file
/// part to `use_file` once the token checked out. Without a valid token or a file: `form_expired`.
pub async fn with_uploaded_file<T>(
    multipart: &mut axum::extract::Multipart,
    csrf: &Csrf,
    use_file: impl AsyncFnOnce(axum::extract::multipart::Field<'_>) -> T,
) -> Result<T, crate::http::error::ApiError> {
    let mut csrf_ok = false;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| crate::http::error::ApiError::bad_request("malformed_multipart", e.body_text()))?
    {
        match field.name() {
            Some("csrf") => csrf_ok = csrf.accepts(&field.text().await.unwrap_or_default()),
            Some("file") if csrf_ok => return Ok(use_file(field).await),
            _ => {}
        }
    }
    Err(form_expired())
}
