//! Properties of repository-name parsing, against the OCI grammar written as a state machine
//! (independent of the implementation's run-splitting):
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 bytes.

use proptest::prelude::*;

use super::{MAX_NAME_LEN, RepositoryName};

/// The oracle: a DFA over the grammar.
fn accepted(s: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        /// A component must start (beginning, or after `/`).
        Start,
        InAlnum,
        AfterDot,
        AfterUnderscore,
        AfterTwoUnderscores,
        InDashes,
    }
    use State::*;
    if s.is_empty() || s.len() > MAX_NAME_LEN {
        return false;
    }
    let mut state = Start;
    for b in s.bytes() {
        let alnum = b.is_ascii_lowercase() || b.is_ascii_digit();
        state = match (state, b) {
            (_, _) if alnum => InAlnum,
            (InAlnum, b'.') => AfterDot,
            (InAlnum, b'_') => AfterUnderscore,
            (AfterUnderscore, b'_') => AfterTwoUnderscores,
            (InAlnum | InDashes, b'-') => InDashes,
            (InAlnum, b'/') => Start,
            _ => return false,
        };
    }
    state == InAlnum
}

/// One component built from the grammar's pieces.
fn component() -> impl Strategy<Value = String> {
    let alnum = "[a-z0-9]{1,6}";
    let separator = prop_oneof![
        Just(".".to_owned()),
        Just("_".to_owned()),
        Just("__".to_owned()),
        (1usize..4).prop_map(|n| "-".repeat(n)),
    ];
    (alnum, proptest::collection::vec((separator, alnum), 0..3)).prop_map(|(first, rest)| {
        let mut c = first;
        for (sep, run) in rest {
            c.push_str(&sep);
            c.push_str(&run);
        }
        c
    })
}

/// A valid name of 1 to 5 components (possibly longer than the limit: callers filter).
fn grammatical_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(component(), 1..6).prop_map(|parts| parts.join("/"))
}

/// Names assembled from grammatical and ungrammatical tokens: separators doubled, at the ends,
/// path tricks, uppercase, escapes, non-ASCII.
fn near_valid_name() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(vec![
        "a",
        "z",
        "0",
        "9",
        "ab",
        ".",
        "_",
        "__",
        "___",
        "-",
        "--",
        "/",
        "//",
        "..",
        "A",
        " ",
        "%2e",
        "%2F",
        "é",
        "\0",
        ":",
        "_manifests",
        "~",
    ]);
    proptest::collection::vec(token, 1..12).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_text_never_panics_and_matches_the_grammar(s in any::<String>()) {
        prop_assert_eq!(s.parse::<RepositoryName>().is_ok(), accepted(&s));
    }

    #[test]
    fn near_valid_names_are_accepted_exactly_by_the_grammar(s in near_valid_name()) {
        prop_assert_eq!(s.parse::<RepositoryName>().is_ok(), accepted(&s), "{:?}", s);
    }

    #[test]
    fn grammatical_names_are_accepted_and_round_trip(s in grammatical_name()) {
        let parsed = s.parse::<RepositoryName>();
        prop_assert_eq!(parsed.is_ok(), s.len() <= MAX_NAME_LEN);
        if let Ok(name) = parsed {
            prop_assert_eq!(name.as_str(), s.as_str());
            prop_assert_eq!(name.to_string().parse::<RepositoryName>(), Ok(name));
        }
    }

    #[test]
    fn the_length_limit_is_255_bytes(s in grammatical_name(), extra in 0usize..3) {
        // Pad the last component with alphanumerics to exactly 254, 255 or 256 bytes.
        let target = MAX_NAME_LEN - 1 + extra;
        prop_assume!(s.len() <= target);
        let padded = format!("{s}{}", "x".repeat(target - s.len()));
        prop_assert_eq!(padded.parse::<RepositoryName>().is_ok(), target <= MAX_NAME_LEN);
    }

    #[test]
    fn no_accepted_name_can_leave_its_directory(s in near_valid_name()) {
        if let Ok(name) = s.parse::<RepositoryName>() {
            for part in name.as_str().split('/') {
                prop_assert!(!part.is_empty() && part != "." && part != "..");
                prop_assert!(!part.starts_with('_'), "{:?} would collide with _layers etc.", part);
            }
        }
    }
}
