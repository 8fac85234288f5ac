//! Properties of digest parsing, against an independent statement of the grammar this registry
//! accepts: `sha256:` + 64 or `sha512:` + 128 lowercase hex digits, nothing else.

use proptest::prelude::*;

use super::{Algorithm, Digest};

/// The accepted language, written as plainly as possible (the oracle).
fn accepted(s: &str) -> bool {
    let hex_of = |rest: &str, len: usize| {
        rest.len() == len
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    match s.split_once(':') {
        Some(("sha256", rest)) => hex_of(rest, 64),
        Some(("sha512", rest)) => hex_of(rest, 128),
        _ => false,
    }
}

fn hex_string(len: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(proptest::sample::select(b"0123456789abcdef".to_vec()), len)
        .prop_map(|bytes| String::from_utf8(bytes).unwrap_or_default())
}

/// A valid digest of either algorithm.
fn valid_digest() -> impl Strategy<Value = String> {
    prop_oneof![
        hex_string(64).prop_map(|h| format!("sha256:{h}")),
        hex_string(128).prop_map(|h| format!("sha512:{h}")),
    ]
}

/// Inputs close to valid: plausible algorithms (including unsupported and malformed ones),
/// encoded parts of lengths near the real ones, and characters just outside the hex alphabet.
fn near_valid_digest() -> impl Strategy<Value = String> {
    let algorithm = proptest::sample::select(vec![
        "sha256",
        "sha512",
        "sha384",
        "SHA256",
        "sha256+b64",
        "blake3",
        "md5",
        "",
        "sha_256",
        "sha256.",
        ".sha256",
        "sha-",
        "a+b.c_d-e",
    ]);
    let separator = proptest::sample::select(vec![":", "", "::", "%3A", " :"]);
    let chars = proptest::sample::select(b"0123456789abcdefABCDEFgz:/.-_ %\x00".to_vec());
    let lengths = prop_oneof![60usize..=68, 124usize..=132, 0usize..4];
    let encoded = lengths.prop_flat_map(move |len| {
        proptest::collection::vec(
            prop_oneof![8 => proptest::sample::select(b"0123456789abcdef".to_vec()), 1 => chars.clone()],
            len,
        )
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
    });
    (algorithm, separator, encoded).prop_map(|(a, s, e)| format!("{a}{s}{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics_and_matches_the_grammar(s in any::<String>()) {
        prop_assert_eq!(s.parse::<Digest>().is_ok(), accepted(&s));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(text.parse::<Digest>().is_ok(), accepted(&text));
    }

    #[test]
    fn near_valid_inputs_are_accepted_exactly_by_the_grammar(s in near_valid_digest()) {
        match s.parse::<Digest>() {
            Ok(d) => {
                prop_assert!(accepted(&s), "{s:?} accepted");
                prop_assert_eq!(d.as_str(), s.as_str());
            }
            Err(e) => {
                prop_assert!(!accepted(&s), "{s:?} refused: {e}");
                // The error quotes the input, bounded, so a huge input cannot flood a log.
                prop_assert!(e.digest.chars().count() <= 200);
            }
        }
    }

    #[test]
    fn valid_digests_round_trip(s in valid_digest()) {
        let d: Digest = s.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(d.to_string(), s.clone());
        let (alg, hex) = s.split_once(':').unwrap_or_default();
        prop_assert_eq!(d.algorithm().name(), alg);
        prop_assert_eq!(d.hex(), hex);
        prop_assert_eq!(d.to_string().parse::<Digest>(), Ok(d.clone()));
        let json = serde_json::to_string(&d).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).ok(), Some(d));
    }

    #[test]
    fn hex_length_is_exact_per_algorithm(
        alg in proptest::sample::select(vec![Algorithm::Sha256, Algorithm::Sha512]),
        delta in -3i64..=3,
    ) {
        let len = (alg.hex_len() as i64 + delta) as usize;
        let s = format!("{}:{}", alg.name(), "a".repeat(len));
        prop_assert_eq!(s.parse::<Digest>().is_ok(), delta == 0, "{} hex digits", len);
    }

    #[test]
    fn computed_digests_parse_back(
        alg in proptest::sample::select(vec![Algorithm::Sha256, Algorithm::Sha512]),
        data in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let d = Digest::of(alg, &data);
        prop_assert_eq!(d.hex().len(), alg.hex_len());
        prop_assert_eq!(d.as_str().parse::<Digest>(), Ok(d.clone()));
    }

    #[test]
    fn deserializing_never_panics(s in near_valid_digest()) {
        let json = serde_json::Value::String(s.clone()).to_string();
        prop_assert_eq!(serde_json::from_str::<Digest>(&json).is_ok(), accepted(&s));
    }
}
