//! The repository catalog.

use super::Registry;
use super::error::Result;
use super::pagination::{Page, paginate};
use crate::layout;
use crate::storage::WalkControl;

impl Registry {
    /// One page of repository names in lexical order (`GET /v2/_catalog`), at most
    /// `catalog.maxentries` of them.
    ///
    /// A repository is a directory holding `_layers` (what the reference looks for) or
    /// `_manifests`: drivers that prune empty directories drop `_layers` once every blob link
    /// of a repository is deleted, and its manifests still make it a repository. The walk skips
    /// every `_` directory, so it visits only the directories that make up repository names,
    /// never their content.
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<Page> {
        let root = layout::repositories_root();
        let prefix_len = root.len() + 1;
        let mut names = Vec::new();
        let walked = self
            .storage
            .walk(&root, None, &mut |info| {
                if !info.is_dir {
                    return Ok(WalkControl::Continue);
                }
                let name = info.path.file_name();
                if name == "_layers" || name == "_manifests" {
                    let repo = info.path.parent();
                    names.push(repo.as_str()[prefix_len..].to_owned());
                }
                Ok(if name.starts_with('_') {
                    WalkControl::SkipDir
                } else {
                    WalkControl::Continue
                })
            })
            .await;
        match walked {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        names.sort();
        names.dedup();
        let cap = self.settings.catalog_max_entries;
        let n = Some(n.map_or(cap, |n| n.min(cap)));
        Ok(paginate(names, n, last))
    }
}
