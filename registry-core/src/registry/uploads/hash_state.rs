//! The running hash of an upload. Each chunk's record holds the hash state after that chunk,
//! saved by the request that wrote the chunk from the very bytes it wrote: a state is never
//! used for other bytes, because the chunk's data is written once, under a nonce no other
//! request uses, and the record names that nonce and the parent it continues.

use futures::StreamExt;

use super::entries::Chunk;
use crate::domain::{Algorithm, DigestHasher, RepositoryName};
use crate::layout;
use crate::registry::Registry;
use crate::registry::error::{OrMissing, RegistryError, Result};

/// The algorithm whose state is kept while uploading: what clients use in practice. Other
/// digests are verified by reading the data once, at the end.
pub(super) const RUNNING: Algorithm = Algorithm::Sha256;

impl Registry {
    /// The hash of the upload through `chain`: the state saved with its last chunk or, when
    /// that is unusable, the chain's data hashed again (the next chunk's record then carries
    /// a good state, so this happens once per upload).
    pub(super) async fn hash_through(
        &self,
        repo: &RepositoryName,
        id: &str,
        chain: &[Chunk],
    ) -> Result<DigestHasher> {
        let Some(last) = chain.last() else {
            return Ok(DigestHasher::new(RUNNING));
        };
        let record = layout::upload_entry(repo, id, &last.record_name());
        let saved = self
            .storage
            .get_content(&record)
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        if let Some(hasher) = DigestHasher::restore_state(RUNNING, &saved) {
            return Ok(hasher);
        }
        tracing::warn!(upload = id, %record, "unusable hash state; hashing the upload again");
        self.hash_chain(repo, id, chain, RUNNING).await
    }

    /// Hashes the chain's data from the start.
    pub(super) async fn hash_chain(
        &self,
        repo: &RepositoryName,
        id: &str,
        chain: &[Chunk],
        algorithm: Algorithm,
    ) -> Result<DigestHasher> {
        let mut hasher = DigestHasher::new(algorithm);
        for chunk in chain {
            let data = layout::upload_entry(repo, id, &chunk.data_name());
            let mut stream = self
                .storage
                .reader(&data, 0)
                .await
                .or_missing(|| RegistryError::BlobUploadUnknown)?;
            let mut read = 0u64;
            while let Some(piece) = stream.next().await {
                let piece = piece.or_missing(|| RegistryError::BlobUploadUnknown)?;
                read += piece.len() as u64;
                hasher.update(&piece);
            }
            super::publish::check_chunk_size(chunk, read)?;
        }
        Ok(hasher)
    }
}
