//! The pure domain of shareledger: aggregates decide on commands and evolve their state from
//! events. No I/O, no clock, no database: the caller supplies time, ids and lookups.

pub mod actor;
pub mod aggregate;
pub mod drive;
pub mod event;
pub mod json;
pub mod log;
pub mod policy;
pub mod quota;
pub mod refusal;
pub mod share;
pub mod testing;

pub use actor::{Actor, Role};
pub use aggregate::Aggregate;
pub use event::{DecodeError, DomainEvent};
pub use refusal::{Refusal, RefusalKind};
