//! Reading a manifest document's JSON as Go's `encoding/json` reads it into Distribution's types,
//! so that the copy sees every reference the registry sees.
//!
//! Go matches an object's keys to a struct's fields exactly or, failing that, without regard to
//! case (Unicode simple folding: `Layers`, `LAYERS` and `layerſ` are all `layers`), and the last
//! key given for a field wins, in document order. A registry therefore reads `"Layers": [...]` as
//! the manifest's layers, and refuses the manifest when one of them is missing; a reader that
//! took exact names only would copy the manifest without them, and a verify reading it the same
//! way would pass. Only the fields of the structures (document, descriptor, platform) are folded:
//! keys inside maps (annotations) are data, kept as they are. Invalid UTF-8 and lone UTF-16
//! surrogate escapes, which Go reads as U+FFFD, are read so too (the bytes themselves are never
//! changed: this is only how they are understood).
//!
//! serde offers no case-insensitive field matching; the seed below applies Go's rules while the
//! document is parsed, into a `serde_json::Value` that the lenient types of `manifest` then read.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Where in a manifest document a JSON value sits: which fields its object has, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// A value read as it is (a map's keys are data).
    Any,
    /// The document: an image manifest, an index or manifest list, an artifact manifest.
    Document,
    /// A descriptor.
    Descriptor,
    /// A list of descriptors.
    Descriptors,
    /// An index entry's platform.
    Platform,
}

impl Place {
    /// The fields of the structure at this place, and the place of each one's value.
    fn fields(self) -> &'static [(&'static str, Place)] {
        match self {
            Place::Document => &[
                ("schemaVersion", Place::Any),
                ("mediaType", Place::Any),
                ("artifactType", Place::Any),
                ("config", Place::Descriptor),
                ("layers", Place::Descriptors),
                ("manifests", Place::Descriptors),
                ("blobs", Place::Descriptors),
                ("subject", Place::Descriptor),
                ("annotations", Place::Any),
                ("fsLayers", Place::Any),
            ],
            Place::Descriptor => &[
                ("mediaType", Place::Any),
                ("digest", Place::Any),
                ("size", Place::Any),
                ("urls", Place::Any),
                ("platform", Place::Platform),
                ("artifactType", Place::Any),
                ("annotations", Place::Any),
                ("data", Place::Any),
            ],
            Place::Platform => &[
                ("architecture", Place::Any),
                ("os", Place::Any),
                ("os.version", Place::Any),
                ("os.features", Place::Any),
                ("variant", Place::Any),
                ("features", Place::Any),
            ],
            Place::Any | Place::Descriptors => &[],
        }
    }

    /// The field `key` names here (exactly, else folded as Go folds) and its value's place; a key
    /// that names no field is kept as it is.
    fn field(self, key: String) -> (String, Place) {
        let fields = self.fields();
        if let Some((name, place)) = fields.iter().find(|(name, _)| *name == key) {
            return (name.to_string(), *place);
        }
        match fields.iter().find(|(name, _)| folds_to(&key, name)) {
            Some((name, place)) => (name.to_string(), *place),
            None => (key, Place::Any),
        }
    }
}

/// True when `key` equals the ASCII field name `name` under Unicode simple case folding: ASCII
/// letters in either case, and the two non-ASCII letters that fold onto ASCII ones (`ſ` U+017F
/// onto `s`, the Kelvin sign U+212A onto `k`).
fn folds_to(key: &str, name: &str) -> bool {
    let mut key = key.chars();
    for expected in name.chars() {
        let Some(c) = key.next() else { return false };
        let c = match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        };
        if c != expected.to_ascii_lowercase() {
            return false;
        }
    }
    key.next().is_none()
}

/// A manifest document's JSON read as Go reads it (see the module's documentation).
pub(crate) fn document(bytes: &[u8]) -> serde_json::Result<Value> {
    let first = parse(bytes);
    match first {
        Err(e) if e.is_syntax() => match as_go_decodes(bytes) {
            Some(mended) => parse(mended.as_bytes()).map_err(|_| e),
            None => Err(e),
        },
        read => read,
    }
}

fn parse(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let value = Seed(Place::Document).deserialize(&mut reader)?;
    reader.end()?;
    Ok(value)
}

