//! A strict reader of `206` answers for the multi-range tests: `multipart/byteranges` bodies
//! (RFC 9110 §14.6) or a single range, each part checked against the blob byte for byte.

use reqwest::{Response, StatusCode};

/// One part of a ranged answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub first: u64,
    pub last: u64,
    pub size: u64,
    pub bytes: Vec<u8>,
}

/// `Content-Range: bytes first-last/size`.
fn content_range(value: &str) -> (u64, u64, u64) {
    let spec = value
        .strip_prefix("bytes ")
        .unwrap_or_else(|| panic!("Content-Range {value:?} is not in bytes"));
    let (range, size) = spec.split_once('/').expect("Content-Range has a size");
    let (first, last) = range.split_once('-').expect("Content-Range has a range");
    (
        first.parse().expect("first byte"),
        last.parse().expect("last byte"),
        size.parse().expect("size"),
    )
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The parts of a `multipart/byteranges` body with the given boundary, in order.
pub fn parse_multipart(boundary: &str, body: &[u8]) -> Vec<Part> {
    let delimiter = format!("--{boundary}").into_bytes();
    let mut at = find(body, &delimiter, 0).expect("a first boundary");
    assert!(
        body[..at].iter().all(|b| b.is_ascii_whitespace()),
        "junk before the first boundary"
    );
    let mut parts = Vec::new();
    loop {
        at += delimiter.len();
        if body[at..].starts_with(b"--") {
            let rest = &body[at + 2..];
            assert!(
                rest == b"\r\n" || rest.is_empty(),
                "bytes after the closing boundary: {:?}",
                String::from_utf8_lossy(rest)
            );
            return parts;
        }
        assert!(body[at..].starts_with(b"\r\n"), "CRLF after a boundary");
        at += 2;
        let head_end = find(body, b"\r\n\r\n", at).expect("end of part headers");
        let head = std::str::from_utf8(&body[at..head_end]).expect("ASCII part headers");
        let mut range = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let (name, value) = line.split_once(':').expect("header line");
            match name.trim().to_ascii_lowercase().as_str() {
                "content-range" => range = Some(content_range(value.trim())),
                "content-type" => content_type = Some(value.trim().to_owned()),
                _ => {}
            }
        }
        assert_eq!(
            content_type.as_deref(),
            Some("application/octet-stream"),
            "part Content-Type"
        );
        let (first, last, size) = range.expect("part Content-Range");
        let start = head_end + 4;
        let end = start + (last - first + 1) as usize;
        assert!(end <= body.len(), "part runs past the body");
        let next = format!("\r\n--{boundary}").into_bytes();
        assert!(
            body[end..].starts_with(&next),
            "part {first}-{last} is not followed by a boundary"
        );
        parts.push(Part {
            first,
            last,
            size,
            bytes: body[start..end].to_vec(),
        });
        at = end + 2;
    }
}

/// A 206 answer's parts, single-range or multipart; checks the status, `Content-Length` and
/// every part's bytes against `blob`.
pub async fn ranged_parts(response: Response, blob: &[u8]) -> Vec<Part> {
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header("content-type").expect("Content-Type");
    let length = header("content-length");
    let single_range = header("content-range");
    let body = response.bytes().await.expect("body").to_vec();
    if let Some(length) = length {
        assert_eq!(
            length.parse::<usize>().unwrap(),
            body.len(),
            "Content-Length"
        );
    }
    let parts = match content_type.strip_prefix("multipart/byteranges; boundary=") {
        Some(boundary) => {
            assert!(
                single_range.is_none(),
                "Content-Range on a multipart answer"
            );
            parse_multipart(boundary, &body)
        }
        None => {
            assert_eq!(content_type, "application/octet-stream");
            let (first, last, size) = content_range(&single_range.expect("Content-Range"));
            vec![Part {
                first,
                last,
                size,
                bytes: body,
            }]
        }
    };
    for part in &parts {
        assert_eq!(part.size, blob.len() as u64, "size in Content-Range");
        assert_eq!(
            part.bytes,
            &blob[part.first as usize..=part.last as usize],
            "bytes of part {}-{}",
            part.first,
            part.last
        );
    }
    parts
}

/// The (first, last) of each part.
pub fn spans(parts: &[Part]) -> Vec<(u64, u64)> {
    parts.iter().map(|p| (p.first, p.last)).collect()
}
