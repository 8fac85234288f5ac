//! Parsing the request headers and query parameters the API defines.

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderMap};
use registry_core::registry::ByteRange;

use super::errors::ApiError;
use super::percent;

/// Whether a request announces a body (a length above zero, or chunked framing).
pub fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0")
}

/// `Range: bytes=<range>, <range>, ...`, each `<start>-[<end>]` or `-<suffix>`; empty when
/// there is no `Range`. Empty list elements are skipped, as RFC 9110 §5.6.1 asks; anything
/// else that is not a byte range refuses the whole header. How many ranges are served is for
/// the registry to decide ([`registry_core::registry::ranges`]).
pub fn blob_ranges(req: &HttpRequest) -> Result<Vec<ByteRange>, ApiError> {
    let Some(value) = req.headers().get(header::RANGE) else {
        return Ok(Vec::new());
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRange("not ASCII".into()))?;
    let spec = text
        .trim()
        .strip_prefix("bytes=")
        .ok_or_else(|| ApiError::BadRange(format!("{text:?} is not a byte range")))?;
    let ranges = spec
        .split(',')
        .map(str::trim)
        .filter(|element| !element.is_empty())
        .map(|element| byte_range(element, text))
        .collect::<Result<Vec<_>, _>>()?;
    if ranges.is_empty() {
        return Err(ApiError::BadRange(format!("{text:?} is empty")));
    }
    Ok(ranges)
}

/// The number of ranges in a `Range` header, without reading them: 0 without one (or with one
/// that is not a byte range).
pub fn range_count(req: &HttpRequest) -> usize {
    let Some(value) = req.headers().get(header::RANGE) else {
        return 0;
    };
    let Some(spec) = value.as_bytes().trim_ascii().strip_prefix(b"bytes=") else {
        return 0;
    };
    spec.split(|&b| b == b',')
        .filter(|element| !element.trim_ascii().is_empty())
        .count()
}

/// One `<start>-[<end>]` or `-<suffix>` of the header `text`.
fn byte_range(element: &str, text: &str) -> Result<ByteRange, ApiError> {
    let (start, end) = element
        .split_once('-')
        .ok_or_else(|| ApiError::BadRange(format!("{text:?} has a range without '-'")))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| ApiError::BadRange(format!("{text:?} is malformed")))
    };
    match (start.trim().is_empty(), end.trim().is_empty()) {
        (true, true) => Err(ApiError::BadRange(format!("{text:?} has an empty range"))),
        (true, false) => Ok(ByteRange::Suffix(number(end)?)),
        (false, true) => Ok(ByteRange::From {
            start: number(start)?,
            end: None,
        }),
        (false, false) => Ok(ByteRange::From {
            start: number(start)?,
            end: Some(number(end)?),
        }),
    }
}

/// A chunk's `Content-Range: <start>-<end>` (inclusive), checked against `Content-Length`.
pub fn chunk_range(req: &HttpRequest) -> Result<Option<(u64, u64)>, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_RANGE) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRange("not ASCII".into()))?;
    let spec = text.trim();
    let spec = spec
        .strip_prefix("bytes ")
        .or_else(|| spec.strip_prefix("bytes="))
        .unwrap_or(spec);
    let spec = spec.split('/').next().unwrap_or(spec);
    let parsed = spec
        .split_once('-')
        .and_then(|(s, e)| Some((s.trim().parse::<u64>().ok()?, e.trim().parse::<u64>().ok()?)))
        .filter(|(start, end)| end >= start);
    let (start, end) =
        parsed.ok_or_else(|| ApiError::BadRange(format!("{text:?} is malformed")))?;
    // `0-18446744073709551615` spans one byte more than a u64 counts: no body matches it.
    let span = (end - start).checked_add(1);
    if let Some(length) = content_length(req)
        && span != Some(length)
    {
        return Err(ApiError::BadRange(format!(
            "{text:?} does not match Content-Length {length}"
        )));
    }
    Ok(Some((start, end)))
}

pub fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn content_type(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE)?.to_str().ok()
}

/// A query parameter, percent-decoded.
pub fn query_param(req: &HttpRequest, key: &str) -> Option<String> {
    url_pairs(req.query_string())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent::decode(k), percent::decode(v))
    })
}

/// `n` and `last` of list endpoints.
pub fn pagination(req: &HttpRequest) -> Result<(Option<usize>, Option<String>), ApiError> {
    let n = match query_param(req, "n") {
        None => None,
        Some(text) if text.is_empty() => None,
        Some(text) => Some(
            text.parse::<usize>()
                .map_err(|_| ApiError::Pagination(format!("n={text:?} is not a count")))?,
        ),
    };
    let last = query_param(req, "last").filter(|l| !l.is_empty());
    Ok((n, last))
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn parses_blob_ranges() {
        let request = |v: &str| {
            TestRequest::default()
                .insert_header((header::RANGE, v))
                .to_http_request()
        };
        let range = |v: &str| blob_ranges(&request(v));
        let from = |start, end| ByteRange::From { start, end };
        assert_eq!(range("bytes=0-9").unwrap(), vec![from(0, Some(9))]);
        assert_eq!(range("bytes=5-").unwrap(), vec![from(5, None)]);
        assert_eq!(range("bytes=-5").unwrap(), vec![ByteRange::Suffix(5)]);
        assert_eq!(
            range("bytes=0-1, 5-6 ,,-3,100-").unwrap(),
            vec![
                from(0, Some(1)),
                from(5, Some(6)),
                ByteRange::Suffix(3),
                from(100, None)
            ]
        );
        assert_eq!(range_count(&request("bytes=0-1, 5-6 ,,-3,100-")), 4);
        assert_eq!(range_count(&TestRequest::default().to_http_request()), 0);
        for bad in [
            "bytes=",
            "bytes=,",
            "bytes=a-b",
            "items=0-1",
            "bytes=0-1,x",
            "bytes=0-1,-",
            "bytes=-",
        ] {
            assert!(range(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_chunk_ranges() {
        let req = TestRequest::default()
            .insert_header((header::CONTENT_RANGE, "10-19"))
            .insert_header((header::CONTENT_LENGTH, "10"))
            .to_http_request();
        assert_eq!(chunk_range(&req).unwrap(), Some((10, 19)));
        let mismatch = TestRequest::default()
            .insert_header((header::CONTENT_RANGE, "10-19"))
            .insert_header((header::CONTENT_LENGTH, "5"))
            .to_http_request();
        assert!(chunk_range(&mismatch).is_err());
        let everything = TestRequest::default()
            .insert_header((header::CONTENT_RANGE, format!("0-{}", u64::MAX)))
            .insert_header((header::CONTENT_LENGTH, "0"))
            .to_http_request();
        assert!(chunk_range(&everything).is_err());
        let backwards = TestRequest::default()
            .insert_header((header::CONTENT_RANGE, "19-10"))
            .to_http_request();
        assert!(chunk_range(&backwards).is_err());
    }

    #[test]
    fn decodes_query_values() {
        let req = TestRequest::with_uri("/x?digest=sha256%3Aab&n=5&last=a%2Fb").to_http_request();
        assert_eq!(query_param(&req, "digest").as_deref(), Some("sha256:ab"));
        assert_eq!(query_param(&req, "last").as_deref(), Some("a/b"));
        let req = TestRequest::with_uri("/x?artifactType=application/spdx+json&b=a%2Bb")
            .to_http_request();
        assert_eq!(
            query_param(&req, "artifactType").as_deref(),
            Some("application/spdx+json")
        );
        assert_eq!(query_param(&req, "b").as_deref(), Some("a+b"));
    }
}
