//! Server-side copies: CopyObject for small objects, parallel UploadPartCopy for large ones
//! (CopyObject is limited to 5 GiB and copies on one connection).

use futures::{StreamExt, TryStreamExt};

use crate::bucket::{Bucket, PartRecord};
use crate::config::{MAX_PART_SIZE, MIN_PART_SIZE};
use crate::error::S3Error;

/// How a server-side copy is split and run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CopySettings {
    pub threshold: u64,
    pub chunk_size: u64,
    pub max_concurrency: usize,
}

/// Copies the `size`-byte object at `source` to `dest`, replacing `dest`.
pub(crate) async fn copy_object(
    bucket: &Bucket,
    source: &str,
    dest: &str,
    size: u64,
    settings: CopySettings,
) -> Result<(), S3Error> {
    if size <= settings.threshold {
        return bucket.copy(source, dest).await;
    }
    let upload_id = bucket.create_upload(dest).await?;
    let ranges = part_ranges(size, settings.chunk_size, true);
    let copied = copy_parts(bucket, dest, &upload_id, source, &ranges, 1, settings).await;
    let completed = match copied {
        Ok(parts) => bucket.complete_upload(dest, &upload_id, &parts).await,
        Err(e) => Err(e),
    };
    if let Err(e) = completed {
        if let Err(abort) = bucket.abort_upload(dest, &upload_id).await {
            tracing::warn!(%dest, error = %abort, "aborting a failed multipart copy");
        }
        return Err(e);
    }
    Ok(())
}

/// Copies byte ranges of `source` as parts `first_number..` of the upload `upload_id` to
/// `dest`, at most `settings.max_concurrency` at a time; the records come back in part order.
pub(crate) async fn copy_parts(
    bucket: &Bucket,
    dest: &str,
    upload_id: &str,
    source: &str,
    ranges: &[(u64, u64)],
    first_number: i32,
    settings: CopySettings,
) -> Result<Vec<PartRecord>, S3Error> {
    // Owned items: a closure over borrowed ones is not general enough for `async_trait`.
    let numbered: Vec<((u64, u64), i32)> = ranges.iter().copied().zip(first_number..).collect();
    let mut parts: Vec<PartRecord> = futures::stream::iter(numbered)
        .map(|((start, end), number)| {
            bucket.upload_part_copy(dest, upload_id, number, source, start, end)
        })
        .buffer_unordered(settings.max_concurrency.max(1))
        .try_collect()
        .await?;
    parts.sort_by_key(|p| p.number);
    Ok(parts)
}

/// Splits `size` bytes into ranges of `chunk` bytes. Every range but the last is at least
/// S3's minimum part size; unless `last_may_be_small`, the last is too (it is then merged into
/// the one before, and `size` must be at least the minimum). No range exceeds S3's maximum.
pub(crate) fn part_ranges(size: u64, chunk: u64, last_may_be_small: bool) -> Vec<(u64, u64)> {
    let chunk = chunk.clamp(MIN_PART_SIZE, MAX_PART_SIZE);
    let mut ranges: Vec<(u64, u64)> = (0..size.div_ceil(chunk))
        .map(|i| (i * chunk, ((i + 1) * chunk).min(size)))
        .collect();
    let last_too_small = ranges
        .last()
        .is_some_and(|&(start, end)| end - start < MIN_PART_SIZE);
    if !last_may_be_small && last_too_small && ranges.len() > 1 {
        let (_, end) = ranges.pop().unwrap_or_default();
        let (start, _) = ranges.pop().unwrap_or_default();
        if end - start <= MAX_PART_SIZE {
            ranges.push((start, end));
        } else {
            // Only with a chunk near the 5 GiB maximum: two halves, each well above the minimum.
            let middle = start + (end - start) / 2;
            ranges.push((start, middle));
            ranges.push((middle, end));
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn check(ranges: &[(u64, u64)], size: u64) {
        let mut at = 0;
        for &(start, end) in ranges {
            assert_eq!(start, at);
            assert!(end > start && end - start <= MAX_PART_SIZE);
            at = end;
        }
        assert_eq!(at, size);
    }

    #[test]
    fn ranges_cover_the_object() {
        let r = part_ranges(12 * MIB, 5 * MIB, true);
        assert_eq!(
            r,
            vec![(0, 5 * MIB), (5 * MIB, 10 * MIB), (10 * MIB, 12 * MIB)]
        );
        let r = part_ranges(12 * MIB, 5 * MIB, false);
        assert_eq!(r, vec![(0, 5 * MIB), (5 * MIB, 12 * MIB)]);
        check(&r, 12 * MIB);
        let r = part_ranges(5 * MIB, 32 * MIB, false);
        assert_eq!(r, vec![(0, 5 * MIB)]);
        let big = MAX_PART_SIZE + 3 * MIB;
        let r = part_ranges(big, MAX_PART_SIZE, false);
        check(&r, big);
        assert!(r.iter().all(|(s, e)| e - s >= MIN_PART_SIZE));
        assert!(part_ranges(0, 5 * MIB, true).is_empty());
    }
}
