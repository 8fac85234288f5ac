//! Blob GETs with several ranges (RFC 9110 §14): 206 `multipart/byteranges` with one part per
//! range in the order asked (overlapping and adjacent ones too), each compared byte for byte
//! with the blob; unsatisfiable ranges dropped, 416 only when none is left; abusive sets
//! answered with the whole blob; the counters; and with redirects on, multi-range GETs served
//! by the registry while single ranges keep redirecting. On every driver.

mod common;

use common::multipart::{Part, ranged_parts, spans};
use common::*;
use registry_core::registry::ranges::{MAX_RANGES, MAX_UNORDERED};
use reqwest::header::{ACCEPT_RANGES, CONTENT_RANGE, RANGE};
use reqwest::{Method, StatusCode};

driver_tests!(
    two_ranges,
    many_scattered_ranges,
    overlapping_and_adjacent_ranges,
    unsatisfiable_ranges_among_valid_ones_are_dropped,
    all_ranges_unsatisfiable_is_416,
    suffix_and_open_ranges,
    abusive_range_sets_get_the_whole_blob,
    head_advertises_ranges,
    counters_count_multi_range_answers,
    multi_range_gets_are_not_redirected,
    multi_range_redirects_when_configured,
);

const SIZE: usize = 100_000;

/// A server holding one blob of `len` bytes: (server, blob path, content).
async fn with_blob(driver: Driver, options: Options, len: usize) -> (TestServer, String, Vec<u8>) {
    let s = TestServer::start_with(driver, options).await;
    let data = bytes(len as u64 + 7, len);
    let digest = s.push_blob("parts", &data).await;
    (s, format!("/v2/parts/blobs/{digest}"), data)
}

async fn get_ranges(s: &TestServer, path: &str, range: &str) -> reqwest::Response {
    s.send(s.request(Method::GET, path).header(RANGE, range))
        .await
}

/// The parts of a 206 answer to `range`, each already compared with `data`.
async fn parts_of(s: &TestServer, path: &str, data: &[u8], range: &str) -> Vec<Part> {
    ranged_parts(get_ranges(s, path, range).await, data).await
}

fn multipart(response: &reqwest::Response) -> bool {
    header(response, "Content-Type")
        .is_some_and(|t| t.starts_with("multipart/byteranges; boundary="))
}

async fn two_ranges(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    let response = get_ranges(&s, &path, "bytes=0-99,5000-5999").await;
    assert!(multipart(&response), "two ranges answer multipart");
    let parts = ranged_parts(response, &data).await;
    assert_eq!(spans(&parts), [(0, 99), (5000, 5999)]);
    // Parts in the order asked, not sorted.
    let parts = parts_of(&s, &path, &data, "bytes=70000-70999, 10-19").await;
    assert_eq!(spans(&parts), [(70000, 70999), (10, 19)]);
    s.stop().await;
}

