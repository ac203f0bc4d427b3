//! Tamper evidence beyond the per-stream hash chains: signed checkpoints over the whole log, and
//! the verifier that checks chains, checkpoint digests and signatures together.
//!
//! A checkpoint is an `AuditCheckpoint` event (stream `audit-checkpoints`) holding the last
//! catch-up cursor it covers, how many events the log held up to there, and a running digest
//! over every one of them in read order, signed with the service's Ed25519 audit key. The
//! chains catch an edited, removed or inserted event inside a stream; the digest catches what
//! a chain cannot — an event added to or removed from history in another place, a stream whose
//! tail was cut off — and the signature makes a rewritten log with recomputed digests useless
//! to whoever does not hold the private key.

pub mod checkpoint;
pub mod digest;
pub mod key;
pub mod verify;

/// The stream holding the checkpoints.
pub const CHECKPOINT_STREAM: &str = "audit-checkpoints";
/// Their event type.
pub const CHECKPOINT_EVENT: &str = "AuditCheckpoint";
