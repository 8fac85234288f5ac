//! Length discipline for ranged reads: [`take`] ends a stream after a number of bytes (the
//! default `range_reader` over a reader that runs to the end of the object); [`exactly`] holds
//! any driver's ranged stream to the length asked for, because a multipart response announces
//! every part's length before the first byte is sent.

use bytes::Bytes;
use futures::StreamExt;

use super::driver::ByteStream;
use super::{StorageError, StoragePath};

/// A ranged stream that delivered a different number of bytes than asked for.
#[derive(Debug, thiserror::Error)]
#[error("ranged read of {expected} bytes delivered {delivered}{}", if *.more { " and more" } else { "" })]
pub struct LengthMismatch {
    pub expected: u64,
    pub delivered: u64,
    /// True when the stream ran past `expected`.
    pub more: bool,
}

/// `stream`, ended after `length` bytes (the last chunk cut).
pub(crate) fn take(stream: ByteStream, length: u64) -> ByteStream {
    Box::pin(futures::stream::unfold(
        (stream, length),
        |(mut stream, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            match stream.next().await? {
                Ok(chunk) => {
                    let keep = (chunk.len() as u64).min(remaining) as usize;
                    let piece: Bytes = chunk.slice(..keep);
                    Some((Ok(piece), (stream, remaining - keep as u64)))
                }
                Err(e) => Some((Err(e), (stream, 0))),
            }
        },
    ))
}

struct Exact {
    stream: ByteStream,
    expected: u64,
    delivered: u64,
    driver: &'static str,
    path: StoragePath,
    done: bool,
}

impl Exact {
    fn mismatch(&mut self, more: bool) -> StorageError {
        self.done = true;
        StorageError::backend(
            self.driver,
            format!("reading {}", self.path),
            LengthMismatch {
                expected: self.expected,
                delivered: self.delivered,
                more,
            },
        )
    }
}

/// `stream`, failing when it delivers fewer or more than `length` bytes.
pub(crate) fn exactly(
    stream: ByteStream,
    length: u64,
    driver: &'static str,
    path: StoragePath,
) -> ByteStream {
    let state = Exact {
        stream,
        expected: length,
        delivered: 0,
        driver,
        path,
        done: false,
    };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            match state.stream.next().await {
                None if state.delivered == state.expected => return None,
                None => {
                    let e = state.mismatch(false);
                    return Some((Err(e), state));
                }
                Some(Err(e)) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
                Some(Ok(chunk)) if chunk.is_empty() => continue,
                Some(Ok(chunk)) => {
                    let len = chunk.len() as u64;
                    if state.delivered + len > state.expected {
                        let e = state.mismatch(true);
                        return Some((Err(e), state));
                    }
                    state.delivered += len;
                    return Some((Ok(chunk), state));
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> ByteStream {
        let items: Vec<crate::storage::Result<Bytes>> =
            parts.iter().map(|p| Ok(Bytes::from_static(p))).collect();
        Box::pin(futures::stream::iter(items))
    }

    fn path() -> StoragePath {
        StoragePath::parse("/a/b").unwrap()
    }

    #[tokio::test]
    async fn take_cuts_the_last_chunk() {
        let out: Vec<Bytes> = take(chunks(&[b"abc", b"def", b"ghi"]), 5)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out.concat(), b"abcde");
    }

    #[tokio::test]
    async fn exactly_passes_the_right_length() {
        let out: Vec<Bytes> = exactly(chunks(&[b"abc", b"", b"de"]), 5, "t", path())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(out.concat(), b"abcde");
    }

    #[tokio::test]
    async fn exactly_fails_short_and_long_streams() {
        let short: Result<Vec<Bytes>, _> = exactly(chunks(&[b"abc"]), 5, "t", path())
            .try_collect()
            .await;
        assert!(short.is_err());
        let long: Result<Vec<Bytes>, _> = exactly(chunks(&[b"abc", b"def"]), 5, "t", path())
            .try_collect()
            .await;
        assert!(long.is_err());
    }
}
