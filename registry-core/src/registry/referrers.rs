//! The OCI 1.1 referrers index: for each subject, one small file per manifest that refers to
//! it, holding that manifest's descriptor. A referrers request reads one directory; it never
//! scans the repository.

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::Registry;
use super::error::{RegistryError, Result};
use crate::domain::{Descriptor, Digest, RepositoryName};
use crate::layout;

const READ_CONCURRENCY: usize = 16;

impl Registry {
    pub(crate) async fn add_referrer(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        entry: &Descriptor,
    ) -> Result<()> {
        let json = serde_json::to_vec(entry)
            .map_err(|e| RegistryError::ManifestInvalid(format!("descriptor: {e}")))?;
        self.storage
            .put_content(
                &layout::referrer_entry(repo, subject, &entry.digest),
                Bytes::from(json),
            )
            .await?;
        Ok(())
    }

    pub(crate) async fn remove_referrer(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        referrer: &Digest,
    ) -> Result<()> {
        let entry = layout::referrer_entry(repo, subject, referrer);
        match self.storage.delete(&entry).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Descriptors of the manifests in `repo` whose subject is `subject`, optionally only those
    /// of one artifact type; sorted by digest. Empty (not an error) when there are none.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Descriptor>> {
        let dir = layout::referrers_of(repo, subject);
        let entries = self.list_or_empty(&dir).await?;
        let mut descriptors: Vec<Descriptor> = futures::stream::iter(entries)
            .map(|path| async move {
                match self.storage.get_content(path.as_str()).await {
                    // A malformed entry is skipped rather than failing the whole answer.
                    Ok(json) => Ok(serde_json::from_slice::<Descriptor>(&json).ok()),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(RegistryError::from(e)),
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .try_filter_map(|d| async move { Ok(d) })
            .try_collect()
            .await?;
        if let Some(wanted) = artifact_type {
            descriptors.retain(|d| d.artifact_type.as_deref() == Some(wanted));
        }
        descriptors.sort_by(|a, b| a.digest.cmp(&b.digest));
        Ok(descriptors)
    }

    async fn list_or_empty(&self, dir: &str) -> Result<Vec<crate::storage::StoragePath>> {
        match self.storage.list(dir).await {
            Ok(children) => Ok(children),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}
