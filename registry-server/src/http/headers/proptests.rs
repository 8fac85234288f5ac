//! Properties of the `Range`, `Content-Range` and pagination parsers: any header value or query
//! string is answered (never a panic), what the grammar allows is read back exactly, and an
//! accepted range always resolves inside the blob.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::test::TestRequest;
use proptest::prelude::*;
use registry_core::registry::ByteRange;

use super::{blob_ranges, chunk_range, pagination, range_count, url_pairs};
use crate::http::percent;

/// A request with the given raw header values; values that are no HTTP header value at all
/// (control characters) cannot reach a handler and are left out.
fn request(headers: &[(HeaderName, Vec<u8>)], query: &str) -> HttpRequest {
    let mut req = TestRequest::with_uri(&format!("/v2/x/tags/list?{query}"));
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            req = req.insert_header((name.clone(), value));
        }
    }
    req.to_http_request()
}

fn range_request(value: &[u8]) -> HttpRequest {
    request(&[(header::RANGE, value.to_vec())], "")
}

fn chunk_request(range: &str, length: Option<u64>) -> HttpRequest {
    let mut headers = vec![(header::CONTENT_RANGE, range.as_bytes().to_vec())];
    if let Some(length) = length {
        headers.push((header::CONTENT_LENGTH, length.to_string().into_bytes()));
    }
    request(&headers, "")
}

fn byte_range() -> impl Strategy<Value = ByteRange> {
    let number = prop_oneof![0u64..100, any::<u64>()];
    prop_oneof![
        (number.clone(), proptest::option::of(number.clone()))
            .prop_map(|(start, end)| ByteRange::From { start, end }),
        number.prop_map(ByteRange::Suffix),
    ]
}

fn spelled(range: ByteRange) -> String {
    match range {
        ByteRange::From { start, end: None } => format!("bytes={start}-"),
        ByteRange::From {
            start,
            end: Some(end),
        } => format!("bytes={start}-{end}"),
        ByteRange::Suffix(len) => format!("bytes=-{len}"),
    }
}

fn spelled_all(ranges: &[ByteRange]) -> String {
    let specs: Vec<String> = ranges
        .iter()
        .map(|r| spelled(*r)["bytes=".len()..].to_owned())
        .collect();
    format!("bytes={}", specs.join(","))
}

