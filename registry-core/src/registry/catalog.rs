//! The repository catalog.
//!
//! A repository is a directory below `repositories/` holding `_layers` (what the reference
//! looks for) or `_manifests` (drivers that prune empty directories drop `_layers` once every
//! blob link of a repository is deleted, and its manifests still make it a repository).
//!
//! # Order
//!
//! The reference returns repositories in the order its walk meets their `_layers`
//! directories: depth first, siblings in byte order. That is the order of `<name>/_layers`
//! compared component by component, so `a/0` comes before `a` (`0` sorts before `_layers`),
//! which comes before `a/b`, then `a/b-c`, `a-b`, `a.b`, `a_b`, `ab` (checked against CNCF
//! Distribution 2.8.2). This registry returns the same order and reads `last` in that same
//! order, so following `Link` headers yields every repository once. (The reference compares
//! `last` by name instead, so where a child component starts with a digit its pages repeat or
//! skip repositories; there the two differ.)
//!
//! # Cost
//!
//! The catalog lists directories of the name tree only: it never lists `_layers`,
//! `_manifests`, `_uploads` or any other `_` directory, skips every subtree that lies before
//! `last` without listing it, and stops as soon as it knows the page and whether another one
//! follows. A page of `n` costs about `n + 1` listings plus one per directory enclosing
//! `last`, however many repositories there are and whatever they hold.

use super::Registry;
use super::error::Result;
use super::pagination::Page;
use crate::layout;

/// The entry that marks a repository and where, among its children, it sorts.
const LAYERS: &str = "_layers";
const MANIFESTS: &str = "_manifests";

/// What the catalog does next, kept on a stack so that popping follows catalog order.
enum Step {
    /// List the directory of these name components (empty: the repositories root).
    List(Vec<String>),
    /// Report the repository of these components.
    Report(Vec<String>),
}

/// A position in catalog order: a repository's name components followed by `_layers`.
struct Key(Vec<String>);

impl Key {
    fn of_repository(name: &str) -> Key {
        Key(name
            .split('/')
            .map(str::to_owned)
            .chain([LAYERS.to_owned()])
            .collect())
    }

    fn cmp_components(&self, components: &[String]) -> std::cmp::Ordering {
        components.iter().cmp(self.0.iter())
    }

    /// True when something below the directory `components` may sort after this key: the
    /// directory sorts after it, or encloses it. Otherwise all of the subtree sorts before.
    fn subtree_may_follow(&self, components: &[String]) -> bool {
        self.0.starts_with(components) || self.cmp_components(components).is_gt()
    }

    /// True when the repository `components` sorts strictly after this key.
    fn repository_follows(&self, components: &[String]) -> bool {
        let mut key = components.to_vec();
        key.push(LAYERS.to_owned());
        key.as_slice().iter().cmp(self.0.iter()).is_gt()
    }
}

impl Registry {
    /// One page of repository names (`GET /v2/_catalog`), at most `catalog.maxentries` of
    /// them, in the reference's order (see the module docs).
    pub async fn catalog(&self, n: Option<usize>, last: Option<&str>) -> Result<Page> {
        self.catalog_filtered(n, last, &|_| true).await
    }

    /// [`Registry::catalog`] with only the repositories `visible` accepts: pages fill up
    /// with visible names, and `last`/`Link` only ever name visible ones. Hidden repositories
    /// are still walked (one `list` each), so a caller who may see little of a large
    /// registry pays for the walk past what it may not see.
    pub async fn catalog_filtered(
        &self,
        n: Option<usize>,
        last: Option<&str>,
        visible: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<Page> {
        let cap = self.settings.catalog_max_entries;
        let n = n.map_or(cap, |n| n.min(cap));
        if n == 0 {
            return Ok(Page {
                items: Vec::new(),
                next_last: None,
            });
        }
        let after = last.map(Key::of_repository);
        // One more than the page: whether it exists decides the `Link` to a next page.
        let wanted = n.saturating_add(1);
        let mut names: Vec<String> = Vec::new();
        let mut steps = vec![Step::List(Vec::new())];
        while names.len() < wanted
            && let Some(step) = steps.pop()
        {
            match step {
                Step::Report(components) => {
                    let name = components.join("/");
                    if visible(&name) {
                        names.push(name);
                    }
                }
                Step::List(components) => {
                    let next = self.catalog_steps(components, after.as_ref()).await?;
                    // Reversed, so that popping takes them in order.
                    steps.extend(next.into_iter().rev());
                }
            }
        }
        let more = names.len() > n;
        names.truncate(n);
        let next_last = if more { names.last().cloned() } else { None };
        Ok(Page {
            items: names,
            next_last,
        })
    }

    /// Lists one directory of the name tree and says, in catalog order, which child
    /// directories to list and where the directory itself is reported as a repository.
    async fn catalog_steps(
        &self,
        components: Vec<String>,
        after: Option<&Key>,
    ) -> Result<Vec<Step>> {
        let mut dir = layout::repositories_root();
        for component in &components {
            dir.push('/');
            dir.push_str(component);
        }
        let children = match self.storage.list(&dir).await {
            Ok(children) => children,
            // Gone since its parent was listed, a stray file, or no repository ever pushed.
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut is_repository = false;
        let mut below: Vec<String> = Vec::new();
        for child in &children {
            let name = child.file_name();
            if name == LAYERS || name == MANIFESTS {
                is_repository = !components.is_empty();
            } else if !name.starts_with('_') {
                below.push(name.to_owned());
            }
        }
        below.sort_unstable();
        let report = is_repository && after.is_none_or(|key| key.repository_follows(&components));
        let mut steps = Vec::with_capacity(below.len() + 1);
        let mut reported = !report;
        for name in below {
            if !reported && name.as_str() > LAYERS {
                steps.push(Step::Report(components.clone()));
                reported = true;
            }
            let mut child = components.clone();
            child.push(name);
            if after.is_none_or(|key| key.subtree_may_follow(&child)) {
                steps.push(Step::List(child));
            }
        }
        if !reported {
            steps.push(Step::Report(components));
        }
        Ok(steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn components(name: &str) -> Vec<String> {
        name.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn orders_repositories_like_the_reference() {
        // CNCF Distribution 2.8.2's answer for these names, in this order.
        let order = [
            "a/0", "a", "a/b/0c", "a/b", "a/b/c", "a/b-c", "a-b", "a.b", "a0", "a_b", "ab", "b",
            "b/a",
        ];
        for (i, earlier) in order.iter().enumerate() {
            let key = Key::of_repository(earlier);
            for later in &order[i + 1..] {
                assert!(
                    key.repository_follows(&components(later)),
                    "{earlier} < {later}"
                );
            }
            for not_later in &order[..=i] {
                assert!(
                    !key.repository_follows(&components(not_later)),
                    "{not_later} is not after {earlier}"
                );
            }
        }
    }

    #[test]
    fn skips_only_subtrees_that_lie_before_last() {
        let key = Key::of_repository("a/b");
        // Enclosing directories must be listed; so must those after the key.
        for dir in ["a", "a/b", "a/b/c", "a-b", "b"] {
            assert!(key.subtree_may_follow(&components(dir)), "{dir}");
        }
        // `a/0` and everything below `a/b/0c` come before `a/b`.
        for dir in ["a/0", "a/b/0c", "0"] {
            assert!(!key.subtree_may_follow(&components(dir)), "{dir}");
        }
    }
}
