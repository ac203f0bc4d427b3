//! Shared test helpers: an app on a fresh database with a hand-set clock, tokens, requests.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use shareledger::clock::ManualClock;
use shareledger::http::auth::{Claims, mint};
use shareledger::state::{AppOptions, AppState};
use shareledger::testkit::TestDb;
use tower::ServiceExt;
use uuid::Uuid;

/// An application on its own database.
pub struct TestApp {
    pub db: TestDb,
    pub state: AppState,
    pub app: Router,
    pub clock: ManualClock,
}

/// A response, decoded.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }

    /// Asserts a problem document with this status and code.
    #[track_caller]
    pub fn problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", String::from_utf8_lossy(&self.body));
        assert_eq!(self.content_type(), "application/problem+json");
        assert_eq!(self.json()["code"], code, "{}", String::from_utf8_lossy(&self.body));
    }
}

pub fn start() -> DateTime<Utc> {
    "2026-11-27T10:00:00Z".parse().unwrap()
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with_pool(10).await
    }

    pub async fn with_pool(size: u32) -> TestApp {
        let db = TestDb::with_pool_size(size).await;
        let clock = ManualClock::new(start());
        let state = AppState::with_options(
            db.config(),
            db.pool.clone(),
            AppOptions {
                clock: Arc::new(clock.clone()),
            },
        )
        .expect("app state");
        let app = shareledger::http::app(state.clone());
        TestApp { db, state, app, clock }
    }

    /// The test clock's time.
    pub fn clock_now(&self) -> DateTime<Utc> {
        use shareledger::clock::Clock;
        self.clock.now()
    }

    /// A token for a user of an enterprise with these roles.
    /// A bearer token of the app's key. Expiry is judged by the app's clock, which tests move on
    /// by days: the token outlives anything a test does with it.
    pub fn token(&self, user: &str, enterprise: &str, roles: &[&str]) -> String {
        let now = self.clock_now().timestamp();
        mint(
            &self.state.keys().jwt_secret,
            &Claims {
                sub: user.into(),
                ent: enterprise.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                exp: now + 10 * 366 * 24 * 3600,
                iat: Some(now),
                name: Some(format!("{user} display")),
            },
        )
    }

    pub fn user(&self, user: &str) -> String {
        self.token(user, "acme", &["user"])
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        Reply { status, headers, body }
    }

    pub async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let request = match body {
            Some(b) => builder
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&b).unwrap()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        self.send(request).await
    }

    /// Uploads a file into the user's drive; returns its id.
    pub async fn upload(&self, token: &str, name: &str, bytes: &[u8], parent: Option<Uuid>) -> Uuid {
        let reply = self.upload_raw(token, name, bytes, parent).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["id"].as_str().unwrap().parse().unwrap()
    }

    pub async fn upload_raw(&self, token: &str, name: &str, bytes: &[u8], parent: Option<Uuid>) -> Reply {
        let boundary = "XBOUNDARYx";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let uri = match parent {
            Some(p) => format!("/api/v1/drive/items?parent={p}"),
            None => "/api/v1/drive/items".to_owned(),
        };
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// Creates a folder; returns its id.
    pub async fn folder(&self, token: &str, name: &str) -> Uuid {
        let reply = self
            .call(
                "POST",
                "/api/v1/drive/items",
                Some(token),
                Some(json!({"kind": "folder", "name": name})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// Creates a share with these extra settings; returns the reply.
    pub async fn create_share(&self, token: &str, items: &[Uuid], extra: Value) -> Reply {
        let mut body = json!({ "items": items });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        self.call("POST", "/api/v1/shares", Some(token), Some(body)).await
    }

    /// Creates a share and returns its id.
    pub async fn share(&self, token: &str, items: &[Uuid], extra: Value) -> Uuid {
        let reply = self.create_share(token, items, extra).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["id"].as_str().unwrap().parse().unwrap()
    }

    /// A request from a given client address, with optional bearer token, session and JSON body.
    pub async fn request_from(
        &self,
        ip: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        session: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        if let Some(s) = session {
            builder = builder.header("x-share-session", s);
        }
        let mut request = match body {
            Some(b) => builder
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&b).unwrap()))
                .unwrap(),
            None => builder.body(Body::empty()).unwrap(),
        };
        let addr: std::net::SocketAddr = format!("{ip}:40000").parse().unwrap();
        request.extensions_mut().insert(axum::extract::ConnectInfo(addr));
        self.send(request).await
    }

    /// Opens a link (optionally with a code and as a signed-in user); returns the reply.
    pub async fn open_link(&self, link_token: &str, code: Option<&str>, bearer: Option<&str>) -> Reply {
        let body = code.map(|c| json!({ "code": c }));
        self.request_from(
            "192.0.2.1",
            "POST",
            &format!("/api/v1/links/{link_token}/session"),
            bearer,
            None,
            body,
        )
        .await
    }

    /// Opens a link and returns the session.
    pub async fn session(&self, link_token: &str, code: Option<&str>, bearer: Option<&str>) -> String {
        let reply = self.open_link(link_token, code, bearer).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        reply.json()["session"].as_str().unwrap().to_owned()
    }

    /// A recipient's request within a session.
    pub async fn as_recipient(&self, method: &str, path: &str, session: &str) -> Reply {
        self.request_from("192.0.2.1", method, path, None, Some(session), None)
            .await
    }

    /// The types and reasons of a share's events, in order.
    pub async fn share_events(&self, share: Uuid) -> Vec<(String, Option<String>)> {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT event_type, payload->>'reason' FROM events WHERE stream_id = $1 ORDER BY stream_version",
        )
        .bind(format!("share-{share}"))
        .fetch_all(&self.db.pool)
        .await
        .unwrap()
    }

    /// Creates a share and returns (share id, link token).
    pub async fn shared_link(&self, token: &str, items: &[Uuid], extra: Value) -> (Uuid, String) {
        let reply = self.create_share(token, items, extra).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        let link = body["link"].as_str().unwrap();
        let link_token = link.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
        (body["id"].as_str().unwrap().parse().unwrap(), link_token)
    }

    /// Sets an enterprise policy field as its admin.
    pub async fn policy(&self, enterprise: &str, change: Value) {
        let admin = self.token("admin", enterprise, &["admin"]);
        let reply = self
            .call("PUT", "/api/v1/admin/policy", Some(&admin), Some(change))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply.body));
    }

    /// The ids a name search finds, through the instance's name index, checked against the same
    /// search in the database alone.
    pub async fn found_by_name(&self, owner: &str, q: &str) -> Vec<uuid::Uuid> {
        use shareledger_projections::my_share_links::{self, OrderBy, Search, StatusFilter};
        let search = Search {
            owner_id: owner.to_owned(),
            q: Some(q.to_owned()),
            created_after: None,
            created_before: None,
            status: StatusFilter::All,
            order_by: OrderBy::Created,
            descending: true,
            limit: 100,
            after: None,
            now: self.clock_now(),
            filter: None,
        };
        let ids = |page: my_share_links::Page| page.rows.iter().map(|r| r.share_id).collect::<Vec<_>>();
        let mut indexed = ids(self
            .state
            .names()
            .search(&self.db.pool, &search)
            .await
            .unwrap()
            .unwrap());
        let database = ids(my_share_links::search(&self.db.pool, &search).await.unwrap().unwrap());
        assert_eq!(indexed, database, "{q:?}: the index and the database disagree");
        indexed.sort();
        indexed
    }

    pub async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(&self.db.pool)
            .await
            .unwrap()
    }
}

