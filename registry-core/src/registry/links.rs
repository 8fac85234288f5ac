//! Link files: small objects holding a digest, which tie a repository to content.

use bytes::Bytes;

use super::Registry;
use super::error::Result;
use crate::domain::Digest;
use crate::layout;
use crate::storage::StorageError;

impl Registry {
    /// The digest a link file points to; `Ok(None)` when the link does not exist or holds
    /// something that is not a digest (a half-written or foreign file is no link).
    pub(crate) async fn read_link(&self, path: &str) -> Result<Option<Digest>> {
        match self.storage.get_content(path).await {
            Ok(content) => Ok(layout::link_target(&content)),
            Err(StorageError::PathNotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// True when the link at `path` points to exactly `digest`.
    pub(crate) async fn link_points_to(&self, path: &str, digest: &Digest) -> Result<bool> {
        Ok(self.read_link(path).await?.as_ref() == Some(digest))
    }

    pub(crate) async fn write_link(&self, path: &str, digest: &Digest) -> Result<()> {
        // The reference writes the bare digest, without a newline.
        self.storage
            .put_content(path, Bytes::from(digest.as_str().to_owned()))
            .await?;
        Ok(())
    }
}
