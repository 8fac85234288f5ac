//! Tag listing.

use super::Registry;
use super::error::{RegistryError, Result};
use super::pagination::{Page, paginate};
use crate::domain::{RepositoryName, Tag};
use crate::layout;

impl Registry {
    /// Every tag of `repo`, sorted; `NameUnknown` when the repository does not exist.
    pub(crate) async fn all_tags(&self, repo: &RepositoryName) -> Result<Vec<Tag>> {
        let entries = match self.storage.list(&layout::tags_dir(repo)).await {
            Ok(entries) => entries,
            Err(e) if e.is_not_found() => {
                return match self.storage.stat(&layout::repository(repo)).await {
                    Ok(_) => Ok(Vec::new()),
                    Err(e) if e.is_not_found() => Err(RegistryError::NameUnknown(repo.to_string())),
                    Err(e) => Err(e.into()),
                };
            }
            Err(e) => return Err(e.into()),
        };
        let mut tags: Vec<Tag> = entries
            .iter()
            .filter_map(|p| p.file_name().parse().ok())
            .collect();
        tags.sort();
        Ok(tags)
    }

    /// One page of `repo`'s tags in lexical order (`GET /v2/<name>/tags/list`).
    pub async fn list_tags(
        &self,
        repo: &RepositoryName,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<Page> {
        let tags = self
            .all_tags(repo)
            .await?
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        Ok(paginate(tags, n, last))
    }
}
