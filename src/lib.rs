//! shareledger: an event-sourced ledger for file share links.
//!
//! - `store`: the event store on PostgreSQL (append, chains, gap-free reads, snapshots)
//! - `runtime`: load -> decide -> append, with retries and the hot-stream locked path
//! - `db`: the embedded PostgreSQL launcher, the pool, migrations, fresh test databases
//! - `http`: the axum application (`http::app(state)`)
//! - `cli`: the command line; `bench`: the benchmarks

pub mod audit;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod config;
pub mod content;
pub mod crypto;
pub mod db;
pub mod http;
pub mod keys;
pub mod runtime;
pub mod service;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod testkit;
pub mod web;
