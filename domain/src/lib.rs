//! The pure domain of shareledger: aggregates decide on commands and evolve their state from
//! events. No I/O, no clock, no database: the caller supplies time, ids and lookups.

pub mod aggregate;
pub mod event;
pub mod testing;

pub use aggregate::Aggregate;
pub use event::{DecodeError, DomainEvent};
