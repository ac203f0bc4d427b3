//! The command line (clap). Every flag can also come from the environment variable it names.

mod audit;
mod db;
mod projections;
mod serve;
mod token;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::{Config, LogFormat, Overrides};

/// shareledger: an event-sourced ledger for file share links.
#[derive(Debug, Parser)]
#[command(name = "shareledger", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Config file (TOML); default: <data-dir>/shareledger.toml when it exists.
    #[arg(long, global = true, env = "SHARELEDGER_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where the service keeps its embedded database and keys.
    #[arg(long, global = true, env = "SHARELEDGER_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use this PostgreSQL server instead of the embedded one.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Log line format.
    #[arg(long, global = true, env = "SHARELEDGER_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter, e.g. `info` or `shareledger=debug,sqlx=warn`.
    #[arg(long, global = true, env = "SHARELEDGER_LOG", value_name = "FILTER")]
    pub log: Option<String>,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Mint a bearer token signed with the service's key (development, standalone sign-in).
    Token(token::TokenArgs),
    /// Projections: status, and rebuilds from the log.
    #[command(subcommand)]
    Projections(projections::ProjectionsCommand),
    /// Manage the embedded PostgreSQL cluster of the data directory.
    #[command(subcommand)]
    Db(db::DbCommand),
    /// Compliance tools: verify the log's integrity.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Benchmarks against PostgreSQL's own ceiling, measured in the same run.
    #[command(subcommand)]
    Bench(crate::bench::BenchCommand),
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SHARELEDGER_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Base URL of the links the service hands out.
    #[arg(long, env = "SHARELEDGER_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// On an empty log, create a demo enterprise (two people, a few files, one share); at every
    /// start, print one-time sign-in links for its people.
    #[arg(long)]
    pub demo: bool,
}

impl Cli {
    /// Resolves the configuration layers for this invocation.
    pub fn config(&self) -> anyhow::Result<Config> {
        let (listen, public_url) = match &self.command {
            Command::Serve(args) => (args.listen, args.public_url.clone()),
            _ => (None, None),
        };
        Ok(Config::load(Overrides {
            config_file: self.global.config.clone(),
            data_dir: self.global.data_dir.clone(),
            database_url: self.global.database_url.clone(),
            listen,
            public_url,
            log_format: self.global.log_format,
            log_filter: self.global.log.clone(),
        })?)
    }
}

/// Runs the parsed command; the process exit code is the returned value.
pub async fn run(cli: Cli, config: Config) -> anyhow::Result<std::process::ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::serve(config, args.demo).await,
        Command::Migrate => serve::migrate_only(config).await,
        Command::Token(args) => token::run(args, &config),
        Command::Db(cmd) => db::run(cmd, config).await,
        Command::Projections(cmd) => projections::run(cmd, config).await,
        Command::Audit(cmd) => audit::run(cmd, config).await,
        Command::Bench(cmd) => crate::bench::run(cmd, config).await,
    }
}
