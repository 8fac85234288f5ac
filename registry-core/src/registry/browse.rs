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
    /// The manifest `tag` points to and when the tag was last pushed (moved to it): its
    /// current link's content and modification time, read together. `None` when the tag
    /// does not exist or its link holds no digest; the time is `None` when the storage keeps
    /// none. One storage operation (`get_content_timed`; two on a driver that cannot answer
    /// both in one call).
    pub async fn tag_target(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<(Digest, Option<SystemTime>)>> {
        let timed = match self
            .storage
            .get_content_timed(&layout::tag_current_link(repo, tag))
            .await
        {
            Ok(timed) => timed,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let Some(digest) = layout::link_target(&timed.content) else {
            return Ok(None);
        };
        let pushed = (timed.mod_time > SystemTime::UNIX_EPOCH).then_some(timed.mod_time);
        Ok(Some((digest, pushed)))
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
