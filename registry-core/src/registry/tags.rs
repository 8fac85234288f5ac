//! Tag listing.

use super::Registry;
use super::error::{RegistryError, Result};
use super::pagination::{Page, paginate};
use crate::domain::{RepositoryName, Tag};
use crate::layout;

impl Registry {
    /// Every tag of `repo`, sorted; `None` when the repository has no tags directory (it was
    /// never tagged, or it does not exist).
    pub(crate) async fn all_tags(&self, repo: &RepositoryName) -> Result<Option<Vec<Tag>>> {
        let entries = match self.storage.list(&layout::tags_dir(repo)).await {
            Ok(entries) => entries,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut tags: Vec<Tag> = entries
            .iter()
            .filter_map(|p| p.file_name().parse().ok())
            .collect();
        tags.sort();
        Ok(Some(tags))
    }

    /// One page of `repo`'s tags in lexical order (`GET /v2/<name>/tags/list`).
    ///
    /// A repository without a tags directory is `NameUnknown`, as in the reference: a
    /// repository holding only blobs, or only manifests pushed by digest, is unknown to the
    /// tags API. Our drivers prune empty directories, so deleting the last tag makes it so
    /// too; an empty tags directory (left by the reference on a filesystem) lists no tags.
    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page> {
        let tags = self
            .all_tags(repo)
            .await?
            .ok_or_else(|| RegistryError::NameUnknown(repo.to_string()))?
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        Ok(paginate(tags, n, last))
    }
}
