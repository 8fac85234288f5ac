//! Content that arrives from elsewhere than the push API (a pull-through cache's upstream):
//! a blob whose digest is known before its bytes, verified before it becomes visible, and a
//! manifest stored as the other registry serves it, without the push path's requirement that
//! every blob it names is already here.

use std::time::SystemTime;

use bytes::Bytes;

use super::Registry;
use super::error::{RegistryError, Result};
use super::manifests::StoredManifest;
use crate::domain::manifest::{ParsedManifest, stored_media_type};
use crate::domain::{Digest, DigestHasher, RepositoryName, Tag};
use crate::layout;
use crate::lifecycle::protocol::Target;
use crate::storage::FileWriter;

/// A blob being received under a digest named in advance. Its bytes are written to storage
/// as they arrive, but nothing is readable (nor linked) until [`IncomingBlob::finish`] has
/// checked them against the digest; dropped or [`abandon`](IncomingBlob::abandon)ed, it
/// leaves nothing visible.
pub struct IncomingBlob {
    registry: Registry,
    digest: Digest,
    hasher: DigestHasher,
    writer: Box<dyn FileWriter>,
    size: u64,
}

impl IncomingBlob {
    /// Appends the next bytes.
    pub async fn write(&mut self, data: Bytes) -> Result<()> {
        self.hasher.update(&data);
        self.size += data.len() as u64;
        self.writer.write(data).await?;
        Ok(())
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Checks the bytes against the digest (and `expected_size`, when known); on a match
    /// makes the blob readable and links it into `repo`. On a mismatch nothing is kept and
    /// the answer is `DigestInvalid` (or `SizeInvalid`).
    pub async fn finish(self, repo: &RepositoryName, expected_size: Option<u64>) -> Result<u64> {
        let IncomingBlob {
            registry,
            digest,
            hasher,
            writer,
            size,
        } = self;
        let actual = hasher.finish();
        let refused = if actual != digest {
            Some(RegistryError::DigestInvalid(format!(
                "the received bytes have digest {actual}, not {digest}"
            )))
        } else if expected_size.is_some_and(|expected| expected != size) {
            Some(RegistryError::SizeInvalid(format!(
                "received {size} bytes where {} were announced",
                expected_size.unwrap_or_default()
            )))
        } else {
            None
        };
        if let Some(error) = refused {
            cancel(writer).await;
            return Err(error);
        }
        // The garbage collector may be about to delete an older copy of this blob: follow its
        // protocol as a push does. Whether that copy survives does not matter, since the
        // commit below writes the content again after any delete the protocol waited for.
        let mut reliance = match registry.rely_on(vec![Target::Blob(digest.clone())]).await {
            Ok(reliance) => reliance,
            Err(e) => {
                cancel(writer).await;
                return Err(e);
            }
        };
        writer.commit().await?;
        registry.confirm_reliance(&mut reliance).await?;
        registry.link_blob(repo, &digest).await?;
        Ok(size)
    }

    /// Drops what was written.
    pub async fn abandon(self) {
        cancel(self.writer).await;
    }
}

async fn cancel(writer: Box<dyn FileWriter>) {
    if let Err(e) = writer.cancel().await {
        tracing::warn!(error = %e, "could not remove an unverified blob's bytes");
    }
}

impl Registry {
    /// Starts receiving the blob `digest` from a source other than an upload.
    pub async fn receive_blob(&self, digest: &Digest) -> Result<IncomingBlob> {
        let writer = self
            .storage
            .writer(&layout::blob_data(digest), false)
            .await?;
        Ok(IncomingBlob {
            registry: self.clone(),
            digest: digest.clone(),
            hasher: DigestHasher::new(digest.algorithm()),
            writer,
            size: 0,
        })
    }

    /// True when `repo` holds the blob `digest` (linked, content present).
    pub async fn holds_blob(&self, repo: &RepositoryName, digest: &Digest) -> Result<bool> {
        match self.blob_size(repo, digest).await {
            Ok(_) => Ok(true),
            Err(RegistryError::BlobUnknown(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Stores a manifest fetched from another registry under `digest` (checked against the
    /// body) and, when given, `tag`. Unlike a push, the blobs it names need not be here yet:
    /// they are fetched when asked for. The body must still be a manifest.
    pub async fn store_fetched_manifest(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        tag: Option<&Tag>,
        body: Bytes,
    ) -> Result<StoredManifest> {
        let actual = Digest::of(digest.algorithm(), &body);
        if &actual != digest {
            return Err(RegistryError::DigestInvalid(format!(
                "the manifest has digest {actual}, not {digest}"
            )));
        }
        let manifest =
            ParsedManifest::parse(&body, None).map_err(|e| RegistryError::ManifestInvalid(e.0))?;
        // Content first, then the links that make it reachable, as for a push, following the
        // garbage collector's protocol for an older copy of either (the content is written
        // again after any delete the protocol waited for).
        let mut reliance = self
            .rely_on(vec![
                Target::Blob(digest.clone()),
                Target::Manifest(repo.clone(), digest.clone()),
            ])
            .await?;
        self.storage
            .put_content(&layout::blob_data(digest), body.clone())
            .await?;
        self.confirm_reliance(&mut reliance).await?;
        self.write_link(&layout::revision_link(repo, digest), digest)
            .await?;
        if let Some(subject) = &manifest.subject {
            let entry = manifest.referrer_entry(digest, body.len() as u64);
            self.add_referrer(repo, &subject.digest, &entry).await?;
        }
        if let Some(tag) = tag {
            self.write_link(&layout::tag_index_link(repo, tag, digest), digest)
                .await?;
            self.write_link(&layout::tag_current_link(repo, tag), digest)
                .await?;
        }
        Ok(StoredManifest {
            digest: digest.clone(),
            media_type: stored_media_type(&body),
            body,
        })
    }

    /// The digest `tag` points to in `repo` and when that was last written or confirmed
    /// (see [`Registry::confirm_tag`]); `None` for an unknown tag. Kept in storage (the tag
    /// link's modification time), so every instance sharing the storage agrees.
    pub async fn tag_written_at(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
    ) -> Result<Option<(Digest, SystemTime)>> {
        let link = layout::tag_current_link(repo, tag);
        let Some(digest) = self.read_link(&link).await? else {
            return Ok(None);
        };
        match self.storage.stat(&link).await {
            Ok(info) => Ok(Some((digest, info.mod_time))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Rewrites `tag`'s link to `digest` unchanged, so that its time says "confirmed now".
    pub async fn confirm_tag(
        &self,
        repo: &RepositoryName,
        tag: &Tag,
        digest: &Digest,
    ) -> Result<()> {
        self.write_link(&layout::tag_current_link(repo, tag), digest)
            .await
    }
}
