//! How domain events become stored rows and back: a stable type name, a schema version, a JSON
//! payload, and upcasting of older versions on load.

use serde::Serialize;
use serde::de::{DeserializeOwned, value::MapDeserializer};
use serde_json::Value;

use crate::json::LazyJson;

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
    /// (Borrows the payload: replays decode every event of the log. A current version decodes
    /// straight from the payload's text when no tree was built; an upcaster that needs to change
    /// the payload takes its tree and clones only what it changes.)
    fn from_stored(event_type: &str, schema_version: i32, payload: &LazyJson) -> Result<Self, DecodeError>;
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
    payload: &LazyJson,
) -> Result<E, DecodeError> {
    let decoded = match payload.unparsed_text() {
        Some(text) => from_text(event_type, text),
        None => from_value(event_type, payload.value()),
    };
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

/// From the payload's text: `{"type": <name>, "data": <payload>}` parsed in one pass, the
/// variant's data straight from the text (the tag comes first, so serde buffers nothing), without
/// building a tree.
fn from_text<E: DeserializeOwned>(event_type: &str, text: &str) -> Result<E, serde_json::Error> {
    let tag = serde_json::to_string(event_type)?;
    let tagged = |data: Option<&str>| {
        let mut doc = String::with_capacity(tag.len() + data.map_or(0, str::len) + 20);
        doc.push_str("{\"type\":");
        doc.push_str(&tag);
        if let Some(data) = data {
            doc.push_str(",\"data\":");
            doc.push_str(data);
        }
        doc.push('}');
        serde_json::from_str::<E>(&doc)
    };
    // Unit variants carry no data: they are stored with an empty object.
    let unit = text.bytes().filter(|b| !b.is_ascii_whitespace()).eq(*b"{}");
    tagged(Some(text)).or_else(|e| if unit { tagged(None) } else { Err(e) })
}

/// From the payload's tree: the tag first, then the borrowed payload, so serde deserializes the
/// variant's data straight from it, without copying the payload or buffering it.
fn from_value<E: DeserializeOwned>(event_type: &str, payload: &Value) -> Result<E, serde_json::Error> {
    let tag = Value::String(event_type.to_owned());
    let tagged = |data: Option<&Value>| {
        let fields = std::iter::once(("type", &tag)).chain(data.map(|d| ("data", d)));
        E::deserialize(MapDeserializer::<_, serde_json::Error>::new(fields))
    };
    // Unit variants carry no data: they are stored with an empty object.
    let unit = payload.as_object().is_some_and(|m| m.is_empty());
    tagged(Some(payload)).or_else(|e| if unit { tagged(None) } else { Err(e) })
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

    /// Decodes from the tree and from the text, which must agree.
    fn decode(event_type: &str, payload: Value) -> Result<Sample, DecodeError> {
        let from_tree = decode_tagged::<Sample>(event_type, 1, &LazyJson::from(payload.clone()));
        let text = LazyJson::from_text(&payload.to_string()).unwrap();
        let from_text = decode_tagged(event_type, 1, &text);
        assert!(!text.is_parsed(), "decoding from text builds no tree");
        match (&from_tree, &from_text) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(DecodeError::UnknownType(a)), Err(DecodeError::UnknownType(b))) => assert_eq!(a, b),
            (Err(DecodeError::Payload { .. }), Err(DecodeError::Payload { .. })) => {}
            other => panic!("tree and text disagree: {other:?}"),
        }
        from_text
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
