//! The rows of the log: what a writer supplies and what a reader gets back.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shareledger_domain::DomainEvent;
pub use shareledger_domain::log::{Cursor, StoredEvent, StreamHead};
use uuid::Uuid;

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
    pub fn from_domain<E: DomainEvent>(event: &E, metadata: &EventMetadata, occurred_at: DateTime<Utc>) -> Self {
        Self::new(
            event.event_type(),
            event.schema_version(),
            event.to_payload(),
            metadata,
            occurred_at,
        )
    }
}
