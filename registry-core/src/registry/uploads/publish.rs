//! Making a verified upload a blob: its chunks become the content-addressed blob, unless
//! identical content is already there, and the blob is linked into the repository.

use bytes::Bytes;
use futures::StreamExt;

use super::entries::Chunk;
use crate::domain::{Digest, RepositoryName};
use crate::layout;
use crate::lifecycle::protocol::Target;
use crate::registry::Registry;
use crate::registry::error::{OrMissing, RegistryError, Result};
use crate::storage::FileWriter;

impl Registry {
    /// Publishes `chain`, whose bytes were verified to hash to `digest`, as that blob. The
    /// chunks are immutable, so what is moved or copied is what was verified; sizes are
    /// checked once more on the way, and a copy that comes out short is never committed.
    pub(super) async fn publish_chain(
        &self,
        repo: &RepositoryName,
        id: &str,
        chain: &[Chunk],
        digest: &Digest,
    ) -> Result<()> {
        if self.blob_stored(digest).await?.is_some() {
            // Identical content is there: rely on it, unless the garbage collector deleted it
            // meanwhile, in which case this upload's bytes take its place.
            let target = Target::Blob(digest.clone());
            let mut reliance = self.rely_on(vec![target.clone()]).await?;
            self.confirm_reliance(&mut reliance).await?;
            if !reliance.is_gone(&target) {
                return self.link_blob(repo, digest).await;
            }
        }
        {
            let blob = layout::blob_data(digest);
            match chain {
                [] => self.storage.put_content(&blob, Bytes::new()).await?,
                [only] => {
                    let data = layout::upload_entry(repo, id, &only.data_name());
                    let stored = self
                        .storage
                        .stat(&data)
                        .await
                        .or_missing(|| RegistryError::BlobUploadUnknown)?;
                    check_chunk_size(only, stored.size)?;
                    self.storage
                        .move_to(&data, &blob)
                        .await
                        .or_missing(|| RegistryError::BlobUploadUnknown)?;
                }
                many => {
                    let mut writer = self.storage.writer(&blob, false).await?;
                    let copied = self.concatenate(repo, id, many, &mut writer).await;
                    match copied {
                        Ok(()) => writer.commit().await?,
                        Err(e) => {
                            if let Err(cancel) = writer.cancel().await {
                                tracing::warn!(error = %cancel, "could not cancel a blob copy");
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }
        self.link_blob(repo, digest).await
    }

    /// Streams the chunks, in order, into `writer`.
    async fn concatenate(
        &self,
        repo: &RepositoryName,
        id: &str,
        chain: &[Chunk],
        writer: &mut Box<dyn FileWriter>,
    ) -> Result<()> {
        for chunk in chain {
            let data = layout::upload_entry(repo, id, &chunk.data_name());
            let mut stream = self
                .storage
                .reader(&data, 0)
                .await
                .or_missing(|| RegistryError::BlobUploadUnknown)?;
            let mut copied = 0u64;
            while let Some(piece) = stream.next().await {
                let piece = piece.or_missing(|| RegistryError::BlobUploadUnknown)?;
                copied += piece.len() as u64;
                writer.write(piece).await?;
            }
            check_chunk_size(chunk, copied)?;
        }
        Ok(())
    }
}

/// A chunk's data must hold exactly what its record says.
pub(super) fn check_chunk_size(chunk: &Chunk, stored: u64) -> Result<()> {
    if stored == chunk.len() {
        return Ok(());
    }
    Err(RegistryError::BlobUploadInvalid(format!(
        "a chunk of the upload holds {stored} bytes where {} were received",
        chunk.len()
    )))
}
