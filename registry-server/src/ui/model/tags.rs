//! The tags page: one page of a repository's tags, each with what it points to.
//!
//! Storage operations: one listing of the tags directory (as the API's tags list), then per
//! tag on the page one read of its link that also gives the link's modification time, the
//! push time (`get_content_timed`: one backend call on the filesystem and in-memory drivers,
//! a read and a `stat` on the others); per distinct manifest on the page a read of its
//! revision link (whether the repository holds it: always read, links change), its content
//! (none when the manifest cache holds it) and what [`super::summary::summarise`] costs.
//! Independent of how many tags or manifests lie outside the page. Nothing about a tag is
//! kept between requests (another instance may move it); only content-addressed manifests
//! and image summaries are, by digest.

use std::collections::HashMap;
use std::time::SystemTime;

use futures::{StreamExt, TryStreamExt};
use registry_core::domain::{Digest, Reference, RepositoryName, Tag};
use registry_core::registry::{Registry, RegistryError};

use super::summary::{Summary, summarise};

const READ_CONCURRENCY: usize = 64;

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
    let mut rows: Vec<TagRow> = futures::stream::iter(page.items)
        .map(|tag| row(registry, repo, tag))
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    // Each distinct manifest once: many tags often name one manifest.
    let mut digests: Vec<Digest> = rows.iter().filter_map(|r| r.digest.clone()).collect();
    digests.sort();
    digests.dedup();
    let summaries: HashMap<Digest, Result<Summary, String>> = futures::stream::iter(digests)
        .map(|digest| async move {
            let summary = summary(registry, repo, &digest).await?;
            Ok::<_, RegistryError>((digest, summary))
        })
        .buffer_unordered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    for row in &mut rows {
        match row.digest.as_ref().and_then(|d| summaries.get(d)) {
            Some(Ok(summary)) => row.summary = Some(summary.clone()),
            Some(Err(problem)) => row.problem = Some(problem.clone()),
            None => {}
        }
    }
    Ok(Tags {
        rows,
        next_last: page.next_last,
    })
}

/// A tag's name, digest and push time (one timed read of its link).
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
    match registry.tag_target(repo, &tag).await? {
        Some((digest, pushed)) => {
            row.digest = Some(digest);
            row.pushed = pushed;
        }
        None => row.problem = Some("deleted while this page was read".into()),
    }
    Ok(row)
}

/// The summary of the manifest `digest` names in `repo`, or what is wrong with it.
async fn summary(
    registry: &Registry,
    repo: &RepositoryName,
    digest: &Digest,
) -> Result<Result<Summary, String>, RegistryError> {
    let stored = match registry
        .get_manifest(repo, &Reference::Digest(digest.clone()))
        .await
    {
        Ok(stored) => stored,
        Err(RegistryError::ManifestUnknown(_)) => {
            return Ok(Err("its manifest is missing from the repository".into()));
        }
        Err(e) => return Err(e),
    };
    match summarise(registry, repo, &stored).await {
        Ok(summary) => Ok(Ok(summary)),
        Err(RegistryError::ManifestInvalid(m)) => Ok(Err(m)),
        Err(e) => Err(e),
    }
}
