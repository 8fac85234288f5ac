//! Reading JSON objects the way every other reader of them will: the keys of an object the
//! registry checks must name each field at most once and exactly.
//!
//! JSON parsers disagree on the rest. With a key given twice, serde keeps the last value and
//! so does Go's `encoding/json`, but other parsers keep the first. Go also matches keys to
//! struct fields without regard to letter case (`"Layers"` fills `Layers` when no exact
//! `"layers"` is given, and replaces it when one is), where serde sees an unknown key. Either
//! would let a manifest show the registry one set of layers and its clients (or the
//! reference's garbage collector on the same storage) another. [`Fields`] refuses both.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

/// The known fields of one object and which of them were read.
pub(crate) struct Fields {
    known: &'static [&'static str],
    seen: u64,
}

impl Fields {
    pub(crate) fn new(known: &'static [&'static str]) -> Self {
        debug_assert!(known.len() <= 64);
        Fields { known, seen: 0 }
    }

    /// The known field `key` names, or `None` for a key nothing reads. An error for a field
    /// named twice, and for a key that only a case-insensitive match takes for a field.
    pub(crate) fn field<E: de::Error>(&mut self, key: &str) -> Result<Option<&'static str>, E> {
        if let Some(i) = self.known.iter().position(|known| *known == key) {
            let bit = 1u64 << i;
            if self.seen & bit != 0 {
                return Err(E::custom(format_args!("duplicate key {key:?}")));
            }
            self.seen |= bit;
            return Ok(Some(self.known[i]));
        }
        if let Some(known) = self.known.iter().find(|known| go_equal_fold(known, key)) {
            return Err(E::custom(format_args!(
                "ambiguous key {key:?}: Go's encoding/json reads it as {known:?}"
            )));
        }
        Ok(None)
    }
}

/// Whether Go's `encoding/json` matches `key` to the ASCII field name `known`: equal under
/// Unicode simple case folding. The only non-ASCII characters that fold to ASCII letters
/// are U+017F (long s, to `s`) and U+212A (Kelvin sign, to `k`).
fn go_equal_fold(known: &str, key: &str) -> bool {
    let mut key = key.chars();
    for expected in known.bytes() {
        let folded = match key.next() {
            Some(c) if c.is_ascii() => c.to_ascii_lowercase(),
            Some('\u{017F}') => 's',
            Some('\u{212A}') => 'k',
            _ => return false,
        };
        if folded != char::from(expected.to_ascii_lowercase()) {
            return false;
        }
    }
    key.next().is_none()
}

/// An object key, borrowed from the document when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A string-to-string map (annotations) that refuses a key given twice.
pub(crate) struct UniqueMap(pub(crate) BTreeMap<String, String>);

impl<'de> Deserialize<'de> for UniqueMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = UniqueMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueMap, A::Error> {
                let mut entries = BTreeMap::new();
                while let Some((key, value)) = map.next_entry::<String, String>()? {
                    if entries.contains_key(&key) {
                        return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
                    }
                    entries.insert(key, value);
                }
                Ok(UniqueMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_like_go() {
        for (known, key) in [
            ("layers", "Layers"),
            ("layers", "LAYERS"),
            ("layers", "layer\u{017F}"),
            ("mediaType", "mediatype"),
            ("mediaType", "MEDIATYPE"),
            ("schemaVersion", "SchemaVer\u{017F}ion"),
            ("artifactType", "artifacttype"),
            ("size", "\u{017F}ize"),
            ("kind", "\u{212A}ind"),
        ] {
            assert!(go_equal_fold(known, key), "{key:?} folds to {known:?}");
        }
        for (known, key) in [
            ("layers", "layer"),
            ("layers", "layerss"),
            ("layers", "lay_ers"),
            ("size", "s\u{0131}ze"), // dotless i does not fold to i in Go
            ("digest", "digést"),
        ] {
            assert!(!go_equal_fold(known, key), "{key:?} is not {known:?}");
        }
    }

    #[test]
    fn refuses_duplicates_and_case_variants_of_known_fields() {
        type E = serde_json::Error;
        let mut fields = Fields::new(&["digest", "size"]);
        assert_eq!(fields.field::<E>("digest").unwrap(), Some("digest"));
        assert_eq!(fields.field::<E>("other").unwrap(), None);
        assert_eq!(
            fields.field::<E>("other").unwrap(),
            None,
            "unknown keys are not read"
        );
        assert!(fields.field::<E>("digest").is_err());
        assert!(fields.field::<E>("Size").is_err());
        assert_eq!(fields.field::<E>("size").unwrap(), Some("size"));
    }
}
