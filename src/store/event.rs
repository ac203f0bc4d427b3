//! The rows of the log: what a writer supplies and what a reader gets back.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shareledger_domain::DomainEvent;
use uuid::Uuid;

use super::chain::{Hash, ZERO_HASH};

/// Who did what, from where: stored with every event, never holding a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// `user`, `admin`, `anonymous`, `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
}

impl EventMetadata {
    /// Metadata for work the service does on its own behalf.
    pub fn system(reason: &str) -> Self {
        Self {
            actor: Some(reason.to_owned()),
            actor_kind: Some("system".to_owned()),
            ..Self::default()
        }
    }

    /// The JSON stored in the `metadata` column.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("metadata is plain data")
    }
}

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Value,
    /// Microsecond precision, as PostgreSQL stores it (the hash covers the stored value).
    pub occurred_at: DateTime<Utc>,
}

impl NewEvent {
    /// A new event with a fresh time-ordered id.
    pub fn new(
        event_type: impl Into<String>,
        schema_version: i32,
        payload: Value,
        metadata: &EventMetadata,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload,
            metadata: metadata.to_value(),
            occurred_at: occurred_at.trunc_subsecs(6),
        }
    }

    /// Encodes a domain event.
    pub fn from_domain<E: DomainEvent>(
        event: &E,
        metadata: &EventMetadata,
        occurred_at: DateTime<Utc>,
    ) -> Self {
        Self::new(
            event.event_type(),
            event.schema_version(),
            event.to_payload(),
            metadata,
            occurred_at,
        )
    }
}

/// An event as stored in the log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub global_position: i64,
    pub tx_id: u64,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: i32,
    pub payload: Value,
    pub metadata: Value,
    pub occurred_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
    #[serde(with = "hex::serde")]
    pub prev_hash: Hash,
    #[serde(with = "hex::serde")]
    pub hash: Hash,
}

impl StoredEvent {
    /// Decodes the payload into the aggregate's event type (upcasting old versions).
    pub fn decode<E: DomainEvent>(&self) -> Result<E, shareledger_domain::DecodeError> {
        E::from_stored(&self.event_type, self.schema_version, self.payload.clone())
    }

    /// This event's place in catch-up order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            tx_id: self.tx_id,
            position: self.global_position,
        }
    }
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
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Cursor {
    pub tx_id: u64,
    pub position: i64,
}

impl Cursor {
    /// Before the first event.
    pub const START: Cursor = Cursor {
        tx_id: 0,
        position: 0,
    };
}