/// The text Go's decoder reads from `bytes` when they hold invalid UTF-8 or escapes of lone UTF-16
/// surrogates (each read as U+FFFD); `None` when they hold neither (the error is another).
fn as_go_decodes(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut mended = matches!(text, std::borrow::Cow::Owned(_));
    let mut rest = text.as_ref();
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let unit = |s: &str| {
            s.strip_prefix("\\u")
                .and_then(|h| h.get(..4))
                .and_then(|h| u16::from_str_radix(h, 16).ok())
        };
        match unit(rest) {
            Some(0xD800..=0xDBFF) => match unit(&rest[6..]) {
                Some(0xDC00..=0xDFFF) => {
                    out.push_str(&rest[..12]);
                    rest = &rest[12..];
                }
                _ => {
                    out.push_str("\\ufffd");
                    rest = &rest[6..];
                    mended = true;
                }
            },
            Some(0xDC00..=0xDFFF) => {
                out.push_str("\\ufffd");
                rest = &rest[6..];
                mended = true;
            }
            // Any other escape, `\\` included, is kept whole (so its second character is never
            // taken for the start of another).
            _ => {
                let len = rest[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&rest[..1 + len]);
                rest = &rest[1 + len..];
            }
        }
    }
    out.push_str(rest);
    mended.then_some(out)
}

/// Reads the value at a [`Place`].
struct Seed(Place);

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.0 {
            Place::Any => serde::Deserialize::deserialize(deserializer),
            place => deserializer.deserialize_any(Shaped(place)),
        }
    }
}

/// Builds the value at a structured [`Place`]: objects get their fields' names as Go matches
/// them, the last of a field's keys winning; anything else is read as it is.
struct Shaped(Place);

impl<'de> Visitor<'de> for Shaped {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let element = match self.0 {
            Place::Descriptors => Place::Descriptor,
            _ => Place::Any,
        };
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed(element))? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let (name, place) = self.0.field(key);
            let value = map.next_value_seed(Seed(place))?;
            out.insert(name, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_are_matched_as_go_matches_them_the_last_key_winning() {
        let read = document(
            br#"{"schemaVersion":2,"Layers":[{"Digest":"a","SIZE":1,"annotations":{"Key":"v"}}],"config":{"digest":"c","size":2},"layer\u017f":[{"digest":"b","size":3}]}"#,
        )
        .unwrap();
        assert_eq!(
            read,
            json!({"schemaVersion": 2, "layers": [{"digest": "b", "size": 3}], "config": {"digest": "c", "size": 2}})
        );
        let read = document(
            "{\"Manifests\":[{\"digest\":\"a\",\"size\":1,\"Platform\":{\"OS\":\"linux\",\"OS.Version\":\"10\"}}],\"\u{212A}ey\":1}"
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(
            read,
            json!({"manifests": [{"digest": "a", "size": 1, "platform": {"os": "linux", "os.version": "10"}}], "\u{212A}ey": 1})
        );
        // Map keys are data: an annotation `Digest` stays `Digest`.
        let read = document(br#"{"annotations":{"Digest":"x"},"digest":"y"}"#).unwrap();
        assert_eq!(read, json!({"annotations": {"Digest": "x"}, "digest": "y"}));
    }

    #[test]
    fn the_last_of_a_fields_keys_wins_in_document_order() {
        let read = document(br#"{"Layers":[1],"layers":[2]}"#).unwrap();
        assert_eq!(read["layers"], json!([2]));
        let read = document(br#"{"layers":[2],"Layers":[1]}"#).unwrap();
        assert_eq!(read["layers"], json!([1]));
    }

    #[test]
    fn invalid_utf8_and_lone_surrogates_read_as_replacement_characters() {
        let read = document(b"{\"annotations\":{\"a\":\"x\xff\xfey\"},\"config\":{}}").unwrap();
        assert_eq!(read["annotations"]["a"], "x\u{FFFD}\u{FFFD}y");
        let read =
            document(br#"{"a":"\ud800x","b":"\udc00","c":"\ud83d\ude00","d":"\\ud800"}"#).unwrap();
        assert_eq!(read["a"], "\u{FFFD}x");
        assert_eq!(read["b"], "\u{FFFD}");
        assert_eq!(read["c"], "\u{1F600}");
        assert_eq!(read["d"], "\\ud800");
        // Another syntax error stays the error it is.
        assert!(document(br#"{"a":}"#).is_err());
    }

    #[test]
    fn only_ascii_letters_and_the_two_foldable_signs_fold() {
        assert!(folds_to("LAYERS", "layers"));
        assert!(folds_to("layer\u{17F}", "layers"));
        assert!(!folds_to("layer", "layers"));
        assert!(!folds_to("layerss", "layers"));
        assert!(!folds_to("os_version", "os.version"));
        assert!(folds_to("OS.VERSION", "os.version"));
    }
}
