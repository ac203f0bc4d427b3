//! The records of the event log as plain data: what a reader gets back, where it stands.
//! (The store in the service writes and reads them; projections consume them.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{DecodeError, DomainEvent};
use crate::json::{LazyJson, Text};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The `prev_hash` of a stream's first event.
pub const ZERO_HASH: Hash = [0u8; 32];

/// An event as stored in the log. Its payload and metadata keep the database's text and build a
/// JSON tree only when something asks for it (see `LazyJson`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub global_position: i64,
    pub tx_id: u64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: LazyJson,
    pub metadata: LazyJson,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    #[serde(with = "hex::serde")]
    pub prev_hash: Hash,
    #[serde(with = "hex::serde")]
    pub hash: Hash,
}

impl StoredEvent {
    /// Decodes the payload into the aggregate's event type (upcasting old versions).
    pub fn decode<E: DomainEvent>(&self) -> Result<E, DecodeError> {
        E::from_stored(&self.event_type, self.schema_version, &self.payload)
    }

    /// Who did it, from where, as the metadata says (see `MetadataView`).
    pub fn meta(&self) -> MetadataView<'_> {
        // Metadata that is no object reads as empty, as `Value::get` finds nothing in it.
        self.metadata.read().unwrap_or_default()
    }

    /// This event's place in catch-up order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx_id: self.tx_id,
            position: self.global_position,
        }
    }
}

/// The fields of an event's metadata that readers of the whole log look at, read straight from
/// its text (strings borrowed), without building the whole tree. A field that is absent or holds
/// anything but a string is `None`.
#[derive(Debug, Default, Deserialize)]
pub struct MetadataView<'a> {
    #[serde(borrow, default)]
    pub actor: Text<'a>,
    #[serde(borrow, default)]
    pub actor_kind: Text<'a>,
    #[serde(borrow, default)]
    pub enterprise: Text<'a>,
    #[serde(borrow, default)]
    pub ip: Text<'a>,
}

/// The last event of a stream as a writer must know it: its version and hash.
/// Version 0 with the zero hash is the empty stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamHead {
    pub version: i64,
    #[serde(with = "hex::serde")]
    pub hash: Hash,
}

impl StreamHead {
    /// The head of a stream with no events.
    pub const EMPTY: StreamHead = StreamHead {
        version: 0,
        hash: ZERO_HASH,
    };

    /// Whether the stream has no events yet.
    pub fn is_empty(&self) -> bool {
        self.version == 0
    }
}

impl Default for StreamHead {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// A place in the gap-free read order of the whole log: `(tx_id, global_position)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Cursor {
    pub tx_id: u64,
    pub position: i64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor { tx_id: 0, position: 0 };
}
