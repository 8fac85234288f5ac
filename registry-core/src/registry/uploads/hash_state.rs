//! The running hash of an upload, kept in storage beside the upload so that any registry
//! instance can continue it: the state after `offset` bytes lives at
//! `rs-hashstates/<alg>/<offset>`. Only the newest state is kept.

use bytes::Bytes;
use futures::StreamExt;

use crate::domain::{Algorithm, DigestHasher, RepositoryName};
use crate::layout;
use crate::registry::Registry;
use crate::registry::error::Result;

/// The algorithm whose state is kept while uploading: what clients use in practice. Other
/// digests are verified by re-reading the data once, at the end.
pub(super) const RUNNING: Algorithm = Algorithm::Sha256;

impl Registry {
    /// The hash state after `offset` bytes, if one was saved.
    pub(super) async fn load_hash_state(
        &self,
        repo: &RepositoryName,
        id: &str,
        offset: u64,
    ) -> Result<Option<DigestHasher>> {
        if offset == 0 {
            return Ok(Some(DigestHasher::new(RUNNING)));
        }
        let path = layout::upload_hash_state(repo, id, RUNNING, offset);
        match self.storage.get_content(&path).await {
            Ok(saved) => Ok(DigestHasher::restore_state(RUNNING, &saved)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves the state after `offset` bytes and drops the one at `previous`.
    pub(super) async fn save_hash_state(
        &self,
        repo: &RepositoryName,
        id: &str,
        hasher: &DigestHasher,
        offset: u64,
        previous: u64,
    ) -> Result<()> {
        if offset == previous {
            return Ok(());
        }
        let path = layout::upload_hash_state(repo, id, hasher.algorithm(), offset);
        self.storage
            .put_content(&path, Bytes::from(hasher.save_state()))
            .await?;
        if previous > 0 {
            let old = layout::upload_hash_state(repo, id, hasher.algorithm(), previous);
            if let Err(e) = self.storage.delete(&old).await
                && !e.is_not_found()
            {
                tracing::warn!(upload = id, error = %e, "could not remove an old hash state");
            }
        }
        Ok(())
    }

    /// Hashes committed content from the start: the slow path, for when no state was saved
    /// (a crash between writing data and saving the state) or for a non-default algorithm.
    pub(super) async fn hash_stored(
        &self,
        path: &str,
        algorithm: Algorithm,
    ) -> Result<DigestHasher> {
        let mut hasher = DigestHasher::new(algorithm);
        let mut stream = self.storage.reader(path, 0).await?;
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        Ok(hasher)
    }
}