/// The cursor of the last committed event (what catching up means in a test).
pub async fn last_committed(pool: &sqlx::PgPool) -> shareledger::store::Cursor {
    let row: Option<(String, i64)> = sqlx::query_as(
        "SELECT tx_id::text AS tx_id_text, global_position FROM events ORDER BY events.tx_id DESC, events.global_position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .unwrap();
    row.map_or(shareledger::store::Cursor::START, |(tx, p)| {
        shareledger::store::Cursor {
            tx_id: tx.parse().unwrap(),
            position: p,
        }
    })
}

/// Applies every committed event to the asynchronous projections (as their runners would),
/// waiting out transactions of other tests that hold the visibility horizon back.
pub async fn catch_up(db: &TestDb) {
    reach_the_end_of_the_log(db, true).await;
}

/// Waits (a minute at most) until every asynchronous projection has applied the whole log as
/// committed now. `apply_here` applies batches from this test, as a runner would; without it
/// the test only watches a service's own runners do it.
pub async fn reach_the_end_of_the_log(db: &TestDb, apply_here: bool) {
    use shareledger_projections::projection::{ALL, Kind};
    let target = last_committed(&db.pool).await;
    let mut conn = db.connection().await;
    for p in ALL.iter().copied().filter(|p| p.kind() == Kind::Async) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            if apply_here {
                shareledger_projections::runner::step(&mut conn, p, 1000).await.unwrap();
            }
            let at = shareledger_projections::checkpoint::load(&db.pool, p.name(), false)
                .await
                .unwrap();
            if at.cursor >= target {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{} did not catch up", p.name());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Rebuilds every projection from zero into shadow tables and returns the differences with the
/// live tables (`(projection, table, only live, only rebuilt)`, tables that agree left out),
/// then discards the shadows.
pub async fn rebuilt_differences(db: &TestDb) -> Vec<(String, String, i64, i64)> {
    rebuilt_differences_in_batches(db, 500).await
}

/// `rebuilt_differences`, replaying `batch` events at a time (small batches exercise what the
/// rebuilds carry from one batch to the next).
#[allow(dead_code)]
pub async fn rebuilt_differences_in_batches(db: &TestDb, batch: i64) -> Vec<(String, String, i64, i64)> {
    use shareledger_projections::{projection::ALL, rebuild};
    let target = last_committed(&db.pool).await;
    let mut shadows = Vec::new();
    for p in ALL.iter().copied() {
        shadows.push(rebuild::prepare(&db.connect, p).await.unwrap());
    }
    let mut reader = db.connection().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while shadows.iter().any(|s| s.cursor < target) {
        rebuild::replay(&mut reader, &mut shadows, batch, |_| {}).await.unwrap();
        assert!(
            std::time::Instant::now() < deadline,
            "the rebuild did not reach the end of the log"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut out = Vec::new();
    for mut shadow in shadows {
        for (table, live, rebuilt) in rebuild::differences(&mut shadow).await.unwrap() {
            if live == 0 && rebuilt == 0 {
                continue;
            }
            out.push((shadow.projection.name().to_owned(), table, live, rebuilt));
        }
        rebuild::discard(shadow).await.unwrap();
    }
    out
}
