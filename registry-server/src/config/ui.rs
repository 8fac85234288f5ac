//! The `ui` section (this registry's own; the reference has no web view):
//!
//! ```yaml
//! ui:
//!   enabled: true   # serve the web view under <http.prefix>/ui/, and redirect / there
//! ```
//!
//! Off unless a configuration turns it on. The embedded development configuration (what
//! `registry serve` runs without a file) turns it on.

use super::{ConfigError, Section};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UiConfig {
    /// `ui.enabled`.
    pub enabled: bool,
}

pub(super) fn read(root: &Section<'_>, ignored: &mut Vec<String>) -> Result<UiConfig, ConfigError> {
    let ui = root.section("ui")?;
    ui.collect_unknown(&["enabled"], ignored);
    Ok(UiConfig {
        enabled: ui.bool("enabled", false)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn config(yaml: &str, env: &[(&str, &str)]) -> Result<Config, super::ConfigError> {
        let text = format!("version: 0.1\nstorage:\n  inmemory: {{}}\n{yaml}");
        Config::from_yaml(
            &text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn off_unless_turned_on() {
        assert!(!config("", &[]).unwrap().ui.enabled);
        assert!(config("ui:\n  enabled: true\n", &[]).unwrap().ui.enabled);
        assert!(
            config("", &[("REGISTRY_UI_ENABLED", "true")])
                .unwrap()
                .ui
                .enabled
        );
        assert!(
            !config(
                "ui:\n  enabled: true\n",
                &[("REGISTRY_UI_ENABLED", "false")]
            )
            .unwrap()
            .ui
            .enabled
        );
    }

    #[test]
    fn the_development_default_turns_it_on() {
        let default = Config::from_yaml(super::super::DEFAULT_CONFIG, Vec::new()).unwrap();
        assert!(default.ui.enabled);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = config("ui:\n  enabled: maybe\n", &[]).unwrap_err();
        assert_eq!(e.key, "ui.enabled");
        let e = config("ui: yes-please\n", &[]).unwrap_err();
        assert_eq!(e.key, "ui");
        let unknown = config("ui:\n  theme: dark\n", &[]).unwrap();
        assert!(unknown.ignored_keys.contains(&"ui.theme".to_owned()));
    }
}
