//! The tags page: one page of a repository's tags, each with what it points to.
//!
//! Storage operations: one listing of the tags directory (as the API's tags list), then per
//! tag on the page a read of its link and a `stat` of it (the push time), and per distinct
//! manifest on the page what [`super::summary::summarise`] costs plus at most two reads of
//! the manifest (none when the manifest cache holds it). Independent of how many tags or
//! manifests lie outside the page.

use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use registry_core::domain::{Digest, Reference, RepositoryName, Tag};
use registry_core::registry::{Registry, RegistryError};

use super::summary::{Summary, summarise};

const READ_CONCURRENCY: usize = 16;

#[derive(Debug, Clone)]
pub struct TagRow {
    pub tag: String,
    pub digest: Option<Digest>,
    pub pushed: Option<SystemTime>,
    pub summary: Option<Summary>,
    /// Why the row is incomplete (the tag moved or was deleted while the page was built).
    pub problem: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Tags {
    pub rows: Vec<TagRow>,
    pub next_last: Option<String>,
}

/// Up to `n` tags of `repo` after `last`. `NameUnknown` when the repository has no tags.
pub async fn load(
    registry: &Registry,
    repo: &RepositoryName,
    n: usize,
    last: Option<&str>,
) -> Result<Tags, RegistryError> {
    let page = registry.list_tags(repo, Some(n), last).await?;
    let rows = futures::stream::iter(page.items)
        .map(|tag| row(registry, repo, tag))
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(Tags {
        rows,
        next_last: page.next_last,
    })
}

async fn row(
    registry: &Registry,
    repo: &RepositoryName,
    name: String,
) -> Result<TagRow, RegistryError> {
    let mut row = TagRow {
        tag: name.clone(),
        digest: None,
        pushed: None,
        summary: None,
        problem: None,
    };
    let Ok(tag) = name.parse::<Tag>() else {
        row.problem = Some("not a valid tag name".into());
        return Ok(row);
    };
    let reference = Reference::Tag(tag.clone());
    let (digest, pushed) = futures::join!(
        registry.resolve(repo, &reference),
        registry.tag_pushed_at(repo, &tag)
    );
    row.pushed = pushed?;
    let digest = match digest {
        Ok(digest) => digest,
        Err(RegistryError::ManifestUnknown(_)) => {
            row.problem = Some("deleted while this page was read".into());
            return Ok(row);
        }
        Err(e) => return Err(e),
    };
    row.digest = Some(digest.clone());
    match registry
        .get_manifest(repo, &Reference::Digest(digest))
        .await
    {
        Ok(stored) => match summarise(registry, repo, &stored).await {
            Ok(summary) => row.summary = Some(summary),
            Err(RegistryError::ManifestInvalid(m)) => row.problem = Some(m),
            Err(e) => return Err(e),
        },
        Err(RegistryError::ManifestUnknown(_)) => {
            row.problem = Some("its manifest is missing from the repository".into());
        }
        Err(e) => return Err(e),
    }
    Ok(row)
}
