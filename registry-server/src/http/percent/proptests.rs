//! Properties of percent-decoding: total on any input, the inverse of encoding, and the
//! identity on text without escapes.

use proptest::prelude::*;

use super::{decode, encode_query_value};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn decoding_reverses_encoding(s in any::<String>()) {
        let encoded = encode_query_value(&s);
        prop_assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));
        prop_assert_eq!(decode(&encoded), s);
    }

    #[test]
    fn any_text_decodes(s in "([%0-9a-fA-FgG]|[^%]){0,40}") {
        let decoded = decode(&s);
        // Each escape shrinks three bytes to one; invalid UTF-8 grows to U+FFFD (3 bytes).
        prop_assert!(decoded.len() <= s.len() * 3);
        if !s.contains('%') {
            prop_assert_eq!(decoded, s);
        }
    }
}
