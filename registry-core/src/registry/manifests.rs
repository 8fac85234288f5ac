//! Manifests: checked on the way in, stored byte-exact, served with their media type.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};

use super::Registry;
use super::content_cache::CachedManifest;
use super::error::{OrMissing, RegistryError, Result};
use crate::domain::manifest::{ParsedManifest, stored_media_type};
use crate::domain::{Descriptor, Digest, Reference, RepositoryName, Tag};
use crate::layout;
use crate::lifecycle::protocol::Target;

/// How many referenced blobs are checked at once when a manifest arrives.
const CHECK_CONCURRENCY: usize = 16;

/// A stored manifest, ready to serve.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    pub digest: Digest,
    pub media_type: String,
    pub body: Bytes,
}

/// What a manifest push produced.
#[derive(Debug, Clone)]
pub struct PutManifest {
    pub digest: Digest,
    /// The manifest's subject, for the `OCI-Subject` response header.
    pub subject: Option<Digest>,
}

impl Registry {
    /// Stores a manifest under `reference` (`PUT /v2/<name>/manifests/<reference>`).
    pub async fn put_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<PutManifest> {
        self.ensure_writable()?;
        let limit = self.settings.max_manifest_bytes;
        if body.len() > limit {
            return Err(RegistryError::ManifestTooLarge { limit });
        }
        let manifest = ParsedManifest::parse(&body, content_type)
            .map_err(|e| RegistryError::ManifestInvalid(e.0))?;
        let digest = match reference {
            Reference::Digest(expected) => {
                let actual = Digest::of(expected.algorithm(), &body);
                if &actual != expected {
                    return Err(RegistryError::DigestInvalid(format!(
                        "the manifest has digest {actual}, not {expected}"
                    )));
                }
                actual
            }
            Reference::Tag(_) => Digest::sha256_of(&body),
        };
        self.check_references(repo, &manifest).await?;
        self.rely_on_references(repo, &manifest, &digest).await?;

        // Content first, then the links that make it reachable: a crash in between leaves
        // only unreferenced content.
        self.storage
            .put_content(&layout::blob_data(&digest), body.clone())
            .await?;
        self.write_link(&layout::revision_link(repo, &digest), &digest)
            .await?;
        if let Some(subject) = &manifest.subject {
            let entry = manifest.referrer_entry(&digest, body.len() as u64);
            self.add_referrer(repo, &subject.digest, &entry).await?;
        }
        if let Reference::Tag(tag) = reference {
            self.tag_manifest(repo, tag, &digest).await?;
        }
        Ok(PutManifest {
            digest,
            subject: manifest.subject.map(|s| s.digest),
        })
    }

    /// Every blob and child manifest the manifest names must be in the repository already.
    /// Each distinct one is checked once: a manifest may name one layer thousands of times,
    /// and must not cost a storage lookup per mention.
    async fn check_references(
        &self,
        repo: &RepositoryName,
        manifest: &ParsedManifest,
    ) -> Result<()> {
        let blobs = manifest.required_blobs().map(|d| (d, false));
        let manifests = manifest.required_manifests().map(|d| (d, true));
        let mut distinct: BTreeMap<(&Digest, bool), &Descriptor> = BTreeMap::new();
        for (descriptor, is_manifest) in blobs.chain(manifests) {
            match distinct.entry((&descriptor.digest, is_manifest)) {
                Entry::Vacant(entry) => {
                    entry.insert(descriptor);
                }
                // One lookup stands for all mentions only if they agree on the size.
                Entry::Occupied(entry) if entry.get().size != descriptor.size => {
                    return Err(RegistryError::ManifestInvalid(format!(
                        "descriptors of {} disagree on its size ({} and {} bytes)",
                        descriptor.digest,
                        entry.get().size,
                        descriptor.size
                    )));
                }
                Entry::Occupied(_) => {}
            }
        }
        futures::stream::iter(distinct)
            .map(|((_, is_manifest), descriptor)| {
                self.check_reference(repo, descriptor, is_manifest)
            })
            .buffer_unordered(CHECK_CONCURRENCY)
            .try_collect::<()>()
            .await
    }

    /// Follows the garbage collector's protocol for everything the manifest links (and for
    /// its own revision and content, which this PUT rewrites), right before the writes.
    async fn rely_on_references(
        &self,
        repo: &RepositoryName,
        manifest: &ParsedManifest,
        digest: &Digest,
    ) -> Result<()> {
        let mut targets: Vec<Target> = manifest
            .required_blobs()
            .map(|d| Target::Blob(d.digest.clone()))
            .chain(
                manifest
                    .required_manifests()
                    .map(|d| Target::Manifest(repo.clone(), d.digest.clone())),
            )
            .collect();
        targets.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        targets.dedup();
        let own = [
            Target::Blob(digest.clone()),
            Target::Manifest(repo.clone(), digest.clone()),
        ];
        targets.extend(own.iter().cloned());
        let mut reliance = self.rely_on(targets).await?;
        self.confirm_reliance(&mut reliance).await?;
        // The manifest's own content is rewritten below; anything else gone is unknown.
        match reliance.gone.iter().find(|t| !own.contains(t)) {
            Some(Target::Blob(d) | Target::Manifest(_, d)) => {
                Err(RegistryError::ManifestBlobUnknown(d.clone()))
            }
            None => Ok(()),
        }
    }

