//! `token`: mints a bearer token signed with the same key the service uses, for development
//! and for the standalone service's sign-in.

use std::process::ExitCode;

use clap::Args;
use shareledger_domain::Role;

use crate::config::{Config, parse_duration};
use crate::http::auth::{Claims, mint};
use crate::keys::Keys;

/// `token` options.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// User id (`sub`).
    #[arg(long)]
    pub user: String,
    /// Enterprise id (`ent`).
    #[arg(long)]
    pub enterprise: String,
    /// Roles (repeat for several): user, admin, auditor, analyst. Default: user.
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Lifetime, e.g. 30m, 1h, 7d is written 168h.
    #[arg(long, default_value = "1h")]
    pub ttl: String,
    /// Display name shown to recipients (default: the user id).
    #[arg(long)]
    pub name: Option<String>,
}

/// Prints a token.
pub fn run(args: TokenArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let ttl = parse_duration(&args.ttl).map_err(|e| anyhow::anyhow!("--ttl: {e}"))?;
    for role in &args.roles {
        anyhow::ensure!(
            Role::parse(role).is_some(),
            "--role {role:?}: roles are user, admin, auditor, analyst"
        );
    }
    let keys = Keys::load(config)?;
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: args.user,
        ent: args.enterprise,
        roles: if args.roles.is_empty() {
            vec!["user".into()]
        } else {
            args.roles
        },
        exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
        iat: Some(now),
        name: args.name,
    };
    println!("{}", mint(&keys.jwt_secret, &claims));
    Ok(ExitCode::SUCCESS)
}
