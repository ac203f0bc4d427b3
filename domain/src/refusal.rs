//! Domain refusals carry a stable machine code and a kind the edges map to a status.

/// The family a refusal belongs to; the HTTP layer maps each to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request itself is invalid (422).
    Invalid,
    /// The actor may not do this (403).
    Forbidden,
    /// The thing does not exist for this actor (404).
    NotFound,
    /// The thing's current state forbids it (409).
    Conflict,
    /// The thing existed but is gone for good or expired (410).
    Gone,
    /// A quota or limit is used up (429).
    Exhausted,
}

/// A refusal with a stable code (`name_too_long`) for machines and a message for people.
pub trait Refusal: std::error::Error {
    /// Stable machine-readable code.
    fn code(&self) -> &'static str;
    /// The family, for the status code.
    fn kind(&self) -> RefusalKind;
}
