//! Typed configuration, layered: built-in defaults < config file < environment < flags.
//! Every setting is listed in README's configuration table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The service's settings, resolved.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Base of the links the service prints and hands out.
    pub public_url: String,
    /// `None`: run the embedded PostgreSQL in the data directory.
    pub database_url: Option<String>,
    pub log_format: LogFormat,
    /// A tracing filter (`info`, `shareledger=debug,sqlx=warn`, ...).
    pub log_filter: String,
    pub db_pool_size: u32,
    pub db_acquire_timeout: Duration,
    pub db_connect_timeout: Duration,
    pub db_idle_in_transaction_timeout: Duration,
    /// Statements slower than this are logged as warnings (zero: never). Exports, verification
    /// and rebuilds stream long queries on purpose and do not warn about them.
    pub db_slow_statement: Duration,
    pub max_body_bytes: usize,
    /// Largest file accepted by an upload.
    pub max_upload_bytes: u64,
    pub shutdown_grace: Duration,
    /// HS256 secret for bearer tokens (base64, >= 32 bytes); default: generated in the data dir.
    pub jwt_secret: Option<String>,
    /// Key sealing access codes and link tokens (base64, 32 bytes); default: generated in the
    /// data dir.
    pub seal_key: Option<String>,
    /// Ed25519 seed signing audit checkpoints (base64, 32 bytes); default: generated in the data
    /// dir.
    pub audit_key: Option<String>,
    /// How often `serve` writes a signed audit checkpoint (zero: never on its own).
    pub audit_checkpoint_interval: Duration,
    /// How client addresses appear in audit output.
    pub audit_client_ip: crate::service::audit::ClientIpMode,
    /// argon2 computations allowed at once.
    pub argon2_concurrency: usize,
    /// Proxies whose `X-Forwarded-For` is believed (addresses or CIDR blocks).
    pub trusted_proxies: Vec<IpNet>,
    /// The most bytes of owners' share names kept in memory for the search (zero: none; the
    /// database alone searches).
    pub name_index_bytes: usize,
}

/// An address block (`10.0.0.0/8`, `::1/128`) or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr::{V4, V6};
        match (self.addr, ip) {
            (V4(net), V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (V6(net), V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: std::net::IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has a bad prefix length"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

/// Values given on the command line or in the environment (clap reads both).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<SocketAddr>,
    pub public_url: Option<String>,
    pub log_format: Option<LogFormat>,
    pub log_filter: Option<String>,
}

/// The config file's shape: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    public_url: Option<String>,
    database_url: Option<String>,
    log_format: Option<LogFormat>,
    log: Option<String>,
    db_pool_size: Option<u32>,
    db_acquire_timeout: Option<String>,
    db_connect_timeout: Option<String>,
    db_idle_in_transaction_timeout: Option<String>,
    db_slow_statement: Option<String>,
    max_body_bytes: Option<usize>,
    max_upload_bytes: Option<u64>,
    shutdown_grace: Option<String>,
    jwt_secret: Option<String>,
    seal_key: Option<String>,
    audit_key: Option<String>,
    audit_checkpoint_interval: Option<String>,
    audit_client_ip: Option<String>,
    argon2_concurrency: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    name_index_bytes: Option<usize>,
}

/// The configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("setting {key} = {value:?} is invalid: {message}")]
    Invalid {
        key: &'static str,
        value: String,
        message: String,
    },
}

