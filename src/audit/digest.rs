//! The running digest over the log in read order.

use sha2::{Digest, Sha256};
use shareledger_domain::log::StoredEvent;

/// The digest before the first event.
pub const START: [u8; 32] = [0; 32];

/// Folds one event into the running digest: `SHA-256(previous || position || tx_id || hash)`.
/// The event's chain hash covers every stored field; position and transaction id fix its place
/// in the read order.
pub fn fold(previous: &[u8; 32], event: &StoredEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"shareledger-log-digest-v1");
    h.update(previous);
    h.update(event.global_position.to_be_bytes());
    h.update(event.tx_id.to_be_bytes());
    h.update(event.hash);
    h.finalize().into()
}
