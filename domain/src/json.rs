//! A JSON document of the log, kept as the text the database sent and parsed into a tree only
//! when someone asks for the whole tree.
//!
//! Readers of the whole log (a rebuild, a projection's runner) look at one or two fields of most
//! events and at the payload of few: a download's payload is read by no projection, its actor by
//! two. Building a `serde_json::Value` for every payload and every metadata object (a map of
//! owned strings each, built and dropped) was a third of a rebuild's own work. With `LazyJson`
//! the tree is built at most once, on first use ([`LazyJson::value`], or through `Deref`), and
//! [`LazyJson::read`] deserializes a typed view straight from the text, borrowing its strings.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::de::{Deserializer, IgnoredAny, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// A JSON document: its text, the tree parsed on first use, or both.
#[derive(Clone)]
pub struct LazyJson {
    /// The document as text; `None` when it was made from a tree.
    text: Option<Box<str>>,
    /// The tree, once built.
    value: OnceLock<Value>,
}

impl LazyJson {
    /// A document from its text. The syntax is checked here (without building anything), so a
    /// corrupt document is an error where it is read, not later where it is used.
    pub fn from_text(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<IgnoredAny>(text)?;
        Ok(Self {
            text: Some(text.into()),
            value: OnceLock::new(),
        })
    }

    /// The document as a tree, built now if it was not yet. (Text that passed `from_text` but
    /// exceeds what a `Value` holds, a number beyond `f64`, reads as `null`; the service never
    /// writes such a document.)
    pub fn value(&self) -> &Value {
        self.value.get_or_init(|| {
            self.text
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or(Value::Null)
        })
    }

    /// The tree, taken out of the document.
    pub fn into_value(self) -> Value {
        self.value();
        self.value.into_inner().expect("built just now")
    }

    /// Deserializes `T` from the text (strings are borrowed from it where they need no
    /// unescaping), or from the tree when there is no text or the tree is already built.
    pub fn read<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        match self.unparsed_text() {
            Some(text) => serde_json::from_str(text),
            None => T::deserialize(self.value()),
        }
    }

    /// The text, as long as no tree has been built (a reader that needs the document once can
    /// parse what it needs from it; once the tree exists, reading the tree is cheaper).
    pub fn unparsed_text(&self) -> Option<&str> {
        match self.value.get() {
            None => self.text.as_deref(),
            Some(_) => None,
        }
    }

    /// Whether the tree has been built (for tests of what a reader parses).
    pub fn is_parsed(&self) -> bool {
        self.value.get().is_some()
    }
}

impl From<Value> for LazyJson {
    fn from(value: Value) -> Self {
        Self {
            text: None,
            value: OnceLock::from(value),
        }
    }
}

impl std::ops::Deref for LazyJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for LazyJson {
    fn eq(&self, other: &Self) -> bool {
        match (self.value.get(), other.value.get(), &self.text, &other.text) {
            // Equal texts are equal documents; unequal texts may still be (spacing, key order).
            (None, None, Some(a), Some(b)) if a == b => true,
            _ => self.value() == other.value(),
        }
    }
}

impl fmt::Debug for LazyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl Serialize for LazyJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// A string field of a document read through [`LazyJson::read`]: borrowed from the text when it
/// can be, and `None` for a field that holds anything but a string (as `Value::as_str` says), so
/// one odd field never hides the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Text<'a>(pub Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The string, if the field held one.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }

            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }

            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Some(Cow::Owned(v))))
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Text(None))
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }

        deserializer.deserialize_any(TextVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize, Default)]
    struct View<'a> {
        #[serde(borrow, default)]
        actor: Text<'a>,
        #[serde(borrow, default)]
        ip: Text<'a>,
    }

    #[test]
    fn text_is_parsed_only_when_the_tree_is_asked_for() {
        let doc = LazyJson::from_text(r#"{"actor": "user:ann", "ip": "10.0.0.1", "n": [1, 2]}"#).unwrap();
        let view: View = doc.read().unwrap();
        assert_eq!(view.actor.as_deref(), Some("user:ann"));
        assert!(
            matches!(view.actor.0, Some(Cow::Borrowed(_))),
            "a plain string is borrowed"
        );
        assert!(!doc.is_parsed());
        assert_eq!(doc.get("n"), Some(&json!([1, 2])));
        assert!(doc.is_parsed());
        // Once built, reads come from the tree and say the same.
        let again: View = doc.read().unwrap();
        assert_eq!(again.ip.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn a_document_from_text_equals_the_same_document_from_a_tree() {
        let tree = json!({"b": 1, "a": {"x": "y\"z"}});
        let text = LazyJson::from_text(r#"{ "a": {"x": "y\"z"}, "b": 1 }"#).unwrap();
        assert_eq!(text, LazyJson::from(tree.clone()));
        assert_eq!(text.clone().into_value(), tree);
        assert_eq!(serde_json::to_value(&text).unwrap(), tree);
        assert_eq!(format!("{text:?}"), format!("{tree:?}"));
        assert_ne!(text, LazyJson::from(json!({"b": 2})));
    }

    #[test]
    fn corrupt_text_is_refused_where_it_is_read() {
        assert!(LazyJson::from_text(r#"{"actor": "#).is_err());
        assert!(LazyJson::from_text("").is_err());
        assert!(LazyJson::from_text(r#"{"a": 1} trailing"#).is_err());
    }

    #[test]
    fn a_field_that_is_no_string_reads_as_none_and_leaves_the_others() {
        let doc = LazyJson::from_text(r#"{"actor": {"id": [1, {"k": null}]}, "ip": "10.0.0.1"}"#).unwrap();
        let view: View = doc.read().unwrap();
        assert_eq!(view.actor, Text(None));
        assert_eq!(view.ip.as_deref(), Some("10.0.0.1"));
        for odd in ["1", "-1", "1.5", "true", "null", "[]"] {
            let doc = LazyJson::from_text(&format!(r#"{{"actor": {odd}, "ip": "x"}}"#)).unwrap();
            let view: View = doc.read().unwrap();
            assert_eq!((view.actor.as_deref(), view.ip.as_deref()), (None, Some("x")), "{odd}");
        }
        // An escaped string cannot be borrowed; it is unescaped into an owned one.
        let doc = LazyJson::from_text(r#"{"actor": "a\"b"}"#).unwrap();
        let view: View = doc.read().unwrap();
        assert_eq!(view.actor.as_deref(), Some("a\"b"));
    }
}