    async fn check_reference(
        &self,
        repo: &RepositoryName,
        descriptor: &Descriptor,
        is_manifest: bool,
    ) -> Result<()> {
        let digest = &descriptor.digest;
        let unknown = || RegistryError::ManifestBlobUnknown(digest.clone());
        let link = if is_manifest {
            layout::revision_link(repo, digest)
        } else {
            layout::layer_link(repo, digest)
        };
        if !self.link_points_to(&link, digest).await? {
            return Err(unknown());
        }
        let size = self.blob_stored(digest).await?.ok_or_else(unknown)?;
        if size != descriptor.size {
            return Err(RegistryError::ManifestInvalid(format!(
                "descriptor of {digest} says {} bytes, the stored content has {size}",
                descriptor.size
            )));
        }
        Ok(())
    }

    async fn tag_manifest(&self, repo: &RepositoryName, tag: &Tag, digest: &Digest) -> Result<()> {
        self.write_link(&layout::tag_index_link(repo, tag, digest), digest)
            .await?;
        self.write_link(&layout::tag_current_link(repo, tag), digest)
            .await
    }

    /// The digest a reference names in `repo`.
    pub async fn resolve(&self, repo: &RepositoryName, reference: &Reference) -> Result<Digest> {
        match reference {
            Reference::Digest(digest) => Ok(digest.clone()),
            Reference::Tag(tag) => self
                .read_link(&layout::tag_current_link(repo, tag))
                .await?
                .ok_or_else(|| RegistryError::ManifestUnknown(format!("tag {tag}"))),
        }
    }

    /// A manifest of `repo` by tag or digest.
    pub async fn get_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<StoredManifest> {
        let digest = self.resolve(repo, reference).await?;
        let unknown = || RegistryError::ManifestUnknown(reference.to_string());
        let revision = layout::revision_link(repo, &digest);
        if let Some(cached) = self.manifests.get(&digest) {
            // The content is known; whether this repository holds it is asked every time.
            if !self.link_points_to(&revision, &digest).await? {
                return Err(unknown());
            }
            return Ok(StoredManifest {
                digest,
                media_type: cached.media_type,
                body: cached.body,
            });
        }
        let data = layout::blob_data(&digest);
        let (linked, body) = futures::join!(
            self.link_points_to(&revision, &digest),
            self.storage.get_content(&data)
        );
        if !linked? {
            return Err(unknown());
        }
        let body = body.or_missing(unknown)?;
        let media_type = stored_media_type(&body);
        self.manifests.insert(
            digest.clone(),
            CachedManifest {
                media_type: media_type.clone(),
                body: body.clone(),
            },
        );
        Ok(StoredManifest {
            media_type,
            digest,
            body,
        })
    }

    /// Deletes a tag, or a manifest with every tag pointing to it.
    pub async fn delete_manifest(
        &self,
        repo: &RepositoryName,
        reference: &Reference,
    ) -> Result<()> {
        self.ensure_delete_enabled()?;
        match reference {
            Reference::Tag(tag) => {
                self.resolve(repo, reference).await?;
                self.storage
                    .delete(&layout::tag_dir(repo, tag))
                    .await
                    .or_missing(|| RegistryError::ManifestUnknown(format!("tag {tag}")))
            }
            Reference::Digest(digest) => self.delete_manifest_revision(repo, digest).await,
        }
    }

    async fn delete_manifest_revision(&self, repo: &RepositoryName, digest: &Digest) -> Result<()> {
        let revision = layout::revision_link(repo, digest);
        if !self.link_points_to(&revision, digest).await? {
            return Err(RegistryError::ManifestUnknown(digest.to_string()));
        }
        // Tags first: a crash midway must not leave a tag pointing at a deleted revision.
        for tag in self.all_tags(repo).await?.unwrap_or_default() {
            let current = layout::tag_current_link(repo, &tag);
            if self.link_points_to(&current, digest).await? {
                match self.storage.delete(&layout::tag_dir(repo, &tag)).await {
                    Ok(()) => {}
                    Err(e) if e.is_not_found() => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if let Ok(body) = self.storage.get_content(&layout::blob_data(digest)).await
            && let Ok(manifest) = ParsedManifest::parse(&body, None)
            && let Some(subject) = manifest.subject
        {
            self.remove_referrer(repo, &subject.digest, digest).await?;
        }
        self.storage
            .delete(&revision)
            .await
            .or_missing(|| RegistryError::ManifestUnknown(digest.to_string()))
    }
}
