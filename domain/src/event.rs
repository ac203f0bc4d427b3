//! How domain events become stored rows and back: a stable type name, a schema version, a JSON
//! payload, and upcasting of older versions on load.

use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// A stored event could not be turned back into a domain event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("event {event_type} has schema version {found}, newer than this build knows ({known})")]
    FutureVersion { event_type: String, found: i32, known: i32 },
    #[error("event {event_type} v{version} has an invalid payload: {source}")]
    Payload {
        event_type: String,
        version: i32,
        #[source]
        source: serde_json::Error,
    },
}

/// An event of one aggregate, with its stable type name and schema version.
pub trait DomainEvent: Sized + Clone + Send + Sync + 'static {
    /// The stable name stored in `event_type`.
    fn event_type(&self) -> &'static str;
    /// The schema version this build writes for that type.
    fn schema_version(&self) -> i32;
    /// The payload stored as JSON (never a secret).
    fn to_payload(&self) -> Value;
    /// Rebuilds the event from a stored row, upcasting older schema versions.
    fn from_stored(event_type: &str, schema_version: i32, payload: Value) -> Result<Self, DecodeError>;
}

/// Splits an adjacently tagged enum value (`{"type": .., "data": ..}`) into type name and payload.
/// Events are declared with `#[serde(tag = "type", content = "data")]` and use this helper.
pub fn encode_tagged<E: Serialize>(event: &E) -> Value {
    match serde_json::to_value(event) {
        Ok(Value::Object(mut map)) => map.remove("data").unwrap_or(Value::Object(Default::default())),
        // A serialization failure of a plain data enum is a programming error caught by tests.
        Ok(other) => panic!("event did not serialize as a tagged object: {other}"),
        Err(e) => panic!("event did not serialize: {e}"),
    }
}

/// Rebuilds an adjacently tagged enum from the stored type name and (upcast) payload.
pub fn decode_tagged<E: DeserializeOwned>(
    event_type: &str,
    schema_version: i32,
    payload: Value,
) -> Result<E, DecodeError> {
    // Unit variants carry no data: they are stored with an empty object.
    let unit = payload.as_object().is_some_and(|m| m.is_empty());
    let tagged = serde_json::json!({ "type": event_type, "data": payload });
    let decoded = serde_json::from_value(tagged).or_else(|e| {
        if unit {
            serde_json::from_value(serde_json::json!({ "type": event_type }))
        } else {
            Err(e)
        }
    });
    decoded.map_err(|source| {
        if source.to_string().starts_with("unknown variant") {
            DecodeError::UnknownType(event_type.to_owned())
        } else {
            DecodeError::Payload {
                event_type: event_type.to_owned(),
                version: schema_version,
                source,
            }
        }
    })
}
