//! Blobs as a repository sees them: content linked into the repository by a `_layers` link.

use super::Registry;
use super::error::{OrMissing, RegistryError, Result};
use super::ranges::{self, BlobParts, ByteRange, RangePlan};
use crate::domain::{Digest, RepositoryName};
use crate::layout;
use crate::lifecycle::protocol::Target;
use crate::storage::{ByteStream, RedirectMethod};

/// A blob's bytes, whole or one range of them.
pub struct BlobContent {
    /// The whole blob's size.
    pub size: u64,
    /// The inclusive range served, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub stream: ByteStream,
}

impl BlobContent {
    /// Bytes in `stream`.
    pub fn length(&self) -> u64 {
        match self.range {
            Some((first, last)) => last - first + 1,
            None => self.size,
        }
    }
}

/// A blob download, as [`Registry::open_blob`] answers it.
pub enum BlobRead {
    /// The whole blob (no range asked for, or the ranges were ignored).
    Whole(BlobContent),
    /// One range.
    Single(BlobContent),
    /// Several ranges.
    Multi(BlobParts),
}

impl Registry {
    /// The size of a blob linked into `repo`; `BlobUnknown` when it is not linked or its
    /// content is gone.
    pub async fn blob_size(&self, repo: &RepositoryName, digest: &Digest) -> Result<u64> {
        let unknown = || RegistryError::BlobUnknown(digest.clone());
        if !self
            .link_points_to(&layout::layer_link(repo, digest), digest)
            .await?
        {
            return Err(unknown());
        }
        let info = self
            .storage
            .stat(&layout::blob_data(digest))
            .await
            .or_missing(unknown)?;
        Ok(info.size)
    }

    /// Streams a blob linked into `repo`: whole, one range of it or several, by what
    /// `requested` asks for (see [`ranges`]). `RangeNotSatisfiable` when no range fits.
    pub async fn open_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        requested: &[ByteRange],
    ) -> Result<BlobRead> {
        let size = self.blob_size(repo, digest).await?;
        let path = layout::blob_data(digest);
        let missing = || RegistryError::BlobUnknown(digest.clone());
        match ranges::plan(requested, size) {
            RangePlan::Whole(ignored) => {
                if let Some(reason) = ignored {
                    tracing::debug!(?reason, ranges = requested.len(), "Range ignored");
                }
                let stream = self.storage.reader(&path, 0).await.or_missing(missing)?;
                Ok(BlobRead::Whole(BlobContent {
                    size,
                    range: None,
                    stream,
                }))
            }
            RangePlan::Unsatisfiable => Err(RegistryError::RangeNotSatisfiable { size }),
            RangePlan::Single((first, last)) => {
                let stream = self
                    .storage
                    .range_reader(&path, first, last - first + 1)
                    .await
                    .or_missing(missing)?;
                Ok(BlobRead::Single(BlobContent {
                    size,
                    range: Some((first, last)),
                    stream,
                }))
            }
            RangePlan::Multi(parts) => Ok(BlobRead::Multi(BlobParts {
                size,
                stream: ranges::parts::read(self.storage.clone(), path, parts.clone()),
                parts,
            })),
        }
    }

    /// Where to redirect a download of a blob linked into `repo` that names `ranges` byte
    /// ranges, by the redirect policy: `None` when redirects are off, do not apply to this
    /// request, or the driver cannot presign. The link is checked first: a URL is never handed
    /// out for content the repository does not hold.
    pub async fn blob_redirect(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        method: RedirectMethod,
        ranges: usize,
    ) -> Result<Option<String>> {
        let policy = &self.settings.redirect;
        if !policy.redirects(method, ranges) {
            return Ok(None);
        }
        self.blob_size(repo, digest).await?;
        let data = layout::blob_data(digest);
        let presigned = if policy.target.needs_presigning() {
            self.storage
                .redirect_url(&data, method, policy.expiry)
                .await?
        } else {
            None
        };
        let path = crate::storage::StoragePath::parse(&data)
            .map_err(|e| RegistryError::DigestInvalid(e.to_string()))?;
        Ok(policy.target.url(presigned.as_deref(), &path))
    }

    /// Unlinks a blob from `repo`. The content stays for other repositories (and for garbage
    /// collection).
    pub async fn delete_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        self.ensure_delete_enabled()?;
        let link = layout::layer_link(repo, digest);
        if !self.link_points_to(&link, digest).await? {
            return Err(RegistryError::BlobUnknown(digest.clone()));
        }
        self.storage
            .delete(&link)
            .await
            .or_missing(|| RegistryError::BlobUnknown(digest.clone()))
    }

    /// True when `digest`'s content is stored (in any repository).
    pub(crate) async fn blob_stored(&self, digest: &Digest) -> Result<Option<u64>> {
        match self.storage.stat(&layout::blob_data(digest)).await {
            Ok(info) if !info.is_dir => Ok(Some(info.size)),
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Links already-stored content into `repo`.
    pub(crate) async fn link_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        self.write_link(&layout::layer_link(repo, digest), digest)
            .await
    }

    /// Cross-repository mount: links `digest` into `repo` if `from` holds it. `false` when it
    /// does not (the client then uploads).
    pub async fn mount_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        from: &RepositoryName,
    ) -> Result<bool> {
        self.ensure_writable()?;
        match self.blob_size(from, digest).await {
            Ok(_) => {
                // A blob the garbage collector deleted meanwhile is uploaded instead.
                let target = Target::Blob(digest.clone());
                let mut reliance = self.rely_on(vec![target.clone()]).await?;
                self.confirm_reliance(&mut reliance).await?;
                if reliance.is_gone(&target) {
                    return Ok(false);
                }
                self.link_blob(repo, digest).await?;
                Ok(true)
            }
            Err(RegistryError::BlobUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
