//! Byte ranges of blob downloads (RFC 9110 §14): which bytes a `Range` header asks for, and
//! how a request with several ranges is answered.
//!
//! - Ranges that cannot be satisfied are dropped; when none is left the answer is 416. One
//!   range left is a plain single-range answer.
//! - Every other range is one part, in the order asked, even where ranges overlap or touch.
//!   RFC 9110 allows merging them, but clients do not expect it: containers/image (podman's
//!   zstd:chunked pulls) hands the n-th part to the n-th range it asked for without reading
//!   `Content-Range`, so a merged part corrupts its pull (seen with podman 4.3: files of a
//!   layer are adjacent ranges). Go's `http.ServeContent`, which the reference uses, does
//!   not merge either.
//! - Sets that look like abuse are ignored, which RFC 9110 §14.2 allows, and the whole blob is
//!   served instead (never more than a plain `GET` costs): more than [`MAX_RANGES`] ranges,
//!   more than [`MAX_OVERLAPPING`] parts overlapping others, parts adding up to more bytes than
//!   the blob, or more than [`MAX_UNORDERED`] parts not in ascending order.
//!
//! The parts are read by [`parts`], a few ahead of the one being sent.

pub(crate) mod parts;

pub use parts::{BlobParts, PartChunk};

/// Most ranges one request may name; more and the `Range` header is ignored. Lazy-pull clients
/// (zstd:chunked, eStargz) batch what they need into requests of at most a few hundred.
pub const MAX_RANGES: usize = 1024;

/// Most parts that may overlap an earlier one (RFC 9110 §14.2 names "more than two
/// overlapping ranges" as a sign of a broken client or an attack).
pub const MAX_OVERLAPPING: usize = 2;

/// Most parts a request may ask for out of ascending order ("many small ranges that are not
/// listed in ascending order" in RFC 9110 §14.2): each one out of order is a separate seek.
pub const MAX_UNORDERED: usize = 32;

/// A requested byte range (`Range: bytes=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start-` or `start-end` (inclusive).
    From { start: u64, end: Option<u64> },
    /// `-len`: the last `len` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive `(first, last)` byte positions within `size`, or `None` when the range
    /// cannot be satisfied.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => {
                if start >= size {
                    return None;
                }
                let last = end.unwrap_or(u64::MAX).min(size - 1);
                (last >= start).then_some((start, last))
            }
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(len) => (size > 0).then(|| (size.saturating_sub(len), size - 1)),
        }
    }
}

/// Why a set of ranges was ignored in favour of the whole blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    TooMany,
    Overlapping,
    MoreThanTheBlob,
    Unordered,
}

/// How a request is answered, by the ranges it names and the blob's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangePlan {
    /// The whole blob (200): no range asked for, or the set ignored for the reason given.
    Whole(Option<Ignored>),
    /// 416 with `Content-Range: bytes */size`.
    Unsatisfiable,
    /// One inclusive range: a plain 206.
    Single((u64, u64)),
    /// Several inclusive ranges, in the order to send them: a `multipart/byteranges` 206.
    Multi(Vec<(u64, u64)>),
}

/// The answer to a request for `requested` of a blob of `size` bytes.
pub fn plan(requested: &[ByteRange], size: u64) -> RangePlan {
    if requested.is_empty() {
        return RangePlan::Whole(None);
    }
    if requested.len() > MAX_RANGES {
        return RangePlan::Whole(Some(Ignored::TooMany));
    }
    let parts: Vec<(u64, u64)> = requested.iter().filter_map(|r| r.resolve(size)).collect();
    match parts.as_slice() {
        [] => return RangePlan::Unsatisfiable,
        [single] => return RangePlan::Single(*single),
        _ => {}
    }
    if let Some(reason) = abuse(&parts, size) {
        return RangePlan::Whole(Some(reason));
    }
    RangePlan::Multi(parts)
}

fn abuse(parts: &[(u64, u64)], size: u64) -> Option<Ignored> {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut overlapping = 0;
    let mut reach: Option<u64> = None;
    for &(first, last) in &sorted {
        if reach.is_some_and(|reach| first <= reach) {
            overlapping += 1;
        }
        reach = Some(reach.map_or(last, |reach| reach.max(last)));
    }
    if overlapping > MAX_OVERLAPPING {
        return Some(Ignored::Overlapping);
    }
    let total: u128 = parts
        .iter()
        .map(|&(first, last)| u128::from(last - first) + 1)
        .sum();
    if total > u128::from(size) {
        return Some(Ignored::MoreThanTheBlob);
    }
    let ascending = parts.windows(2).all(|pair| pair[0].1 < pair[1].0);
    if !ascending && parts.len() > MAX_UNORDERED {
        return Some(Ignored::Unordered);
    }
    None
}

#[cfg(test)]
mod tests;
