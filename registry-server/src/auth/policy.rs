//! This registry's per-repository policy (the `access` config section), for deployments
//! with htpasswd users and no token service: rules of repository globs → users and groups
//! → actions, rules for anonymous callers, and actions every signed-in user has.
//!
//! A caller's actions on a repository are the union of every rule that matches both the
//! repository and the caller, plus `default` for signed-in users; signed-in users also have
//! what anonymous callers have. No rule ever takes an action away, so the order of rules
//! does not matter.

use std::collections::{HashMap, HashSet};

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::access::ActionSet;

/// One rule: repositories matching any pattern, for the listed users and groups.
#[derive(Debug, Clone)]
pub struct Rule {
    repositories: GlobSet,
    users: HashSet<String>,
    groups: HashSet<String>,
    actions: ActionSet,
}

impl Rule {
    /// `patterns` are globs over repository names: `*` stays within one path component,
    /// `**` spans several (`team/**` is everything below `team/`), `?`, `[..]`, `{a,b}`.
    pub fn new(
        patterns: &[String],
        users: Vec<String>,
        groups: Vec<String>,
        actions: ActionSet,
    ) -> Result<Rule, globset::Error> {
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            set.add(glob(pattern)?);
        }
        Ok(Rule {
            repositories: set.build()?,
            users: users.into_iter().collect(),
            groups: groups.into_iter().collect(),
            actions,
        })
    }

    fn applies_to(&self, user: &str, groups: &[String]) -> bool {
        self.users.contains(user) || groups.iter().any(|g| self.groups.contains(g))
    }
}

fn glob(pattern: &str) -> Result<Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
}

#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// user → the groups listing it.
    groups_of: HashMap<String, Vec<String>>,
    rules: Vec<Rule>,
    /// Rules for callers without credentials (their users and groups are ignored).
    anonymous: Vec<Rule>,
    /// What every signed-in user may do on every repository.
    default: ActionSet,
}

impl Policy {
    pub fn new(
        groups: HashMap<String, Vec<String>>,
        rules: Vec<Rule>,
        anonymous: Vec<Rule>,
        default: ActionSet,
    ) -> Policy {
        let mut groups_of: HashMap<String, Vec<String>> = HashMap::new();
        for (group, members) in groups {
            for member in members {
                groups_of.entry(member).or_default().push(group.clone());
            }
        }
        Policy {
            groups_of,
            rules,
            anonymous,
            default,
        }
    }

    /// What `user` (`None`: anonymous) may do on `repository`.
    pub fn actions(&self, user: Option<&str>, repository: &str) -> ActionSet {
        let anonymous = self
            .anonymous
            .iter()
            .filter(|rule| rule.repositories.is_match(repository))
            .fold(ActionSet::NONE, |set, rule| set.union(rule.actions));
        let Some(user) = user else {
            return anonymous;
        };
        let groups = self
            .groups_of
            .get(user)
            .map(Vec::as_slice)
            .unwrap_or_default();
        self.rules
            .iter()
            .filter(|rule| rule.applies_to(user, groups) && rule.repositories.is_match(repository))
            .fold(anonymous.union(self.default), |set, rule| {
                set.union(rule.actions)
            })
    }

    /// Whether anonymous callers may see anything at all (then they may list the catalog,
    /// filtered to what they may pull).
    pub fn has_anonymous_access(&self) -> bool {
        self.anonymous.iter().any(|rule| !rule.actions.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::super::access::Action;
    use super::*;

    fn rule(patterns: &[&str], users: &[&str], groups: &[&str], actions: &[Action]) -> Rule {
        Rule::new(
            &patterns.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            users.iter().map(|u| u.to_string()).collect(),
            groups.iter().map(|g| g.to_string()).collect(),
            actions.iter().copied().collect(),
        )
        .unwrap()
    }

    fn policy() -> Policy {
        Policy::new(
            HashMap::from([(
                "devs".to_owned(),
                vec!["bob".to_owned(), "carol".to_owned()],
            )]),
            vec![
                rule(&["team/**"], &[], &["devs"], &[Action::Pull, Action::Push]),
                rule(&["team/secret"], &["alice"], &[], &[Action::All]),
                rule(&["tools/*"], &["carol"], &[], &[Action::Delete]),
            ],
            vec![rule(&["library/*"], &[], &[], &[Action::Pull])],
            ActionSet::NONE.with(Action::Pull),
        )
    }

    #[test]
    fn unions_matching_rules() {
        let p = policy();
        let pull = ActionSet::NONE.with(Action::Pull);
        let pull_push = pull.with(Action::Push);
        assert_eq!(p.actions(None, "library/alpine"), pull);
        assert_eq!(
            p.actions(None, "library/a/b"),
            ActionSet::NONE,
            "* is one component"
        );
        assert_eq!(p.actions(None, "team/app"), ActionSet::NONE);
        assert_eq!(p.actions(Some("bob"), "team/app"), pull_push);
        assert_eq!(
            p.actions(Some("bob"), "team/a/b/c"),
            pull_push,
            "** spans components"
        );
        assert_eq!(
            p.actions(Some("bob"), "team"),
            pull,
            "team/** is below team/"
        );
        assert_eq!(p.actions(Some("alice"), "team/secret"), ActionSet::ALL);
        assert_eq!(
            p.actions(Some("alice"), "team/app"),
            pull,
            "default for signed-in users"
        );
        assert_eq!(
            p.actions(Some("carol"), "tools/x"),
            pull.with(Action::Delete)
        );
        assert_eq!(p.actions(Some("dave"), "library/alpine"), pull);
        assert!(p.has_anonymous_access());
    }

    #[test]
    fn bad_globs_are_errors() {
        assert!(Rule::new(&["a/[".to_owned()], vec![], vec![], ActionSet::ALL).is_err());
    }
}
