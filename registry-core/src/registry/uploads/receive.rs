//! Receiving a request body as a new chunk of an upload.

use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, Stream, StreamExt};

use super::entries::{Chunk, new_nonce};
use super::lease::{Lease, RENEW_AFTER};
use crate::domain::DigestHasher;
use crate::registry::Registry;
use crate::registry::error::{RegistryError, Result};
use crate::storage::{FileWriter, StorageError};

/// Bytes hashed per task on the blocking pool: hashing a large body then runs beside the
/// request's thread, which keeps receiving (and the writer keeps writing) meanwhile.
const HASH_BATCH: usize = 256 * 1024;

/// A body that sends nothing for this long is stalling: what it sent so far goes to storage
/// instead of waiting in memory, so stalled requests hold little (see the drivers' `flush`).
const IDLE_FLUSH: Duration = Duration::from_millis(500);

/// What became of a request body.
pub(super) struct Received {
    /// The chunk stored, if the body had any bytes.
    pub chunk: Option<Chunk>,
    /// The hash of the upload through that chunk.
    pub hasher: DigestHasher,
    /// The client's body failed (or timed out) after `chunk` was stored: the upload stays
    /// resumable at the chunk's end, and the request fails with this.
    pub body_error: Option<RegistryError>,
}

impl Registry {
    /// Stores `body` as the chunk after `chain`, continuing `hasher` (the hash through
    /// `chain`), under `lease`. The chunk's data is written once under a fresh nonce and
    /// committed; its record, with the hash state after it, is stored last, so a chunk is part
    /// of the upload only once both exist.
    pub(super) async fn receive_chunk<S, E>(
        &self,
        chain: &[Chunk],
        hasher: DigestHasher,
        body: S,
        lease: &mut Lease,
    ) -> Result<Received>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let nonce = new_nonce();
        let data = lease.entry(&super::entries::data_name(&nonce));
        let mut writer = self.storage.writer(&data, false).await?;
        let (hasher, received) = receive(&mut writer, hasher, body, lease).await;
        let body_error = match received {
            Ok(()) => None,
            Err(e @ RegistryError::ClientBody(_)) => Some(e),
            Err(failure) => {
                if let Err(e) = writer.cancel().await {
                    tracing::warn!(error = %e, "could not cancel a failed chunk");
                }
                return Err(failure);
            }
        };
        let len = writer.size();
        if len == 0 {
            writer.cancel().await?;
            return Ok(Received {
                chunk: None,
                hasher,
                body_error,
            });
        }
        writer.commit().await?;
        let chunk = Chunk::after(chain, nonce, len);
        self.storage
            .put_content(
                &lease.entry(&chunk.record_name()),
                Bytes::from(hasher.save_state()),
            )
            .await?;
        Ok(Received {
            chunk: Some(chunk),
            hasher,
            body_error,
        })
    }
}

/// Writes `body` to `writer` and into the hash. Whatever happens, the hash returned covers
/// exactly the bytes handed to the writer.
async fn receive<S, E>(
    writer: &mut Box<dyn FileWriter>,
    hasher: DigestHasher,
    mut body: S,
    lease: &mut Lease,
) -> (DigestHasher, Result<()>)
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let algorithm = hasher.algorithm();
    let mut hashing = Hashing::new(hasher);
    let received: Result<()> = async {
        loop {
            // The next piece, if it is already there; otherwise the body stalls or is slow.
            let next = match body.next().now_or_never() {
                Some(next) => next,
                None => match tokio::time::timeout(IDLE_FLUSH, body.next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        hashing.settle().await?;
                        writer.flush().await?;
                        wait_renewing(&mut body, lease).await?
                    }
                },
            };
            let Some(piece) = next else {
                return Ok(());
            };
            let piece = piece.map_err(|e| RegistryError::ClientBody(e.to_string()))?;
            if piece.is_empty() {
                continue;
            }
            writer.write(piece.clone()).await?;
            hashing.add(piece).await?;
            lease.renew_if_due().await?;
        }
    }
    .await;
    match hashing.finish().await {
        Ok(hasher) => (hasher, received),
        // The hashing task died: the caller gets the failure and discards the chunk.
        Err(e) => (DigestHasher::new(algorithm), received.and(Err(e))),
    }
}

/// Waits for the body's next piece while keeping the lease alive.
async fn wait_renewing<S, E>(
    body: &mut S,
    lease: &mut Lease,
) -> Result<Option<std::result::Result<Bytes, E>>>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
{
    loop {
        lease.renew_if_due().await?;
        if let Ok(next) = tokio::time::timeout(RENEW_AFTER, body.next()).await {
            return Ok(next);
        }
    }
}

/// The running hash of a body: pieces are hashed in batches on the blocking pool, one batch
/// in flight, so hashing overlaps receiving and writing.
struct Hashing {
    /// The hash of everything before `in_flight` and `pieces`; `None` while a task has it.
    hasher: Option<DigestHasher>,
    in_flight: Option<tokio::task::JoinHandle<DigestHasher>>,
    pieces: Vec<Bytes>,
    bytes: usize,
}

impl Hashing {
    fn new(hasher: DigestHasher) -> Self {
        Hashing {
            hasher: Some(hasher),
            in_flight: None,
            pieces: Vec::new(),
            bytes: 0,
        }
    }

    async fn add(&mut self, piece: Bytes) -> Result<()> {
        self.bytes += piece.len();
        self.pieces.push(piece);
        if self.bytes < HASH_BATCH {
            return Ok(());
        }
        let mut hasher = self.take().await?;
        let work = std::mem::take(&mut self.pieces);
        self.bytes = 0;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            for piece in &work {
                hasher.update(piece);
            }
            hasher
        }));
        Ok(())
    }

    /// Hashes everything added so far, releasing the pieces.
    async fn settle(&mut self) -> Result<()> {
        let mut hasher = self.take().await?;
        for piece in self.pieces.drain(..) {
            hasher.update(&piece);
        }
        self.bytes = 0;
        self.hasher = Some(hasher);
        Ok(())
    }

    async fn finish(mut self) -> Result<DigestHasher> {
        self.settle().await?;
        self.take().await
    }

    /// The hash of everything before `pieces`, waiting for the task in flight.
    async fn take(&mut self) -> Result<DigestHasher> {
        if let Some(task) = self.in_flight.take() {
            return task.await.map_err(|e| {
                RegistryError::Storage(StorageError::backend("registry", "hashing an upload", e))
            });
        }
        self.hasher.take().ok_or_else(|| {
            RegistryError::Storage(StorageError::backend(
                "registry",
                "hashing an upload",
                "an earlier hashing task failed",
            ))
        })
    }
}
