//! Standard base64 (RFC 4648, with padding), for a task's `encodedTaskContent` and
//! `encodedValuesContent`, through the `base64` crate.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Decodes `text` (whitespace, such as the line breaks of a wrapped value, ignored); None when it
/// is not canonical padded base64.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// Encodes `bytes` with padding.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_is_not_base64() {
        for s in [
            "",
            "a",
            "ab",
            "abc",
            "version: v1.1.0\nsteps:\n  - cmd: x\n",
        ] {
            assert_eq!(decode(&encode(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(encode(b"ab"), "YWI=");
        assert_eq!(decode("YW\nI=").unwrap(), b"ab");
        assert_eq!(decode(" YW\r\n I= \n").unwrap(), b"ab");
        assert_eq!(decode("not base64!"), None);
        assert_eq!(decode("YW=I"), None);
        // Padding in odd places and non-canonical trailing bits are refused.
        assert_eq!(decode("YQ="), None);
        assert_eq!(decode("YR=="), None);
    }
}
