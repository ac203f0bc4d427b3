//! The per-stream hash chain: `hash = SHA-256(prev_hash || encoding of the event)`.
//!
//! The encoding is unambiguous: a version tag, then every field the writer determines, each
//! fixed-width or length-prefixed, with JSON in canonical form (object keys sorted by their
//! UTF-8 bytes, no insignificant whitespace). The fields PostgreSQL assigns at insert time
//! (`global_position`, `tx_id`) are covered by the signed checkpoints' running digest and by
//! the verifier's ordering checks instead, so an append stays one statement.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use shareledger_domain::log::{Hash, ZERO_HASH};

const ENCODING_TAG: &[u8] = b"shareledger-event-v1";

/// The fields an event's hash covers, borrowed from a new or a stored event.
pub struct HashInput<'a> {
    pub stream_id: &'a str,
    pub stream_version: i64,
    pub event_id: &'a Uuid,
    pub event_type: &'a str,
    pub schema_version: i32,
    pub payload: &'a Value,
    pub metadata: &'a Value,
    pub occurred_at: &'a DateTime<Utc>,
    pub recorded_at: &'a DateTime<Utc>,
}

/// Computes an event's chain hash from its predecessor's hash.
pub fn event_hash(prev_hash: &Hash, input: &HashInput<'_>) -> Hash {
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(prev_hash);
    put_bytes(&mut buf, ENCODING_TAG);
    put_bytes(&mut buf, input.stream_id.as_bytes());
    buf.extend_from_slice(&input.stream_version.to_be_bytes());
    buf.extend_from_slice(input.event_id.as_bytes());
    put_bytes(&mut buf, input.event_type.as_bytes());
    buf.extend_from_slice(&input.schema_version.to_be_bytes());
    put_json(&mut buf, input.payload);
    put_json(&mut buf, input.metadata);
    buf.extend_from_slice(&input.occurred_at.timestamp_micros().to_be_bytes());
    buf.extend_from_slice(&input.recorded_at.timestamp_micros().to_be_bytes());
    Sha256::digest(&buf).into()
}

fn put_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("event field longer than 4 GiB");
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(bytes);
}

fn put_json(buf: &mut Vec<u8>, value: &Value) {
    let mut canonical = Vec::with_capacity(256);
    write_canonical(&mut canonical, value);
    put_bytes(buf, &canonical);
}

/// Canonical JSON bytes of a value: sorted keys, compact, serde_json's string escaping.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write_canonical(&mut out, value);
    out
}

fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_canonical(out, item);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(out, s),
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn input<'a>(payload: &'a Value, meta: &'a Value, id: &'a Uuid, t: &'a DateTime<Utc>) -> HashInput<'a> {
        HashInput {
            stream_id: "share-1",
            stream_version: 1,
            event_id: id,
            event_type: "ShareCreated",
            schema_version: 1,
            payload,
            metadata: meta,
            occurred_at: t,
            recorded_at: t,
        }
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level_and_drops_whitespace() {
        let v = json!({"b": 1, "a": {"z": [3, {"y": true, "x": null}], "c": "é\n"}});
        assert_eq!(
            String::from_utf8(canonical_json(&v)).unwrap(),
            r#"{"a":{"c":"é\n","z":[3,{"x":null,"y":true}]},"b":1}"#
        );
    }

    #[test]
    fn the_hash_depends_on_every_field_and_on_the_predecessor() {
        let (p, m, id, t) = (json!({"a": 1}), json!({}), Uuid::nil(), DateTime::UNIX_EPOCH);
        let base = event_hash(&ZERO_HASH, &input(&p, &m, &id, &t));
        assert_ne!(base, event_hash(&[1; 32], &input(&p, &m, &id, &t)));
        let p2 = json!({"a": 2});
        assert_ne!(base, event_hash(&ZERO_HASH, &input(&p2, &m, &id, &t)));
        let mut changed = input(&p, &m, &id, &t);
        changed.stream_version = 2;
        assert_ne!(base, event_hash(&ZERO_HASH, &changed));
        let t2 = DateTime::from_timestamp_micros(1).unwrap();
        let mut later = input(&p, &m, &id, &t);
        later.recorded_at = &t2;
        assert_ne!(base, event_hash(&ZERO_HASH, &later));
    }

    #[test]
    fn length_prefixes_keep_adjacent_fields_apart() {
        let (p, m, id, t) = (json!({}), json!({}), Uuid::nil(), DateTime::UNIX_EPOCH);
        let mut a = input(&p, &m, &id, &t);
        a.stream_id = "ab";
        a.event_type = "c";
        let mut b = input(&p, &m, &id, &t);
        b.stream_id = "a";
        b.event_type = "bc";
        assert_ne!(event_hash(&ZERO_HASH, &a), event_hash(&ZERO_HASH, &b));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,8}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn canonical_json_round_trips_to_an_equal_value(v in arb_json()) {
            let bytes = canonical_json(&v);
            let back: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(canonical_json(&back), bytes);
        }
    }
}
