//! shareledger's entry point: parse the command line, load the configuration, set up logging,
//! and hand over to the library.

use std::process::ExitCode;

use clap::Parser;
use shareledger::cli::{Cli, run};

/// mimalloc instead of the system allocator (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    shareledger::telemetry::init_tracing(config.log_format, &config.log_filter);
    match run(cli, config).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
