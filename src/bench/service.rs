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
    launch: std::sync::Arc<Launch>,
    pid: std::sync::Arc<std::sync::atomic::AtomicU32>,
    child: std::sync::Arc<tokio::sync::Mutex<Option<Child>>>,
    clients: std::sync::Arc<std::sync::atomic::AtomicU32>,
}

/// What it takes to start the same service again (same port, keys and data directory).
struct Launch {
    program: std::path::PathBuf,
    listen: String,
    data_dir: std::path::PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Service {
    /// Starts `shareledger serve` (this executable) on a free local port against this database.
    /// `settings` are more `SHARELEDGER_*` variables for it.
    pub async fn start(
        database: &PgConnectOptions,
        secret: &[u8; 32],
        settings: &[(&'static str, String)],
    ) -> anyhow::Result<Service> {
        Self::start_program(&std::env::current_exe()?, database, secret, settings).await
    }

    /// Starts `program serve` (a `shareledger` executable) on a free local port against this
    /// database, with a fresh data directory and keys, and these more settings.
    pub async fn start_program(
        program: &std::path::Path,
        database: &PgConnectOptions,
        secret: &[u8; 32],
        settings: &[(&'static str, String)],
    ) -> anyhow::Result<Service> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data_dir = std::env::temp_dir().join(format!("shareledger-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&data_dir)?;
        let seal: [u8; 32] = crate::crypto::random_bytes();
        let mut launch = Launch {
            program: program.to_owned(),
            listen: format!("127.0.0.1:{port}"),
            data_dir,
            env: vec![
                ("DATABASE_URL", database.to_url_lossy().to_string()),
                ("SHARELEDGER_JWT_SECRET", STANDARD.encode(secret)),
                ("SHARELEDGER_SEAL_KEY", STANDARD.encode(seal)),
                ("SHARELEDGER_LOG", "warn".to_owned()),
                ("SHARELEDGER_DB_POOL_SIZE", "32".to_owned()),
                // The load generator stands for many clients: it names them in X-Forwarded-For,
                // which the service believes from the loopback proxy only.
                ("SHARELEDGER_TRUSTED_PROXIES", "127.0.0.1/32".to_owned()),
            ],
        };
        launch.env.extend(settings.iter().cloned());
        let service = Service {
            base: format!("http://{}", launch.listen),
            secret: secret.to_vec(),
            launch: std::sync::Arc::new(launch),
            pid: Default::default(),
            child: Default::default(),
            clients: Default::default(),
        };
        service.relaunch().await?;
        Ok(service)
    }

    /// `base` with this service's data directory and keys: an in-process `AppState` built on it
    /// writes what the service itself would (the benchmark's in-process create).
    pub fn same_keys(&self, base: &crate::config::Config) -> crate::config::Config {
        let env = |name: &str| {
            self.launch
                .env
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, value)| value.clone())
        };
        let mut config = base.clone();
        config.data_dir = self.launch.data_dir.clone();
        config.jwt_secret = env("SHARELEDGER_JWT_SECRET");
        config.seal_key = env("SHARELEDGER_SEAL_KEY");
        config
    }

    /// Starts the process again after [`Service::kill`] (same port, keys and data directory)
    /// and waits until it is ready.
    pub async fn relaunch(&self) -> anyhow::Result<()> {
        let launch = &self.launch;
        let mut command = Command::new(&launch.program);
        command
            .arg("serve")
            .arg("--listen")
            .arg(&launch.listen)
            .arg("--data-dir")
            .arg(&launch.data_dir)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        for (name, value) in &launch.env {
            command.env(name, value);
        }
        let child = command.spawn().context("starting the service")?;
        self.pid
            .store(child.id().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
        *self.child.lock().await = Some(child);
        let client = self.client();
        for _ in 0..300 {
            if client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            if let Some(child) = self.child.lock().await.as_mut()
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("the service exited while starting: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the service did not become ready")
    }

    /// Kills the process outright (SIGKILL: no shutdown, no flushing) and reaps it.
    pub async fn kill(&self) {
        if let Some(mut child) = self.child.lock().await.take() {
            let _ = child.kill().await;
        }
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

    /// Changes the enterprise policy as its admin (`admin` is an admin's token).
    pub async fn policy(&self, client: &reqwest::Client, admin: &str, change: Value) -> anyhow::Result<Value> {
        self.call(client, "PUT", "/api/v1/admin/policy", Some(admin), Some(change))
            .await
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

    /// Opens a link anonymously, as one of many distinct clients (a new address each time, so
    /// the per-client throttle for anonymous opens sees what it would in production).
    pub async fn open(&self, client: &reqwest::Client, link_token: &str) -> anyhow::Result<String> {
        let (status, value) = self
            .open_with(client, link_token, Value::Object(Default::default()))
            .await?;
        anyhow::ensure!(status.is_success(), "open: HTTP {status} {value}");
        Ok(value["session"].as_str().context("no session")?.to_owned())
    }

    /// Opens a link anonymously with this body (e.g. a code), as a new client; returns the
    /// status and body whatever they are.
    pub async fn open_with(
        &self,
        client: &reqwest::Client,
        link_token: &str,
        body: Value,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let n = self.clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let address = std::net::Ipv4Addr::from(0x0a00_0000 | (n & 0x00ff_ffff));
        let response = client
            .post(format!("{}/api/v1/links/{link_token}/session", self.base))
            .header("x-forwarded-for", address.to_string())
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// The service's peak resident memory so far (KiB), from /proc.
    pub fn peak_rss_kib(&self) -> u64 {
        read_status_kib(self.pid.load(std::sync::atomic::Ordering::Relaxed), "VmHWM:")
    }

    /// The service's resident memory now (KiB), from /proc.
    pub fn rss_kib(&self) -> u64 {
        read_status_kib(self.pid.load(std::sync::atomic::Ordering::Relaxed), "VmRSS:")
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
        let _ = std::fs::remove_dir_all(&self.launch.data_dir);
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
