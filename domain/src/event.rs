//! How domain events become stored rows and back: a stable type name, a schema version, a JSON
//! payload, and upcasting of older versions on load.

use serde::Serialize;
use serde::de::{DeserializeOwned, value::MapDeserializer};
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
    /// (Borrows the payload: replays decode every event of the log, and an upcaster that needs
    /// to change the payload clones only what it changes.)
    fn from_stored(event_type: &str, schema_version: i32, payload: &Value) -> Result<Self, DecodeError>;
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
    payload: &Value,
) -> Result<E, DecodeError> {
    // The tag first, then the borrowed payload: serde then deserializes the variant's data
    // straight from it, without copying the payload or buffering it.
    let tag = Value::String(event_type.to_owned());
    let tagged = |data: Option<&Value>| {
        let fields = std::iter::once(("type", &tag)).chain(data.map(|d| ("data", d)));
        E::deserialize(MapDeserializer::<_, serde_json::Error>::new(fields))
    };
    // Unit variants carry no data: they are stored with an empty object.
    let unit = payload.as_object().is_some_and(|m| m.is_empty());
    let decoded = tagged(Some(payload)).or_else(|e| if unit { tagged(None) } else { Err(e) });
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum Sample {
        Named { id: u32, label: String },
        Unit,
    }

    fn decode(event_type: &str, payload: Value) -> Result<Sample, DecodeError> {
        decode_tagged(event_type, 1, &payload)
    }

    #[test]
    fn variants_decode_from_their_type_and_borrowed_payload() {
        let named = Sample::Named {
            id: 7,
            label: "x".into(),
        };
        assert_eq!(decode("Named", encode_tagged(&named)).unwrap(), named);
        assert_eq!(decode("Unit", encode_tagged(&Sample::Unit)).unwrap(), Sample::Unit);
        assert_eq!(encode_tagged(&Sample::Unit), serde_json::json!({}));
    }

    #[test]
    fn unknown_types_and_bad_payloads_are_told_apart() {
        assert!(matches!(decode("Renamed", serde_json::json!({})), Err(DecodeError::UnknownType(t)) if t == "Renamed"));
        assert!(matches!(
            decode("Named", serde_json::json!({"id": "seven", "label": "x"})),
            Err(DecodeError::Payload { event_type, version: 1, .. }) if event_type == "Named"
        ));
        assert!(matches!(
            decode("Unit", serde_json::json!({"unexpected": 1})),
            Err(DecodeError::Payload { .. })
        ));
    }
}
