//! Blobs as a repository sees them: content linked into the repository by a `_layers` link.

use bytes::Bytes;
use futures::StreamExt;

use super::Registry;
use super::error::{OrMissing, RegistryError, Result};
use crate::domain::{Digest, RepositoryName};
use crate::layout;
use crate::storage::{ByteStream, RedirectMethod};

/// A requested byte range (`Range: bytes=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `start-` or `start-end` (inclusive).
    From { start: u64, end: Option<u64> },
    /// `-len`: the last `len` bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive `(first, last)` byte positions within `size`, or `None` when the range
    /// cannot be satisfied.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { start, end } => {
                if start >= size {
                    return None;
                }
                let last = end.unwrap_or(u64::MAX).min(size - 1);
                (last >= start).then_some((start, last))
            }
            ByteRange::Suffix(0) => None,
            ByteRange::Suffix(len) => (size > 0).then(|| (size.saturating_sub(len), size - 1)),
        }
    }
}

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

    /// Streams a blob linked into `repo`, or the part of it in `range`.
    pub async fn open_blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        range: Option<ByteRange>,
    ) -> Result<BlobContent> {
        let size = self.blob_size(repo, digest).await?;
        let range = match range {
            Some(requested) => Some(
                requested
                    .resolve(size)
                    .ok_or(RegistryError::RangeNotSatisfiable { size })?,
            ),
            None => None,
        };
        let offset = range.map_or(0, |(first, _)| first);
        let stream = self
            .storage
            .reader(&layout::blob_data(digest), offset as i64)
            .await
            .or_missing(|| RegistryError::BlobUnknown(digest.clone()))?;
        let stream = match range {
            Some((first, last)) => limit(stream, last - first + 1),
            None => stream,
        };
        Ok(BlobContent {
            size,
            range,
            stream,
        })
    }

    /// Where to redirect a download of a blob linked into `repo`, by the redirect policy:
    /// `None` when redirects are off or the driver cannot presign. The link is checked first:
    /// a URL is never handed out for content the repository does not hold.
    pub async fn blob_redirect(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        method: RedirectMethod,
    ) -> Result<Option<String>> {
        let policy = &self.settings.redirect;
        if !policy.enabled {
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
                self.link_blob(repo, digest).await?;
                Ok(true)
            }
            Err(RegistryError::BlobUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Ends `stream` after `remaining` bytes.
fn limit(stream: ByteStream, remaining: u64) -> ByteStream {
    Box::pin(futures::stream::unfold(
        (stream, remaining),
        |(mut stream, remaining)| async move {
            if remaining == 0 {
                return None;
            }
            match stream.next().await? {
                Ok(chunk) => {
                    let take = (chunk.len() as u64).min(remaining) as usize;
                    let piece: Bytes = chunk.slice(..take);
                    Some((Ok(piece), (stream, remaining - take as u64)))
                }
                Err(e) => Some((Err(e), (stream, 0))),
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::ByteRange;

    #[test]
    fn resolves_ranges() {
        let from = |start, end| ByteRange::From { start, end };
        assert_eq!(from(0, None).resolve(10), Some((0, 9)));
        assert_eq!(from(2, Some(4)).resolve(10), Some((2, 4)));
        assert_eq!(from(2, Some(40)).resolve(10), Some((2, 9)));
        assert_eq!(from(10, None).resolve(10), None);
        assert_eq!(from(5, Some(4)).resolve(10), None);
        assert_eq!(ByteRange::Suffix(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Suffix(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Suffix(0).resolve(10), None);
        assert_eq!(from(0, None).resolve(0), None);
    }
}
