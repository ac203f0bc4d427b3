//! The service under benchmark: started as its own process (so its memory is its own) on the
//! benchmark's database, with keys the benchmark knows (to mint tokens).

use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use tokio::process::{Child, Command};

use crate::http::auth::{Claims, mint};

/// A running service process and how to talk to it.
#[derive(Clone)]
pub struct Service {
    base: String,
    secret: Vec<u8>,
    pid: u32,
    child: std::sync::Arc<tokio::sync::Mutex<Option<Child>>>,
    data_dir: std::path::PathBuf,
    clients: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

impl Service {
    /// Starts `shareledger serve` on a free local port against this database.
    pub async fn start(database: &PgConnectOptions, secret: &[u8; 32]) -> anyhow::Result<Service> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data_dir = std::env::temp_dir().join(format!("shareledger-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)?;
        let seal: [u8; 32] = crate::crypto::random_bytes();
        let child = Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(&data_dir)
            .env("DATABASE_URL", database.to_url_lossy().to_string())
            .env("SHARELEDGER_JWT_SECRET", STANDARD.encode(secret))
            .env("SHARELEDGER_SEAL_KEY", STANDARD.encode(seal))
            .env("SHARELEDGER_LOG", "warn")
            .env("SHARELEDGER_DB_POOL_SIZE", "32")
            // The load generator stands for many clients: it names them in X-Forwarded-For,
            // which the service believes from the loopback proxy only.
            .env("SHARELEDGER_TRUSTED_PROXIES", "127.0.0.1/32")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting the service")?;
        let service = Service {
            base: format!("http://127.0.0.1:{port}"),
            secret: secret.to_vec(),
            pid: child.id().unwrap_or(0),
            child: std::sync::Arc::new(tokio::sync::Mutex::new(Some(child))),
            data_dir,
            clients: Default::default(),
        };
        let client = service.client();
        for _ in 0..200 {
            if client
                .get(format!("{}/readyz", service.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(service);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the service did not become ready")
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A client with a connection pool large enough for the benchmark's concurrency.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(128)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("a plain HTTP client")
    }

    /// A bearer token signed with the service's secret.
    pub fn token(&self, user: &str, enterprise: &str, roles: &[&str]) -> String {
        let now = chrono::Utc::now().timestamp();
        mint(
            &self.secret,
            &Claims {
                sub: user.into(),
                ent: enterprise.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                exp: now + 24 * 3600,
                iat: Some(now),
                name: None,
            },
        )
    }

    /// A JSON call that must succeed; returns the body.
    pub async fn call(
        &self,
        client: &reqwest::Client,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = client.request(method.parse()?, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(status.is_success(), "{method} {path}: HTTP {status} {body}");
        Ok(body)
    }

    /// Uploads a file; returns its id.
    pub async fn upload(
        &self,
        client: &reqwest::Client,
        token: &str,
        name: &str,
        bytes: &[u8],
    ) -> anyhow::Result<uuid::Uuid> {
        let boundary = "benchBOUNDARY";
        let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = client
            .post(format!("{}/api/v1/drive/items", self.base))
            .bearer_auth(token)
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "upload: HTTP {status} {value}");
        Ok(value["id"].as_str().context("no id")?.parse()?)
    }

    /// Opens a link anonymously; returns the session.
    /// Opens a link anonymously, as one of many distinct clients (a new address each time, so
    /// the per-client throttle for anonymous opens sees what it would in production).
    pub async fn open(&self, client: &reqwest::Client, link_token: &str) -> anyhow::Result<String> {
        let n = self.clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let address = std::net::Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
        let response = client
            .post(format!("{}/api/v1/links/{link_token}/session", self.base))
            .header("x-forwarded-for", address.to_string())
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "open: HTTP {status} {value}");
        Ok(value["session"].as_str().context("no session")?.to_owned())
    }

    /// The service's peak resident memory so far (KiB), from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        read_status_kib(self.pid, "VmHWM:")
    }

    /// Stops the service (SIGTERM, then a kill if it lingers) and removes its data directory.
    pub async fn stop(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            if let Some(pid) = child.id() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            if tokio::time::timeout(Duration::from_secs(10), child.wait())
                .await
                .is_err()
            {
                let _ = child.kill().await;
            }
        }
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn read_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
