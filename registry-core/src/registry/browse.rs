//! Small reads for browsing a registry (the server's web view): what the API does not say
//! but storage knows. Each is a fixed, small number of storage operations, stated per method,
//! so that a page built from them costs a bounded number of operations.

use std::time::SystemTime;

use bytes::Bytes;

use super::Registry;
use super::error::{RegistryError, Result};
use crate::domain::{Digest, RepositoryName, Tag};
use crate::layout;

impl Registry {
    /// When `tag` was last pushed (moved to a manifest): the modification time of its current
    /// link. `None` when the tag does not exist or the storage keeps no time for it. One
    /// `stat`.
    pub async fn tag_pushed_at(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<SystemTime>> {
        match self
            .storage
            .stat(&layout::tag_current_link(repo, tag))
            .await
        {
            Ok(info) if info.mod_time > SystemTime::UNIX_EPOCH => Ok(Some(info.mod_time)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The bytes of a small blob linked into `repo` (an image's config), or `None` when it is
    /// larger than `max_bytes`. `BlobUnknown` when it is not linked or its content is gone.
    /// Two reads and a `stat` (link, size, content); the size is checked before the content
    /// is read, so a large blob is never loaded.
    pub async fn small_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Option<Bytes>> {
        let size = self.blob_size(repo, digest).await?;
        if size > max_bytes {
            return Ok(None);
        }
        match self.storage.get_content(&layout::blob_data(digest)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.is_not_found() => Err(RegistryError::BlobUnknown(digest.clone())),
            Err(e) => Err(e.into()),
        }
    }
}
