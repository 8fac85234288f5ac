//! The `retention` section (this project's own; zot and Harbor have similar policies),
//! applied by the online collector and by `registry garbage-collect --retention`:
//!
//! ```yaml
//! retention:
//!   dryrun: false                  # only log what would go
//!   policies:                      # the first whose pattern matches a repository applies
//!     - repositories: "library/*"  # glob: * within a name component, ** across
//!       keeplast: 10               # keep the 10 most recently pushed tags
//!       keeptags: "v[0-9]+(\\..*)?" # and every tag matching this (whole-tag) regex
//!       untaggedolderthan: 168h    # remove manifests no tag reaches after a week
//! ```

use registry_core::lifecycle::retention::{Policies, Policy};
use serde_json::Value;

use super::{ConfigError, Section, parse_duration};

/// `None` when the section is absent.
pub(super) fn read(
    root: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<Option<Policies>, ConfigError> {
    if root.value("retention").is_none() {
        return Ok(None);
    }
    let retention = root.section("retention")?;
    retention.collect_unknown(&["dryrun", "policies"], ignored);
    let dry_run = retention.bool("dryrun", false)?;
    let entries = match retention.value("policies") {
        None => Vec::new(),
        Some(Value::Array(entries)) => entries.clone(),
        Some(_) => return Err(retention.error("policies", "must be a list of policies")),
    };
    let mut policies = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("retention.policies[{i}]");
        let Value::Object(map) = entry else {
            return Err(ConfigError::new(path, "must be a mapping"));
        };
        let section = Section { path, map };
        section.collect_unknown(
            &["repositories", "keeplast", "keeptags", "untaggedolderthan"],
            ignored,
        );
        let pattern = section
            .string("repositories")?
            .ok_or_else(|| section.error("repositories", "is required"))?;
        let keep_last = match section.value("keeplast") {
            Some(_) => Some(section.count("keeplast", 1)?),
            None => None,
        };
        let keep_tags = section.string("keeptags")?;
        let untagged = section
            .string("untaggedolderthan")?
            .map(|t| parse_duration(&t).map_err(|m| section.error("untaggedolderthan", m)))
            .transpose()?;
        let policy =
            Policy::new(&pattern, keep_last, keep_tags.as_deref(), untagged).map_err(|m| {
                let key = if m.contains("regular expression") {
                    "keeptags"
                } else {
                    "repositories"
                };
                section.error(key, m)
            })?;
        policies.push(policy);
    }
    Ok(Some(Policies { policies, dry_run }))
}
