//! Where operators read health and metrics: the reference's `http.debug` listener (`addr`,
//! `prometheus.enabled`, `prometheus.path`), and this registry's own `http.metrics.enabled`,
//! which also serves the metrics on the main listener at `<http.prefix>/metrics` (off by
//! default: the main listener faces clients, and metrics are for operators).

use std::net::SocketAddr;

use super::{ConfigError, Section, parse_addr};

/// The reference's default `http.debug.prometheus.path`.
pub const DEFAULT_METRICS_PATH: &str = "/metrics";

/// The health endpoint on the debug listener.
pub const HEALTH_PATH: &str = "/debug/health";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DebugConfig {
    /// `http.debug.addr`: the debug listener, when set.
    pub addr: Option<SocketAddr>,
    /// `http.debug.prometheus.path` when `http.debug.prometheus.enabled`.
    pub metrics_path: Option<String>,
    /// `http.metrics.enabled` (this registry's own key): metrics on the main listener too.
    pub metrics_on_main: bool,
}

pub(super) fn read(
    http: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<DebugConfig, ConfigError> {
    let debug = http.section("debug")?;
    debug.collect_unknown(&["addr", "prometheus"], ignored);
    let addr = match debug.string("addr")? {
        None => None,
        Some(text) => Some(parse_addr(&text).map_err(|m| debug.error("addr", m))?),
    };
    let prometheus = debug.section("prometheus")?;
    prometheus.collect_unknown(&["enabled", "path"], ignored);
    let metrics_path = if prometheus.bool("enabled", false)? {
        let path = prometheus
            .string("path")?
            .unwrap_or_else(|| DEFAULT_METRICS_PATH.to_owned());
        if !path.starts_with('/') || path.contains(['?', '#', ' ']) {
            return Err(prometheus.error("path", format!("{path:?} is not an absolute URL path")));
        }
        if path == HEALTH_PATH {
            return Err(prometheus.error("path", format!("{HEALTH_PATH} is the health endpoint")));
        }
        if addr.is_none() {
            // The reference accepts this and serves the metrics nowhere: a warning, not an
            // error, so that its config files still start this registry.
            ignored.push(format!(
                "{} (no http.debug.addr to serve the metrics on)",
                prometheus.key_path("enabled")
            ));
            return Ok(DebugConfig {
                addr,
                metrics_path: None,
                metrics_on_main: main_metrics(http, ignored)?,
            });
        }
        Some(path)
    } else {
        None
    };
    Ok(DebugConfig {
        addr,
        metrics_path,
        metrics_on_main: main_metrics(http, ignored)?,
    })
}

fn main_metrics(http: &Section<'_>, ignored: &mut Vec<String>) -> Result<bool, ConfigError> {
    let metrics = http.section("metrics")?;
    metrics.collect_unknown(&["enabled"], ignored);
    metrics.bool("enabled", false)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn config(yaml: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(&format!("storage: {{inmemory: {{}}}}\n{yaml}"), Vec::new())
    }

    #[test]
    fn reads_the_references_debug_section() {
        let config = config(
            "http:\n  debug:\n    addr: localhost:5001\n    prometheus:\n      enabled: true\n      path: /metrics\n",
        )
        .unwrap();
        assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
        let debug = config.http.debug;
        assert_eq!(debug.addr.map(|a| a.port()), Some(5001));
        assert_eq!(debug.metrics_path.as_deref(), Some("/metrics"));
        assert!(!debug.metrics_on_main);
    }

    #[test]
    fn defaults_no_listener_and_no_metrics_on_the_main_listener() {
        let debug = config("").unwrap().http.debug;
        assert_eq!(debug.addr, None);
        assert_eq!(debug.metrics_path, None);
        assert!(!debug.metrics_on_main);
        let debug =
            config("http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n")
                .unwrap()
                .http
                .debug;
        assert_eq!(debug.metrics_path.as_deref(), Some("/metrics"));
        assert_eq!(
            debug.addr.map(|a| a.to_string()).as_deref(),
            Some("0.0.0.0:5001")
        );
    }

    #[test]
    fn metrics_on_the_main_listener_by_file_or_environment() {
        assert!(
            config("http:\n  metrics:\n    enabled: true\n")
                .unwrap()
                .http
                .debug
                .metrics_on_main
        );
        let config = Config::from_yaml(
            "storage: {inmemory: {}}",
            vec![(
                "REGISTRY_HTTP_METRICS_ENABLED".to_owned(),
                "true".to_owned(),
            )],
        )
        .unwrap();
        assert!(config.http.debug.metrics_on_main);
    }

    #[test]
    fn prometheus_without_a_debug_listener_is_a_warning_as_the_reference_accepts_it() {
        let config = config("http:\n  debug:\n    prometheus:\n      enabled: true\n").unwrap();
        assert_eq!(config.http.debug.metrics_path, None);
        assert_eq!(config.ignored_keys.len(), 1);
        assert!(config.ignored_keys[0].starts_with("http.debug.prometheus.enabled"));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("http:\n  debug:\n    addr: nowhere\n", "http.debug.addr"),
            (
                "http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: yes please\n",
                "http.debug.prometheus.enabled",
            ),
            (
                "http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n      path: metrics\n",
                "http.debug.prometheus.path",
            ),
            (
                "http:\n  debug:\n    addr: :5001\n    prometheus:\n      enabled: true\n      path: /debug/health\n",
                "http.debug.prometheus.path",
            ),
            (
                "http:\n  metrics:\n    enabled: 2\n",
                "http.metrics.enabled",
            ),
        ];
        for (yaml, key) in cases {
            let error = config(yaml).expect_err(yaml);
            assert_eq!(error.key, key, "{yaml}: {error}");
        }
    }
}