/// Range-like header values: the pieces of the grammar and what commonly goes wrong.
fn near_valid_range() -> impl Strategy<Value = String> {
    let token = proptest::sample::select(vec![
        "bytes=",
        "bytes ",
        "items=",
        "0",
        "1",
        "9",
        "42",
        "-",
        "--",
        ",",
        " ",
        "\t",
        "+",
        "/",
        "*",
        "18446744073709551615",
        "18446744073709551616",
        "a",
        "é",
    ]);
    proptest::collection::vec(token, 0..8).prop_map(|t| t.concat())
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_range_value_is_answered(value in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = blob_ranges(&range_request(&value));
        let _ = range_count(&range_request(&value));
        let _ = chunk_range(&request(
            &[(header::CONTENT_RANGE, value.clone()), (header::CONTENT_LENGTH, value)],
            "",
        ));
    }

    #[test]
    fn near_valid_ranges_are_read_back_or_refused(value in near_valid_range()) {
        let req = range_request(value.as_bytes());
        if let Ok(ranges) = blob_ranges(&req) {
            // Whatever was accepted means what its canonical spelling means.
            prop_assert!(!ranges.is_empty());
            prop_assert_eq!(blob_ranges(&range_request(spelled_all(&ranges).as_bytes())).ok(), Some(ranges.clone()));
            prop_assert!(value.contains('-'), "{:?}", value);
            prop_assert_eq!(range_count(&req), ranges.len());
        }
    }

    #[test]
    fn ranges_round_trip(range in byte_range(), spaces in proptest::sample::select(vec!["", " ", "  "])) {
        let text = spelled(range);
        prop_assert_eq!(blob_ranges(&range_request(text.as_bytes())).ok(), Some(vec![range]));
        let padded = format!("{spaces}{text}{spaces}");
        prop_assert_eq!(blob_ranges(&range_request(padded.as_bytes())).ok(), Some(vec![range]));
    }

    #[test]
    fn several_ranges_round_trip(
        ranges in proptest::collection::vec(byte_range(), 1..40),
        separator in proptest::sample::select(vec![",", ", ", " , ", ",,"]),
    ) {
        let specs: Vec<String> = ranges.iter().map(|r| spelled(*r)["bytes=".len()..].to_owned()).collect();
        let text = format!("bytes={}", specs.join(separator));
        let req = range_request(text.as_bytes());
        prop_assert_eq!(blob_ranges(&req).ok(), Some(ranges.clone()));
        prop_assert_eq!(range_count(&req), ranges.len());
    }

    #[test]
    fn a_resolved_range_lies_inside_the_blob(range in byte_range(), size in prop_oneof![0u64..200, any::<u64>()]) {
        match range.resolve(size) {
            Some((first, last)) => {
                prop_assert!(first <= last && last < size, "{:?} of {} gave {}-{}", range, size, first, last);
                match range {
                    ByteRange::From { start, end } => {
                        prop_assert_eq!(first, start);
                        prop_assert_eq!(last, end.unwrap_or(u64::MAX).min(size - 1));
                    }
                    ByteRange::Suffix(len) => prop_assert_eq!(last - first + 1, len.min(size)),
                }
            }
            None => match range {
                // Unsatisfiable: starts at or past the end, ends before it starts, or asks for
                // nothing of an empty or any blob.
                ByteRange::From { start, end } => {
                    prop_assert!(start >= size || end.is_some_and(|end| end < start));
                }
                ByteRange::Suffix(len) => prop_assert!(len == 0 || size == 0),
            },
        }
    }

    #[test]
    fn chunk_ranges_round_trip(
        start in prop_oneof![0u64..1000, any::<u64>()],
        span in prop_oneof![1u64..1000, any::<u64>()],
        prefix in proptest::sample::select(vec!["", "bytes ", "bytes="]),
        suffix in proptest::sample::select(vec!["", "/*", "/123"]),
        with_length in any::<bool>(),
    ) {
        let end = start.saturating_add(span - 1);
        let length = end - start + 1;
        let text = format!("{prefix}{start}-{end}{suffix}");
        let req = chunk_request(&text, with_length.then_some(length));
        prop_assert_eq!(chunk_range(&req).ok(), Some(Some((start, end))));
        // Any other Content-Length is a mismatch.
        let wrong = chunk_request(&text, Some(length.wrapping_add(1)));
        prop_assert!(chunk_range(&wrong).is_err());
    }

    #[test]
    fn backwards_chunk_ranges_are_refused(start in 1u64.., back in 1u64..) {
        let end = start.saturating_sub(back);
        let req = chunk_request(&format!("{start}-{end}"), None);
        prop_assert!(chunk_range(&req).is_err());
    }

    #[test]
    fn accepted_chunk_ranges_are_ordered_and_match_their_length(
        value in near_valid_range(),
        length in proptest::option::of(0u64..50),
    ) {
        if let Ok(Some((start, end))) = chunk_range(&chunk_request(&value, length)) {
            prop_assert!(start <= end);
            if let Some(length) = length {
                prop_assert_eq!(end - start + 1, length);
            }
        }
    }

    #[test]
    fn counts_parse_exactly(n in prop_oneof![
        any::<usize>().prop_map(|n| n.to_string()),
        "[0-9]{0,25}",
        "[-+ a0-9%]{0,6}",
    ]) {
        let encoded = percent::encode_query_value(&n);
        let parsed = pagination(&request(&[], &format!("n={encoded}&last=a")));
        match parsed {
            Ok((count, last)) => {
                prop_assert_eq!(last.as_deref(), Some("a"));
                match count {
                    None => prop_assert!(n.is_empty()),
                    Some(count) => {
                        // Rust's integer parsing allows one leading `+`, as Go's Atoi does.
                        let digits = n.strip_prefix('+').unwrap_or(&n);
                        prop_assert!(is_digits(digits), "{:?} read as {}", n, count);
                        prop_assert_eq!(digits.trim_start_matches('0').parse::<usize>().unwrap_or(0), count);
                    }
                }
            }
            // Refused: anything but (one optional `+` and) digits, or a number too large.
            Err(_) => prop_assert!(
                !n.is_empty() && n.parse::<usize>().is_err()
            ),
        }
    }

    #[test]
    fn last_survives_percent_encoding(last in any::<String>()) {
        let query = format!("last={}&n=1", percent::encode_query_value(&last));
        let (n, parsed) = pagination(&request(&[], &query))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(n, Some(1));
        prop_assert_eq!(parsed, Some(last).filter(|l| !l.is_empty()));
    }

    #[test]
    fn any_query_string_is_split_without_panicking(query in any::<String>()) {
        for (key, value) in url_pairs(&query) {
            prop_assert!(key.len() + value.len() <= query.len() * 3);
        }
    }
}
