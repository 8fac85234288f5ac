//! The `access` section, this registry's own (the reference has none): a per-repository
//! policy for registries whose users come from `auth.htpasswd`.
//!
//! ```yaml
//! access:
//!   groups:
//!     developers: [alice, bob]
//!   rules:                       # each: repositories (globs), users and/or groups, actions
//!     - repositories: ["team/**"]
//!       groups: [developers]
//!       actions: [pull, push]
//!   anonymous:                   # what callers without credentials may do
//!     - repositories: ["library/*"]
//!       actions: [pull]
//!   default: [pull]              # what every signed-in user may do everywhere (default: nothing)
//! ```

use std::collections::HashMap;

use serde_json::Value;

use super::{ConfigError, Section};
use crate::auth::access::{Action, ActionSet};
use crate::auth::{Policy, Rule};

pub(super) fn read(
    root: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<Option<Policy>, ConfigError> {
    if root.value("access").is_none() {
        return Ok(None);
    }
    let access = root.section("access")?;
    access.collect_unknown(&["groups", "rules", "anonymous", "default"], ignored);
    let groups_section = access.section("groups")?;
    let mut groups: HashMap<String, Vec<String>> = HashMap::new();
    for name in groups_section.map.keys() {
        let members = groups_section.strings(name)?.unwrap_or_default();
        groups.insert(name.clone(), members);
    }
    let rules = rules(&access, "rules", &groups, true)?;
    let anonymous = rules_anonymous(&access)?;
    let default = match access.strings("default")? {
        None => ActionSet::NONE,
        Some(names) => actions(&access, "default", &names)?,
    };
    Ok(Some(Policy::new(groups, rules, anonymous, default)))
}

fn rules_anonymous(access: &Section<'_>) -> Result<Vec<Rule>, ConfigError> {
    rules(access, "anonymous", &HashMap::new(), false)
}

fn rules(
    access: &Section<'_>,
    key: &str,
    groups: &HashMap<String, Vec<String>>,
    for_users: bool,
) -> Result<Vec<Rule>, ConfigError> {
    let entries = match access.value(key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(access.error(key, "must be a list of rules")),
    };
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let path = access.key_path(&format!("{key}[{i}]"));
        let Value::Object(map) = entry else {
            return Err(ConfigError::new(path, "must be a mapping"));
        };
        let rule = Section { path, map };
        let known: &[&str] = if for_users {
            &["repositories", "users", "groups", "actions"]
        } else {
            &["repositories", "actions"]
        };
        let mut unknown = Vec::new();
        rule.collect_unknown(known, &mut unknown);
        if let Some(first) = unknown.first() {
            return Err(ConfigError::new(
                first.clone(),
                "is not a key of an access rule",
            ));
        }
        let repositories = rule.strings("repositories")?.unwrap_or_default();
        if repositories.is_empty() {
            return Err(rule.error("repositories", "is required: repository name globs"));
        }
        let users = rule.strings("users")?.unwrap_or_default();
        let rule_groups = rule.strings("groups")?.unwrap_or_default();
        if for_users && users.is_empty() && rule_groups.is_empty() {
            return Err(rule.error(
                "users",
                "a rule needs users or groups (use default or anonymous for everyone)",
            ));
        }
        if let Some(unknown) = rule_groups.iter().find(|g| !groups.contains_key(*g)) {
            return Err(rule.error(
                "groups",
                format!("{unknown:?} is not a group of access.groups"),
            ));
        }
        let names = rule.strings("actions")?.unwrap_or_default();
        if names.is_empty() {
            return Err(rule.error("actions", "is required: pull, push, delete or *"));
        }
        let actions = actions(&rule, "actions", &names)?;
        let built = Rule::new(&repositories, users, rule_groups, actions)
            .map_err(|e| rule.error("repositories", e.to_string()))?;
        rules.push(built);
    }
    Ok(rules)
}

fn actions(section: &Section<'_>, key: &str, names: &[String]) -> Result<ActionSet, ConfigError> {
    names
        .iter()
        .map(|name| {
            Action::parse(name).ok_or_else(|| {
                section.error(key, format!("{name:?} is not pull, push, delete or *"))
            })
        })
        .collect()
}
