//! A file read as a stream of chunks on the blocking pool, one read ahead of the consumer.
//!
//! Chunk buffers are reused once the consumer has let go of them. A fresh half-MiB buffer per
//! read costs page faults and zeroing on every read, as much CPU as the read itself; the HTTP
//! server copies a chunk out and drops it at once, so a few buffers serve a whole download.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use registry_core::storage::{ByteStream, Result, StoragePath};

use crate::blocking::{BlockingPool, Pending};
use crate::names::io_error;

/// Bytes per blocking read: per-chunk costs (a pool hop, a wakeup) made 128 KiB reads use 1.7x
/// the CPU of 1 MiB reads per pulled byte; 512 KiB used 10% more.
pub(crate) const READ_CHUNK: usize = 1024 * 1024;

/// Bytes per read of a ranged stream: a multi-range answer keeps the first read of several
/// parts at once (see `registry_core::registry::ranges::parts`), so these stay smaller.
pub(crate) const RANGE_READ_CHUNK: usize = 256 * 1024;

/// The read that finds the end of a file (it may have grown since it was opened).
const END_PROBE: usize = 4096;

/// Chunks handed out that may come back: the one the consumer has (the HTTP server copies it
/// out and drops it before asking for the next) and the one being returned to it.
const KEPT: usize = 2;

/// Buffers for one stream's reads: handed-out chunks are kept so their memory can be taken
/// back once the consumer has dropped its copies.
#[derive(Default)]
struct Buffers {
    handed_out: VecDeque<Bytes>,
}

impl Buffers {
    /// A buffer of `len` initialised bytes: a released one if any is large enough, else a new
    /// one.
    fn take(&mut self, len: usize) -> BytesMut {
        for _ in 0..self.handed_out.len() {
            let Some(chunk) = self.handed_out.pop_front() else {
                break;
            };
            match chunk.try_into_mut() {
                Ok(mut buffer) if buffer.capacity() >= len => {
                    // Only the part past the last read's end is zeroed (none, but at the end).
                    buffer.resize(len, 0);
                    return buffer;
                }
                Ok(_) => {}
                Err(still_used) => self.handed_out.push_back(still_used),
            }
        }
        BytesMut::zeroed(len)
    }

    fn hand_out(&mut self, chunk: &Bytes) {
        if self.handed_out.len() >= KEPT {
            self.handed_out.pop_front();
        }
        self.handed_out.push_back(chunk.clone());
    }
}

struct ChunkReader {
    pool: BlockingPool,
    file: Arc<File>,
    /// The size when opened: reads are sized to it, so a small blob costs a small buffer.
    size: u64,
    path: StoragePath,
    /// Where a ranged read stops (exclusive); `None` reads to the end of the file.
    end: Option<u64>,
    buffers: Buffers,
}

impl ChunkReader {
    fn chunk(&self) -> usize {
        if self.end.is_some() {
            RANGE_READ_CHUNK
        } else {
            READ_CHUNK
        }
    }

    async fn start(&mut self, position: u64) -> Result<Pending<BytesMut>> {
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        let remaining = self.end.unwrap_or(self.size).saturating_sub(position);
        let len = match usize::try_from(remaining) {
            Ok(0) if self.end.is_some() => 0,
            Ok(0) => END_PROBE,
            Ok(n) => n.min(self.chunk()),
            Err(_) => self.chunk(),
        };
        let mut buffer = self.buffers.take(len);
        self.pool
            .start(move || {
                let n = file
                    .read_at(&mut buffer, position)
                    .map_err(|e| io_error(&path, "reading", e))?;
                buffer.truncate(n);
                Ok(buffer)
            })
            .await
    }
}

/// Streams `file` (of `size` bytes when opened) from `offset` to its end, or to `end`.
pub(crate) fn chunks(
    pool: BlockingPool,
    file: Arc<File>,
    size: u64,
    path: StoragePath,
    offset: u64,
    end: Option<u64>,
) -> ByteStream {
    let reader = ChunkReader {
        pool,
        file,
        size,
        path,
        end,
        buffers: Buffers::default(),
    };
    // One read is always in flight ahead of the consumer, so disk and network overlap.
    let stream = futures::stream::try_unfold(
        (reader, offset, None::<Pending<BytesMut>>),
        |(mut reader, position, ahead)| async move {
            let current = match ahead {
                Some(read) => read,
                None => reader.start(position).await?,
            };
            let chunk = current.wait().await?.freeze();
            if chunk.is_empty() {
                return Ok(None);
            }
            reader.buffers.hand_out(&chunk);
            let next = position + chunk.len() as u64;
            let ahead = reader.start(next).await?;
            Ok(Some((chunk, (reader, next, Some(ahead)))))
        },
    );
    Box::pin(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_released_chunk_buffer_is_reused() {
        let mut buffers = Buffers::default();
        let mut first = buffers.take(READ_CHUNK);
        first.truncate(1000);
        let chunk = first.freeze();
        let address = chunk.as_ptr();
        buffers.hand_out(&chunk);
        drop(chunk);
        let again = buffers.take(READ_CHUNK);
        assert_eq!(again.as_ptr(), address);
        assert_eq!(again.len(), READ_CHUNK);
        drop(again);
    }

    #[test]
    fn a_chunk_still_held_is_not_reused() {
        let mut buffers = Buffers::default();
        let chunk = buffers.take(READ_CHUNK).freeze();
        buffers.hand_out(&chunk);
        let other = buffers.take(READ_CHUNK);
        assert_ne!(other.as_ptr(), chunk.as_ptr());
        assert_eq!(chunk.len(), READ_CHUNK);
        assert_eq!(buffers.handed_out.len(), 1);
    }

    #[test]
    fn a_small_read_takes_a_small_buffer_and_a_larger_one_is_not_reused_for_more() {
        let mut buffers = Buffers::default();
        let small = buffers.take(2048);
        assert_eq!(small.len(), 2048);
        let chunk = small.freeze();
        buffers.hand_out(&chunk);
        drop(chunk);
        assert_eq!(buffers.take(READ_CHUNK).len(), READ_CHUNK);
    }
}
