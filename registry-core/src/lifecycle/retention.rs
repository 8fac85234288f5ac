//! Retention policies (this project's own; the reference has none): per repository name
//! pattern, which tags stay and how long untagged manifests stay.
//!
//! A tag stays when it is among the `keep_last` most recently pushed tags of its repository
//! (by the time of its `current` link) or matches `keep_tags`; with neither set, every tag
//! stays. Manifests that no remaining tag reaches (directly, through an index, or as a
//! referrer of a kept manifest) go once their revision is older than `untagged_older_than`,
//! through the collector's protocol like `--delete-untagged`. The first policy whose pattern
//! matches a repository applies to it; repositories no pattern matches are left alone.
//!
//! A tag is removed only if its `current` link is unchanged since the decision (re-read just
//! before the delete), so a tag pushed meanwhile stays, except for a push landing between that
//! re-read and the delete: one storage call's window, in which the newer push's manifest still
//! stays as an untagged revision for the grace window.

use std::time::{Duration, SystemTime};

use globset::{GlobBuilder, GlobMatcher};
use regex::Regex;

use crate::domain::{Digest, RepositoryName, Tag};

/// One policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The pattern as configured, for reports.
    pub pattern: String,
    repositories: GlobMatcher,
    pub keep_last: Option<usize>,
    pub keep_tags: Option<Regex>,
    pub untagged_older_than: Option<Duration>,
}

impl Policy {
    /// `pattern` is a glob over repository names: `*` within one path component, `**` across
    /// components (`library/*`, `team-a/**`, `**`).
    pub fn new(
        pattern: &str,
        keep_last: Option<usize>,
        keep_tags: Option<&str>,
        untagged_older_than: Option<Duration>,
    ) -> Result<Policy, String> {
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("{pattern:?} is not a repository pattern: {e}"))?;
        let keep_tags = keep_tags
            .map(|re| {
                // Anchored: a tag pattern names whole tags.
                Regex::new(&format!("^(?:{re})$"))
                    .map_err(|e| format!("{re:?} is not a regular expression: {e}"))
            })
            .transpose()?;
        Ok(Policy {
            pattern: pattern.to_owned(),
            repositories: glob.compile_matcher(),
            keep_last,
            keep_tags,
            untagged_older_than,
        })
    }

    pub fn matches(&self, repo: &RepositoryName) -> bool {
        self.repositories.is_match(repo.as_str())
    }

    /// The tags this policy removes from `tags` (`(tag, digest, pushed)`).
    pub fn tags_to_remove(&self, tags: &[(Tag, Digest, SystemTime)]) -> Vec<Tag> {
        if self.keep_last.is_none() && self.keep_tags.is_none() {
            return Vec::new();
        }
        let mut by_age: Vec<&(Tag, Digest, SystemTime)> = tags.iter().collect();
        // Newest first; equal times by name, so the outcome does not depend on listing order.
        by_age.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        by_age
            .into_iter()
            .enumerate()
            .filter(|(rank, (tag, _, _))| {
                let recent = self.keep_last.is_some_and(|n| *rank < n);
                let pinned = self
                    .keep_tags
                    .as_ref()
                    .is_some_and(|re| re.is_match(tag.as_str()));
                !(recent || pinned)
            })
            .map(|(_, (tag, _, _))| tag.clone())
            .collect()
    }
}

/// The configured policies, first match wins.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub policies: Vec<Policy>,
    /// Only list what would go.
    pub dry_run: bool,
}

impl Policies {
    pub fn for_repository(&self, repo: &RepositoryName) -> Option<&Policy> {
        self.policies.iter().find(|p| p.matches(repo))
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_and_pinned_tags() {
        let policy = Policy::new("library/*", Some(2), Some("v[0-9]+|stable"), None).unwrap();
        let d = Digest::sha256_of(b"x");
        let t = |name: &str, secs: u64| {
            (
                name.parse::<Tag>().unwrap(),
                d.clone(),
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            )
        };
        let tags = vec![
            t("a", 1),
            t("b", 5),
            t("c", 3),
            t("v1", 0),
            t("stable", 0),
            t("v1-rc", 0),
        ];
        let mut removed: Vec<String> = policy
            .tags_to_remove(&tags)
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        removed.sort();
        assert_eq!(removed, vec!["a", "v1-rc"]);
        assert!(policy.matches(&"library/x".parse().unwrap()));
        assert!(!policy.matches(&"library/x/y".parse().unwrap()));
        assert!(Policy::new("**", None, Some("("), None).is_err());
    }
}
