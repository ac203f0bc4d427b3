//! Use cases between the HTTP edge and the command runtime: each one gathers the facts a
//! decision needs, runs the command with the hooks that must commit with it, and shapes the
//! answer. Handlers only parse and serialize.

pub mod audit;
pub mod context;
pub mod demo;
pub mod drive;
pub mod hooks;
pub mod links;
pub mod outcome;
pub mod policy;
pub mod projections;
pub mod qr;
pub mod quota;
pub mod recipient;
pub mod runners;
pub mod secrets;
pub mod shares;
pub mod signin;
pub mod stats;

pub use outcome::Outcome;