async fn many_scattered_ranges(driver: Driver) {
    let len = 2 * 1024 * 1024;
    let (s, path, data) = with_blob(driver, Options::default(), len).await;
    // 300 ranges of varied sizes spread over the blob, ascending, none touching.
    let expected: Vec<(u64, u64)> = (0..300u64)
        .map(|i| {
            let first = i * 6900 + (i % 7) * 13;
            (first, first + 16 + (i * 37) % 4000)
        })
        .collect();
    let header = format!(
        "bytes={}",
        expected
            .iter()
            .map(|(a, b)| format!("{a}-{b}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let parts = parts_of(&s, &path, &data, &header).await;
    assert_eq!(spans(&parts), expected);
    // Right at the cap is still served.
    let at_cap: Vec<String> = (0..MAX_RANGES as u64)
        .map(|i| format!("{}-{}", i * 2000, i * 2000 + 9))
        .collect();
    let parts = parts_of(&s, &path, &data, &format!("bytes={}", at_cap.join(","))).await;
    assert_eq!(parts.len(), MAX_RANGES);
    s.stop().await;
}

async fn overlapping_and_adjacent_ranges(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    // One part per range, as asked: clients map parts to ranges by position.
    let parts = parts_of(&s, &path, &data, "bytes=0-9,10-19").await;
    assert_eq!(spans(&parts), [(0, 9), (10, 19)]);
    let parts = parts_of(&s, &path, &data, "bytes=0-99,50-149,1000-1099,1100-1199").await;
    assert_eq!(
        spans(&parts),
        [(0, 99), (50, 149), (1000, 1099), (1100, 1199)]
    );
    let parts = parts_of(&s, &path, &data, "bytes=5-9,5-9").await;
    assert_eq!(spans(&parts), [(5, 9), (5, 9)]);
    s.stop().await;
}

async fn unsatisfiable_ranges_among_valid_ones_are_dropped(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    let parts = parts_of(
        &s,
        &path,
        &data,
        "bytes=0-9,200000-200010,500-599,100000-,99990-100020",
    )
    .await;
    assert_eq!(spans(&parts), [(0, 9), (500, 599), (99990, 99999)]);
    s.stop().await;
}

async fn all_ranges_unsatisfiable_is_416(driver: Driver) {
    let (s, path, _) = with_blob(driver, Options::default(), SIZE).await;
    for range in [
        "bytes=200000-,300000-300010",
        "bytes=100000-100001, -0, 7-3",
    ] {
        let response = get_ranges(&s, &path, range).await;
        assert_eq!(
            header(&response, "Content-Range").as_deref(),
            Some("bytes */100000"),
            "{range}"
        );
        assert_error(response, StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID").await;
    }
    // Unknown content stays 404, whatever the ranges.
    let unknown = format!(
        "/v2/parts/blobs/{}",
        registry_core::domain::Digest::sha256_of(b"x")
    );
    let response = get_ranges(&s, &unknown, "bytes=0-1,5-6").await;
    assert_error(response, StatusCode::NOT_FOUND, "BLOB_UNKNOWN").await;
    s.stop().await;
}

async fn suffix_and_open_ranges(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    let parts = parts_of(&s, &path, &data, "bytes=-500,100-199,99000-").await;
    assert_eq!(spans(&parts), [(99500, 99999), (100, 199), (99000, 99999)]);
    // A suffix longer than the blob is all of it.
    let parts = parts_of(&s, &path, &data, "bytes=-200000,400000-").await;
    assert_eq!(spans(&parts), [(0, 99999)]);
    s.stop().await;
}

async fn abusive_range_sets_get_the_whole_blob(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    let too_many: Vec<String> = (0..=MAX_RANGES as u64)
        .map(|i| format!("{}-{}", i * 50, i * 50 + 1))
        .collect();
    let overlapping = "bytes=0-5000,6000-7000,100-200,8000-9000,300-400,10-20".to_owned();
    let more_than_the_blob = "bytes=0-80000,90000-95000,10-70000".to_owned();
    let unordered: Vec<String> = (0..=MAX_UNORDERED as u64)
        .rev()
        .map(|i| format!("{}-{}", i * 100, i * 100 + 9))
        .collect();
    for range in [
        format!("bytes={}", too_many.join(",")),
        overlapping,
        more_than_the_blob,
        format!("bytes={}", unordered.join(",")),
    ] {
        let response = get_ranges(&s, &path, &range).await;
        assert_eq!(response.status(), StatusCode::OK, "{range}");
        assert!(header(&response, "Content-Range").is_none());
        assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    }
    s.stop().await;
}

async fn head_advertises_ranges(driver: Driver) {
    let (s, path, _) = with_blob(driver, Options::default(), SIZE).await;
    let response = s.head(&path).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get(ACCEPT_RANGES)
            .and_then(|v| v.to_str().ok()),
        Some("bytes")
    );
    // HEAD ignores ranges.
    let response = s
        .send(
            s.request(Method::HEAD, &path)
                .header(RANGE, "bytes=0-1,5-6"),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get(CONTENT_RANGE).is_none());
    s.stop().await;
}

/// `registry_blob_multirange_{requests,ranges,bytes}_total`.
async fn multi_range_counters(s: &TestServer) -> [u64; 3] {
    let text = s.metrics().await;
    let counter = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
    };
    [
        counter("registry_blob_multirange_requests_total "),
        counter("registry_blob_multirange_ranges_total "),
        counter("registry_blob_multirange_bytes_total "),
    ]
}

async fn counters_count_multi_range_answers(driver: Driver) {
    let (s, path, data) = with_blob(driver, Options::default(), SIZE).await;
    assert_eq!(multi_range_counters(&s).await, [0, 0, 0]);
    parts_of(&s, &path, &data, "bytes=0-99,5000-5999,-10").await;
    // A single range is no multi-range answer.
    parts_of(&s, &path, &data, "bytes=0-99").await;
    assert_eq!(multi_range_counters(&s).await, [1, 3, 1110]);
    let (served, _) = s.blob_counters().await;
    assert_eq!(served, 1110 + 100);
    s.stop().await;
}

fn redirects(extra: &str) -> Options {
    Options {
        redirect: Some(format!("    expiry: 5m\n{extra}")),
        ..Options::default()
    }
}

/// Object stores do not answer multi-range GETs: with redirects on, the registry serves them
/// itself on every driver, and single ranges keep going to the presigned URL.
async fn multi_range_gets_are_not_redirected(driver: Driver) {
    let (s, path, data) = with_blob(driver, redirects(""), SIZE).await;
    let parts = parts_of(&s, &path, &data, "bytes=10-19,40000-40999,-5").await;
    assert_eq!(spans(&parts), [(10, 19), (40000, 40999), (99995, 99999)]);
    let single = get_ranges(&s, &path, "bytes=10-19").await;
    let plain = s.get(&path).await;
    if driver.presigns() {
        assert_eq!(single.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(plain.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(s.blob_counters().await, (1015, 2));
    } else {
        assert_eq!(single.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(plain.status(), StatusCode::OK);
    }
    s.stop().await;
}

async fn multi_range_redirects_when_configured(driver: Driver) {
    let (s, path, data) = with_blob(driver, redirects("    multirange: redirect\n"), SIZE).await;
    let response = get_ranges(&s, &path, "bytes=10-19,40000-40999").await;
    if driver.presigns() {
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(s.blob_counters().await, (0, 1));
    } else {
        let parts = ranged_parts(response, &data).await;
        assert_eq!(spans(&parts), [(10, 19), (40000, 40999)]);
    }
    s.stop().await;
}
