//! The `health` section, with the reference's keys and defaults: `storagedriver` (`enabled`,
//! `interval`, `threshold`), and lists of `file` (`file`, `interval`), `http` (`uri`,
//! `headers`, `statuscode`, `timeout`, `interval`, `threshold`) and `tcp` (`addr`, `timeout`,
//! `interval`, `threshold`) checks.
//!
//! Differences from the reference, both about values it would misread: a duration without a
//! unit is seconds here (the reference reads nanoseconds), and a check's `timeout` defaults to
//! its interval (the reference waits without limit).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::{ConfigError, Section, parse_duration};
use crate::health::Schedule;

/// The reference's `defaultCheckInterval`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthConfig {
    /// `health.storagedriver`, when `enabled`.
    pub storage_driver: Option<Schedule>,
    pub files: Vec<FileCheckConfig>,
    pub http: Vec<HttpCheckConfig>,
    pub tcp: Vec<TcpCheckConfig>,
}

impl HealthConfig {
    pub fn is_empty(&self) -> bool {
        self.storage_driver.is_none()
            && self.files.is_empty()
            && self.http.is_empty()
            && self.tcp.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileCheckConfig {
    pub path: PathBuf,
    /// File checks have no threshold in the reference: one sighting reports.
    pub interval: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheckConfig {
    pub uri: String,
    /// Header name and value, once per value.
    pub headers: Vec<(String, String)>,
    pub status: u16,
    pub timeout: Duration,
    pub schedule: Schedule,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpCheckConfig {
    pub addr: String,
    pub timeout: Duration,
    pub schedule: Schedule,
}

pub(super) fn read(
    root: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<HealthConfig, ConfigError> {
    let health = root.section("health")?;
    health.collect_unknown(&["storagedriver", "file", "http", "tcp"], ignored);

    let storage = health.section("storagedriver")?;
    storage.collect_unknown(&["enabled", "interval", "threshold"], ignored);
    let storage_driver = if storage.bool("enabled", false)? {
        Some(schedule(&storage)?)
    } else {
        None
    };

    let files = entries(&health, "file")?
        .iter()
        .map(|entry| {
            entry.collect_unknown(&["file", "interval"], ignored);
            let path = entry
                .string("file")?
                .ok_or_else(|| entry.error("file", "is required"))?;
            Ok(FileCheckConfig {
                path: PathBuf::from(path),
                interval: interval(entry)?,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;

    let http = entries(&health, "http")?
        .iter()
        .map(|entry| {
            entry.collect_unknown(
                &[
                    "uri",
                    "headers",
                    "statuscode",
                    "timeout",
                    "interval",
                    "threshold",
                ],
                ignored,
            );
            let uri = entry
                .string("uri")?
                .ok_or_else(|| entry.error("uri", "is required"))?;
            match reqwest::Url::parse(&uri) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                Ok(_) => return Err(entry.error("uri", format!("{uri:?} is not an http(s) URL"))),
                Err(e) => return Err(entry.error("uri", format!("{uri:?} is not a URL: {e}"))),
            }
            let status = match entry.value("statuscode") {
                None => 200,
                Some(_) => {
                    let code = entry.count("statuscode", 200)?;
                    u16::try_from(code)
                        .ok()
                        .filter(|c| (100..=599).contains(c))
                        .ok_or_else(|| {
                            entry.error("statuscode", format!("{code} is not an HTTP status code"))
                        })?
                }
            };
            let schedule = schedule(entry)?;
            Ok(HttpCheckConfig {
                headers: headers(entry)?,
                uri,
                status,
                timeout: timeout(entry, schedule.interval)?,
                schedule,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;

    let tcp = entries(&health, "tcp")?
        .iter()
        .map(|entry| {
            entry.collect_unknown(&["addr", "timeout", "interval", "threshold"], ignored);
            let addr = entry
                .string("addr")?
                .ok_or_else(|| entry.error("addr", "is required"))?;
            let port = addr.rsplit_once(':').map(|(_, port)| port);
            if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
                return Err(entry.error(
                    "addr",
                    format!("{addr:?} is not host:port (the port is required)"),
                ));
            }
            let schedule = schedule(entry)?;
            Ok(TcpCheckConfig {
                addr,
                timeout: timeout(entry, schedule.interval)?,
                schedule,
            })
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;

    Ok(HealthConfig {
        storage_driver,
        files,
        http,
        tcp,
    })
}

/// The list at `key`: each item a mapping, named `health.<key>[i]` in errors.
fn entries<'a>(health: &Section<'a>, key: &str) -> Result<Vec<Section<'a>>, ConfigError> {
    match health.value(key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(Section {
                    path: format!("{}[{i}]", health.key_path(key)),
                    map,
                }),
                _ => Err(ConfigError::new(
                    format!("{}[{i}]", health.key_path(key)),
                    "must be a mapping",
                )),
            })
            .collect(),
        Some(_) => Err(health.error(key, "must be a list")),
    }
}

fn positive_duration(section: &Section<'_>, key: &str) -> Result<Option<Duration>, ConfigError> {
    let Some(text) = section.string(key)? else {
        return Ok(None);
    };
    let value = parse_duration(&text).map_err(|m| section.error(key, m))?;
    if value.is_zero() {
        return Err(section.error(key, "must be longer than zero"));
    }
    Ok(Some(value))
}

fn interval(section: &Section<'_>) -> Result<Duration, ConfigError> {
    Ok(positive_duration(section, "interval")?.unwrap_or(DEFAULT_INTERVAL))
}

fn timeout(section: &Section<'_>, interval: Duration) -> Result<Duration, ConfigError> {
    Ok(positive_duration(section, "timeout")?.unwrap_or(interval))
}

/// `interval` and `threshold` (0 or absent: one failure reports, as in the reference).
fn schedule(section: &Section<'_>) -> Result<Schedule, ConfigError> {
    let threshold = match section.value("threshold") {
        None => 1,
        Some(value) => {
            let parsed = match value {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            let n = parsed
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| section.error("threshold", "must be a non-negative integer"))?;
            n.max(1)
        }
    };
    Ok(Schedule {
        interval: interval(section)?,
        threshold,
    })
}

/// `headers`: name → list of values (or one value).
fn headers(section: &Section<'_>) -> Result<Vec<(String, String)>, ConfigError> {
    let headers = section.section("headers")?;
    let mut pairs = Vec::new();
    for name in headers.map.keys() {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(headers.error(name, "is not a valid header name"));
        }
        for value in headers.strings(name)?.unwrap_or_default() {
            if reqwest::header::HeaderValue::from_str(&value).is_err() {
                return Err(headers.error(name, "holds a value that is not a valid header value"));
            }
            pairs.push((name.clone(), value));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::health::Schedule;

    fn config(yaml: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(&format!("storage: {{inmemory: {{}}}}\n{yaml}"), Vec::new())
    }

    #[test]
    fn reads_the_reference_documentation_example() {
        let config = config(
            r#"
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
  file:
    - file: /path/to/checked/file
      interval: 10s
  http:
    - uri: http://server.to.check/must/return/200
      headers:
        Authorization: [Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==]
      statuscode: 200
      timeout: 3s
      interval: 10s
      threshold: 3
  tcp:
    - addr: redis-server.domain.com:6379
      timeout: 3s
      interval: 10s
      threshold: 3
"#,
        )
        .unwrap();
        assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
        let health = config.health;
        let every_10s_3 = Schedule {
            interval: Duration::from_secs(10),
            threshold: 3,
        };
        assert_eq!(health.storage_driver, Some(every_10s_3));
        assert_eq!(health.files.len(), 1);
        assert_eq!(health.files[0].path.to_str(), Some("/path/to/checked/file"));
        assert_eq!(health.http.len(), 1);
        let http = &health.http[0];
        assert_eq!(http.uri, "http://server.to.check/must/return/200");
        assert_eq!(
            http.headers,
            vec![(
                "Authorization".to_owned(),
                "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==".to_owned()
            )]
        );
        assert_eq!(http.status, 200);
        assert_eq!(http.timeout, Duration::from_secs(3));
        assert_eq!(http.schedule, every_10s_3);
        assert_eq!(health.tcp.len(), 1);
        assert_eq!(health.tcp[0].addr, "redis-server.domain.com:6379");
        assert_eq!(health.tcp[0].timeout, Duration::from_secs(3));
        assert_eq!(health.tcp[0].schedule, every_10s_3);
    }

    #[test]
    fn defaults_are_the_references() {
        let config = config(
            "health:\n  storagedriver:\n    enabled: true\n  http:\n    - uri: https://x.example/\n  tcp:\n    - addr: localhost:1\n    - addr: localhost:2\n      threshold: 0\n",
        )
        .unwrap();
        let health = config.health;
        let every_10s_once = Schedule {
            interval: Duration::from_secs(10),
            threshold: 1,
        };
        assert_eq!(health.storage_driver, Some(every_10s_once));
        assert_eq!(health.http[0].status, 200);
        assert_eq!(health.http[0].schedule, every_10s_once);
        assert_eq!(health.http[0].timeout, Duration::from_secs(10));
        assert_eq!(health.tcp[1].schedule, every_10s_once);
        // Off unless enabled; no section at all is no check.
        let off = config_ok("health:\n  storagedriver:\n    enabled: false\n    interval: 1s\n");
        assert!(off.health.is_empty());
        assert!(config_ok("").health.is_empty());
    }

    fn config_ok(yaml: &str) -> Config {
        config(yaml).unwrap()
    }

    #[test]
    fn the_environment_overrides_the_storage_check() {
        let config = Config::from_yaml(
            "storage: {inmemory: {}}",
            vec![
                (
                    "REGISTRY_HEALTH_STORAGEDRIVER_ENABLED".to_owned(),
                    "true".to_owned(),
                ),
                (
                    "REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL".to_owned(),
                    "2s".to_owned(),
                ),
                (
                    "REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD".to_owned(),
                    "4".to_owned(),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            config.health.storage_driver,
            Some(Schedule {
                interval: Duration::from_secs(2),
                threshold: 4
            })
        );
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            (
                "health:\n  storagedriver:\n    enabled: maybe\n",
                "health.storagedriver.enabled",
            ),
            (
                "health:\n  storagedriver:\n    enabled: true\n    interval: 0s\n",
                "health.storagedriver.interval",
            ),
            (
                "health:\n  storagedriver:\n    enabled: true\n    interval: soon\n",
                "health.storagedriver.interval",
            ),
            (
                "health:\n  storagedriver:\n    enabled: true\n    threshold: -1\n",
                "health.storagedriver.threshold",
            ),
            (
                "health:\n  file:\n    - interval: 1s\n",
                "health.file[0].file",
            ),
            ("health:\n  file: /x\n", "health.file"),
            ("health:\n  file:\n    - /x\n", "health.file[0]"),
            (
                "health:\n  http:\n    - uri: ftp://x/\n",
                "health.http[0].uri",
            ),
            (
                "health:\n  http:\n    - uri: not a url\n",
                "health.http[0].uri",
            ),
            (
                "health:\n  http:\n    - uri: http://x/\n      statuscode: 1000\n",
                "health.http[0].statuscode",
            ),
            (
                "health:\n  http:\n    - uri: http://x/\n      headers:\n        'bad name': [x]\n",
                "health.http[0].headers.bad name",
            ),
            (
                "health:\n  http:\n    - uri: http://x/\n      timeout: 0\n",
                "health.http[0].timeout",
            ),
            ("health:\n  tcp:\n    - addr: redis\n", "health.tcp[0].addr"),
            ("health:\n  tcp:\n    - timeout: 1s\n", "health.tcp[0].addr"),
        ];
        for (yaml, key) in cases {
            let error = config(yaml).expect_err(yaml);
            assert_eq!(error.key, key, "{yaml}: {error}");
        }
    }
}