impl Config {
    /// Resolves every setting from the layers.
    pub fn load(overrides: Overrides) -> Result<Config, ConfigError> {
        let env_data_dir = overrides.data_dir.clone();
        let file_path = overrides.config_file.clone().or_else(|| {
            let dir = env_data_dir.clone().unwrap_or_else(|| PathBuf::from("./data"));
            let candidate = dir.join("shareledger.toml");
            candidate.is_file().then_some(candidate)
        });
        let file = match &file_path {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid default"));
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let public_url = overrides
            .public_url
            .or(file.public_url)
            .unwrap_or_else(|| format!("http://{listen}"))
            .trim_end_matches('/')
            .to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key: "public_url",
                value: public_url,
                message: "must start with http:// or https://".into(),
            });
        }
        Ok(Config {
            listen,
            data_dir,
            public_url,
            database_url: overrides.database_url.or(file.database_url).filter(|u| !u.is_empty()),
            log_format: overrides.log_format.or(file.log_format).unwrap_or(LogFormat::Text),
            log_filter: overrides
                .log_filter
                .or(file.log)
                .unwrap_or_else(|| "info,sqlx=warn".to_owned()),
            db_pool_size: env_or("SHARELEDGER_DB_POOL_SIZE", file.db_pool_size, 32, parse_num)?,
            db_acquire_timeout: env_or(
                "SHARELEDGER_DB_ACQUIRE_TIMEOUT",
                file.db_acquire_timeout
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("db_acquire_timeout", m))?,
                Duration::from_secs(3),
                parse_duration,
            )?,
            db_connect_timeout: env_or(
                "SHARELEDGER_DB_CONNECT_TIMEOUT",
                file.db_connect_timeout
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("db_connect_timeout", m))?,
                Duration::from_secs(30),
                parse_duration,
            )?,
            db_slow_statement: env_or(
                "SHARELEDGER_DB_SLOW_STATEMENT",
                file.db_slow_statement
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("db_slow_statement", m))?,
                Duration::from_secs(2),
                parse_duration,
            )?,
            db_idle_in_transaction_timeout: env_or(
                "SHARELEDGER_DB_IDLE_IN_TRANSACTION_TIMEOUT",
                file.db_idle_in_transaction_timeout
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("db_idle_in_transaction_timeout", m))?,
                Duration::from_secs(30),
                parse_duration,
            )?,
            max_body_bytes: env_or("SHARELEDGER_MAX_BODY_BYTES", file.max_body_bytes, 1 << 20, parse_num)?,
            max_upload_bytes: env_or(
                "SHARELEDGER_MAX_UPLOAD_BYTES",
                file.max_upload_bytes,
                100 << 20,
                parse_num,
            )?,
            jwt_secret: std::env::var("SHARELEDGER_JWT_SECRET")
                .ok()
                .filter(|s| !s.is_empty())
                .or(file.jwt_secret),
            seal_key: std::env::var("SHARELEDGER_SEAL_KEY")
                .ok()
                .filter(|s| !s.is_empty())
                .or(file.seal_key),
            audit_key: std::env::var("SHARELEDGER_AUDIT_KEY")
                .ok()
                .filter(|s| !s.is_empty())
                .or(file.audit_key),
            audit_checkpoint_interval: env_or(
                "SHARELEDGER_AUDIT_CHECKPOINT_INTERVAL",
                file.audit_checkpoint_interval
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("audit_checkpoint_interval", m))?,
                Duration::from_secs(600),
                parse_duration,
            )?,
            audit_client_ip: env_or(
                "SHARELEDGER_AUDIT_CLIENT_IP",
                file.audit_client_ip
                    .map(|s| crate::service::audit::ClientIpMode::parse(&s))
                    .transpose()
                    .map_err(|m| invalid("audit_client_ip", m))?,
                crate::service::audit::ClientIpMode::Full,
                crate::service::audit::ClientIpMode::parse,
            )?,
            trusted_proxies: parse_proxies(
                std::env::var("SHARELEDGER_TRUSTED_PROXIES")
                    .ok()
                    .map(|v| {
                        v.split(',')
                            .map(str::to_owned)
                            .filter(|s| !s.trim().is_empty())
                            .collect()
                    })
                    .or(file.trusted_proxies)
                    .unwrap_or_default(),
            )?,
            argon2_concurrency: env_or(
                "SHARELEDGER_ARGON2_CONCURRENCY",
                file.argon2_concurrency,
                std::thread::available_parallelism().map_or(2, |n| n.get()),
                parse_num,
            )?,
            name_index_bytes: env_or(
                "SHARELEDGER_NAME_INDEX_BYTES",
                file.name_index_bytes,
                crate::service::shares::name_index::DEFAULT_BUDGET,
                parse_num,
            )?,
            shutdown_grace: env_or(
                "SHARELEDGER_SHUTDOWN_GRACE",
                file.shutdown_grace
                    .map(|s| parse_duration(&s))
                    .transpose()
                    .map_err(|m| invalid("shutdown_grace", m))?,
                Duration::from_secs(30),
                parse_duration,
            )?,
        })
    }

    /// A configuration for tests and tools: defaults, this database, nothing read from disk.
    pub fn for_database(database_url: Option<String>, data_dir: &Path) -> Config {
        let mut config = Config::load(Overrides {
            data_dir: Some(data_dir.to_path_buf()),
            config_file: Some(PathBuf::from("/dev/null")),
            database_url,
            ..Overrides::default()
        })
        .expect("defaults are valid");
        config.database_url = config.database_url.filter(|u| !u.is_empty());
        config
    }
}

fn parse_proxies(list: Vec<String>) -> Result<Vec<IpNet>, ConfigError> {
    list.iter()
        .map(|s| {
            s.parse().map_err(|message| ConfigError::Invalid {
                key: "trusted_proxies",
                value: s.clone(),
                message,
            })
        })
        .collect()
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn invalid(key: &'static str, message: String) -> ConfigError {
    ConfigError::Invalid {
        key,
        value: String::new(),
        message,
    }
}

fn env_or<T>(
    key: &'static str,
    file: Option<T>,
    default: T,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, ConfigError> {
    match std::env::var(key) {
        Ok(value) if !value.is_empty() => parse(&value).map_err(|message| ConfigError::Invalid { key, value, message }),
        _ => Ok(file.unwrap_or(default)),
    }
}

fn parse_num<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.trim().parse().map_err(|e: T::Err| e.to_string())
}

/// Parses `250ms`, `3s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 250ms, 3s, 5m, 1h"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("{s:?} has an unknown unit (use ms, s, m or h)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("shareledger-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("shareledger.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\npublic_url = \"https://share.example.com/\"\nname_index_bytes = 1048576\n",
        )
        .unwrap();
        let from_file = Config::load(Overrides {
            config_file: Some(file.clone()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(from_file.listen.port(), 9000);
        assert_eq!(from_file.public_url, "https://share.example.com");
        assert_eq!(from_file.name_index_bytes, 1 << 20);
        let flagged = Config::load(Overrides {
            config_file: Some(file),
            listen: Some("127.0.0.1:9100".parse().unwrap()),
            ..Overrides::default()
        })
        .unwrap();
        assert_eq!(flagged.listen.port(), 9100);
        let defaults = Config::for_database(None, &dir);
        assert_eq!(
            defaults.name_index_bytes,
            crate::service::shares::name_index::DEFAULT_BUDGET
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("shareledger-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::load(Overrides {
            config_file: Some(file),
            ..Overrides::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
