//! The OCI 1.1 referrers index: for each subject, one small file per manifest that refers to
//! it, holding that manifest's descriptor. A referrers request reads one directory; it never
//! scans the repository.
//!
//! # Pages
//!
//! A subject may have any number of referrers, and each descriptor carries its manifest's
//! annotations, so one answer is bounded: at most [`PAGE_ENTRIES`] descriptors and, past the
//! first, no more than [`PAGE_BYTES`] of them (the 4 MiB that clients such as oras-go accept
//! for an index). When more follow, the handler sends `Link: <...?last=<digest>>; rel="next"`,
//! as distribution-spec v1.1 allows. Descriptors come in digest order; the digests are read
//! from the entries' names, so a page reads only the entries it returns (plus, under an
//! `artifactType` filter, those it passes over).
//!
//! Stored entries are copied into the answer as they are, after a parse that checks them and
//! reads their artifact type but skips their annotations: annotations are copied twice on the
//! way out (storage to memory, memory to the answer) and never into a map.

use base64::Engine;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::Registry;
use super::error::{RegistryError, Result};
use crate::domain::manifest::ReferrerEntry;
use crate::domain::media_types::OCI_INDEX;
use crate::domain::{Digest, RepositoryName};
use crate::layout;

const READ_CONCURRENCY: usize = 16;

/// The most descriptors one referrers answer holds.
pub const PAGE_ENTRIES: usize = 1000;

/// The most bytes of descriptors one referrers answer holds, unless its first descriptor alone
/// is larger (a page always makes progress).
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// One page of a subject's referrers.
#[derive(Debug, Clone)]
pub struct ReferrersPage {
    /// The image index to send, descriptors as stored.
    pub index: Bytes,
    /// How many descriptors `index` lists.
    pub count: usize,
    /// The last digest of this page when more referrers follow (the next page's `last`).
    pub next_last: Option<Digest>,
}

/// What a referrers answer needs to know of a stored entry; the rest passes through unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredEntry {
    // Required, so that a file without them is no descriptor; not otherwise read.
    #[serde(rename = "mediaType")]
    _media_type: IgnoredAny,
    #[serde(rename = "size")]
    _size: u64,
    digest: Digest,
    artifact_type: Option<String>,
}

/// The referrer digest an entry's file name encodes (see [`layout::referrer_entry`]).
fn entry_digest(file_name: &str) -> Option<Digest> {
    let (algorithm, encoded) = file_name.split_once('-')?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .ok()?;
    format!("{algorithm}:{}", hex::encode(bytes)).parse().ok()
}

/// Builds the index answer from stored descriptors, copying each once.
struct IndexBuilder {
    body: Vec<u8>,
    head: usize,
    count: usize,
    last: Option<Digest>,
}

impl IndexBuilder {
    fn new() -> Self {
        let body =
            format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":["#).into_bytes();
        IndexBuilder {
            head: body.len(),
            body,
            count: 0,
            last: None,
        }
    }

    fn has_room_for(&self, entry: &[u8]) -> bool {
        self.count == 0
            || (self.count < PAGE_ENTRIES
                && self.body.len() - self.head + 1 + entry.len() <= PAGE_BYTES)
    }

    fn push(&mut self, digest: Digest, entry: &[u8]) {
        if self.count > 0 {
            self.body.push(b',');
        }
        self.body.extend_from_slice(entry);
        self.count += 1;
        self.last = Some(digest);
    }

    fn finish(mut self, more: bool) -> ReferrersPage {
        self.body.extend_from_slice(b"]}");
        ReferrersPage {
            index: Bytes::from(self.body),
            count: self.count,
            next_last: if more { self.last } else { None },
        }
    }
}

