//! The configuration as a tree of values: the YAML document with `REGISTRY_...` environment
//! overrides applied, before it is read into typed settings.

use serde_json::{Map, Value};

use super::ConfigError;

/// The top-level sections this registry reads; an environment variable may override only
/// these. Other `REGISTRY_*` variables (say, a test harness's own) are not configuration.
pub(super) const SECTIONS: &[&str] = &[
    "version",
    "log",
    "storage",
    "http",
    "catalog",
    "validation",
    "middleware",
    "auth",
    "access",
    "redis",
    "health",
    "proxy",
    "ui",
    "gc",
    "retention",
];

/// Keys under `storage` that configure the registry, not a driver.
pub const STORAGE_SETTINGS: &[&str] = &["delete", "redirect", "maintenance", "cache", "tag"];

pub fn parse_yaml(text: &str) -> Result<Value, ConfigError> {
    let value: Value = serde_saphyr::from_str(text)
        .map_err(|e| ConfigError::new("config file", format!("not valid YAML: {e}")))?;
    match value {
        Value::Object(_) => Ok(value),
        Value::Null => Ok(Value::Object(Map::new())),
        _ => Err(ConfigError::new("config file", "must be a mapping")),
    }
}

/// Applies `REGISTRY_<SECTION>_<KEY>...` variables: each `_` descends one level, keys match
/// case-insensitively. `REGISTRY_STORAGE=<driver>` switches the storage driver.
pub fn apply_env(tree: &mut Value, vars: impl IntoIterator<Item = (String, String)>) {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("REGISTRY_"))
        .collect();
    // The driver and access-controller switches first, so that their parameters land under
    // the new driver or controller.
    vars.sort_by_key(|(k, _)| k != "REGISTRY_STORAGE" && k != "REGISTRY_AUTH");
    for (key, value) in vars {
        let path: Vec<String> = key["REGISTRY_".len()..]
            .split('_')
            .map(str::to_ascii_lowercase)
            .collect();
        if !SECTIONS.contains(&path[0].as_str()) || path.iter().any(String::is_empty) {
            continue;
        }
        if path == ["storage"] {
            switch_driver(tree, &value.to_ascii_lowercase());
        } else if path == ["auth"] {
            switch_auth(tree, &value.to_ascii_lowercase());
        } else {
            set(tree, &path, Value::String(value));
        }
    }
}

fn switch_driver(tree: &mut Value, driver: &str) {
    let storage = as_map(child(tree, "storage"));
    storage.retain(|k, _| STORAGE_SETTINGS.contains(&k.to_ascii_lowercase().as_str()));
    storage.insert(driver.to_owned(), Value::Object(Map::new()));
}

/// `REGISTRY_AUTH=htpasswd` (as the reference's documentation uses it): that controller,
/// keeping its settings from the file if it was the one configured. Empty names no
/// controller, which the `auth` reader refuses: an environment variable never silently
/// turns access control off.
fn switch_auth(tree: &mut Value, kind: &str) {
    let auth = as_map(child(tree, "auth"));
    auth.retain(|k, _| k.eq_ignore_ascii_case(kind));
    if auth.is_empty() {
        auth.insert(kind.to_owned(), Value::Object(Map::new()));
    }
}

fn set(tree: &mut Value, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = tree;
    for key in parents {
        node = child(node, key);
    }
    let map = as_map(node);
    let key = matching_key(map, last);
    map.insert(key, value);
}

/// The mapping `node` holds, replacing a scalar (or null) with an empty mapping.
fn as_map(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    match node {
        Value::Object(map) => map,
        _ => unreachable!("replaced by a mapping above"),
    }
}

/// The value at `key` in the mapping `node`, created as an empty mapping when absent.
fn child<'a>(node: &'a mut Value, key: &str) -> &'a mut Value {
    let map = as_map(node);
    let key = matching_key(map, key);
    map.entry(key).or_insert_with(|| Value::Object(Map::new()))
}

/// The existing spelling of `key` in `map` (keys match case-insensitively), or `key` itself.
fn matching_key(map: &Map<String, Value>, key: &str) -> String {
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_owned())
}
