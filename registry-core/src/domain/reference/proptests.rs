//! Properties of tag and reference parsing: tags are `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`;
//! a reference with a `:` is a digest, anything else a tag.

use proptest::prelude::*;

use super::{Reference, Tag};
use crate::domain::Digest;

/// The tag oracle.
fn tag_accepted(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    first_ok
        && s.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn valid_tag() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
}

fn near_valid_tag() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(vec![
        "a", "Z", "9", "_", ".", "-", "..", "/", ":", " ", "%2e", "é", "v1.0", "latest", "+", "@",
        "\n",
    ]);
    proptest::collection::vec(token, 1..10).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics(s in any::<String>()) {
        prop_assert_eq!(s.parse::<Tag>().is_ok(), tag_accepted(&s));
        let reference = s.parse::<Reference>();
        match &reference {
            Ok(Reference::Tag(t)) => prop_assert_eq!(t.as_str(), s.as_str()),
            Ok(Reference::Digest(d)) => prop_assert_eq!(d.as_str(), s.as_str()),
            Err(_) => {}
        }
    }

    #[test]
    fn near_valid_tags_are_accepted_exactly_by_the_grammar(s in near_valid_tag()) {
        prop_assert_eq!(s.parse::<Tag>().is_ok(), tag_accepted(&s), "{:?}", s);
        // A reference is a tag exactly when it has no `:`.
        if !s.contains(':') {
            prop_assert_eq!(s.parse::<Reference>().is_ok(), tag_accepted(&s));
        } else {
            prop_assert!(!matches!(s.parse::<Reference>(), Ok(Reference::Tag(_))));
        }
    }

    #[test]
    fn valid_tags_round_trip(s in valid_tag()) {
        let tag: Tag = s.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(tag.as_str(), s.as_str());
        prop_assert_eq!(tag.to_string().parse::<Tag>(), Ok(tag.clone()));
        let reference: Reference = s.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(reference.to_string(), s.clone());
        prop_assert_eq!(reference, Reference::Tag(tag));
    }

    #[test]
    fn tags_end_at_128_characters(s in valid_tag(), pad in 0usize..3) {
        let target = 127 + pad;
        prop_assume!(s.len() <= target);
        let padded = format!("{s}{}", "x".repeat(target - s.len()));
        prop_assert_eq!(padded.parse::<Tag>().is_ok(), target <= 128);
    }

    #[test]
    fn digest_references_round_trip(data in proptest::collection::vec(any::<u8>(), 0..64)) {
        let digest = Digest::sha256_of(&data);
        let reference: Reference = digest
            .as_str()
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(reference.to_string(), digest.to_string());
        prop_assert_eq!(reference, Reference::Digest(digest));
    }
}