impl Registry {
    pub(crate) async fn add_referrer(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        entry: &ReferrerEntry<'_>,
    ) -> Result<()> {
        let json = serde_json::to_vec(entry)
            .map_err(|e| RegistryError::ManifestInvalid(format!("descriptor: {e}")))?;
        self.storage
            .put_content(
                &layout::referrer_entry(repo, subject, entry.digest),
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

    /// One page of the descriptors of the manifests in `repo` whose subject is `subject`,
    /// optionally only those of one artifact type, in digest order after `last`. Empty (not an
    /// error) when there are none.
    pub async fn referrers(
        &self,
        repo: &RepositoryName,
        subject: &Digest,
        artifact_type: Option<&str>,
        last: Option<&Digest>,
    ) -> Result<ReferrersPage> {
        let dir = layout::referrers_of(repo, subject);
        let mut digests: Vec<Digest> = self
            .list_or_empty(&dir)
            .await?
            .iter()
            .filter_map(|path| entry_digest(path.file_name()))
            .filter(|digest| last.is_none_or(|last| digest > last))
            .collect();
        digests.sort_unstable();
        digests.dedup();

        let entries = futures::stream::iter(digests)
            .map(|digest| async move {
                let path = layout::referrer_entry(repo, subject, &digest);
                match self.storage.get_content(&path).await {
                    Ok(json) => Ok(Some((digest, json))),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(RegistryError::from(e)),
                }
            })
            // In order, so that the page is a prefix of what follows `last`.
            .buffered(READ_CONCURRENCY)
            .try_filter_map(|entry| async move { Ok(entry) });
        let mut entries = std::pin::pin!(entries);
        let mut page = IndexBuilder::new();
        while let Some((digest, json)) = entries.try_next().await? {
            // A malformed entry, or one that is not what its name says, is skipped rather
            // than failing the whole answer.
            let Ok(stored) = serde_json::from_slice::<StoredEntry>(&json) else {
                continue;
            };
            if stored.digest != digest
                || artifact_type.is_some_and(|t| stored.artifact_type.as_deref() != Some(t))
            {
                continue;
            }
            let entry = json.trim_ascii();
            if !page.has_room_for(entry) {
                return Ok(page.finish(true));
            }
            page.push(digest, entry);
        }
        Ok(page.finish(false))
    }

    async fn list_or_empty(&self, dir: &str) -> Result<Vec<crate::storage::StoragePath>> {
        match self.storage.list(dir).await {
            Ok(children) => Ok(children),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_give_back_their_digests() {
        let repo: RepositoryName = "r".parse().unwrap();
        let subject = Digest::sha256_of(b"subject");
        for referrer in [
            Digest::sha256_of(b"referrer"),
            Digest::of(crate::domain::Algorithm::Sha512, b"referrer"),
        ] {
            let path = layout::referrer_entry(&repo, &subject, &referrer);
            let name = path.rsplit('/').next().unwrap();
            assert_eq!(entry_digest(name), Some(referrer));
        }
        for name in [
            "",
            "sha256",
            "sha256-",
            "sha256-!!",
            "md5-AAAA",
            "sha256-AAAA",
        ] {
            assert_eq!(entry_digest(name), None, "{name:?}");
        }
    }

    #[test]
    fn pages_are_bounded_in_entries_and_bytes() {
        let digest = Digest::sha256_of(b"x");
        let mut page = IndexBuilder::new();
        let huge = vec![b' '; PAGE_BYTES * 2];
        assert!(page.has_room_for(&huge), "the first entry always fits");
        page.push(digest.clone(), b"{}");
        assert!(!page.has_room_for(&huge));
        for _ in 1..PAGE_ENTRIES {
            assert!(page.has_room_for(b"{}"));
            page.push(digest.clone(), b"{}");
        }
        assert!(!page.has_room_for(b"{}"));
        let finished = page.finish(true);
        assert_eq!(finished.count, PAGE_ENTRIES);
        let index: serde_json::Value = serde_json::from_slice(&finished.index).unwrap();
        assert_eq!(index["mediaType"], OCI_INDEX);
        assert_eq!(index["manifests"].as_array().unwrap().len(), PAGE_ENTRIES);
    }
}
