//! The registry's configuration: CNCF Distribution's `config.yml` keys (for what this
//! registry implements), each overridable by a `REGISTRY_...` environment variable.
//!
//! Keys this registry does not implement are logged and ignored, so a reference config file
//! still starts it; a value that is present but wrong is a startup error naming the key.

pub mod access;
pub mod auth;
pub mod cache;
pub mod debug;
pub mod gc;
pub mod health;
pub mod proxy;
pub mod redis;
mod retention;
mod tls;
mod tree;
pub mod ui;
pub mod uploadpurging;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::time::Duration;

use registry_core::storage::DriverParameters;
use registry_core::storage::params::{scalar_bool, scalar_text};
use serde_json::{Map, Value};

pub use auth::AuthConfig;
pub use cache::CacheConfig;
pub use debug::DebugConfig;
pub use health::HealthConfig;
pub use redis::{RedisConfig, RedisTls};
pub use tls::{ClientAuth, TlsConfig, TlsVersion};
use tree::STORAGE_SETTINGS;
pub use ui::UiConfig;
pub use uploadpurging::UploadPurging;

use registry_core::registry::{MultiRange, RedirectPolicy, RedirectTarget, parse_origin};

const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// A configuration problem, reported in one line naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// `log.level`: error, warn, info, debug or trace.
    pub level: String,
    /// `log.formatter`: text, or json (also for the reference's `logstash`).
    pub format: LogFormat,
}

#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// The one driver section under `storage` (filesystem, inmemory, s3, azure).
    pub driver: String,
    pub parameters: DriverParameters,
    /// `storage.delete.enabled`.
    pub delete_enabled: bool,
    /// `storage.maintenance.readonly.enabled`.
    pub read_only: bool,
    /// `storage.redirect.disable` (inverted), `.expiry` (default 20m), `.publicurl`, or the
    /// reference's `redirect` storage middleware.
    pub redirect: RedirectPolicy,
    /// `storage.maintenance.uploadpurging`.
    pub upload_purging: UploadPurging,
}

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// `http.addr`.
    pub addr: SocketAddr,
    /// `http.host`: the externally visible base URL, for absolute `Location` headers.
    pub host: Option<String>,
    /// `http.prefix`: a path prefix in front of `/v2/` (normalised to `/x` or empty).
    pub prefix: String,
    /// `http.secret`: accepted for compatibility; upload state lives in storage, so nothing
    /// needs signing.
    pub secret: Option<String>,
    /// `http.workers` (this registry's own key): HTTP worker threads; by default one per CPU
    /// this process may use.
    pub workers: Option<usize>,
    /// `http.timeouts` (this registry's own keys).
    pub timeouts: HttpTimeouts,
    /// `http.tls`: HTTPS when set.
    pub tls: Option<TlsConfig>,
    /// `http.debug` (the operators' listener) and `http.metrics`.
    pub debug: DebugConfig,
}

/// How long a client may take, so that idle and stalled clients cannot hold the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpTimeouts {
    /// `http.timeouts.header`: to send a request's headers once the connection is open or the
    /// previous request ended (default 10s).
    pub header: Duration,
    /// `http.timeouts.body`: the longest pause in a request body (default 60s). A stalled
    /// upload is then dropped; what it had sent stays in the upload, resumable.
    pub body: Duration,
}

impl Default for HttpTimeouts {
    fn default() -> Self {
        HttpTimeouts {
            header: Duration::from_secs(10),
            body: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub log: LogConfig,
    pub storage: StorageConfig,
    pub http: HttpConfig,
    /// `catalog.maxentries`.
    pub catalog_max_entries: usize,
    /// `validation.manifests.maxbytes`: the largest manifest accepted (default 4 MiB).
    pub max_manifest_bytes: usize,
    /// `auth`: the access controller.
    pub auth: AuthConfig,
    /// `access` (this registry's own section): the per-repository policy for htpasswd users.
    pub access: Option<crate::auth::Policy>,
    /// `redis`: the shared Redis, when configured.
    pub redis: Option<RedisConfig>,
    /// `storage.cache`: the blob-descriptor cache, when configured.
    pub cache: Option<CacheConfig>,
    /// `health`: the periodic checks.
    pub health: HealthConfig,
    /// `proxy`: a pull-through cache of one or more upstream registries.
    pub proxy: Option<proxy::ProxyConfig>,
    /// `ui` (this registry's own section): the web view.
    pub ui: UiConfig,
    /// `gc` (this registry's own section): the online garbage collector.
    pub gc: gc::GcConfig,
    /// `retention` (this registry's own section): retention policies.
    pub retention: Option<registry_core::lifecycle::retention::Policies>,
    /// Keys present in the file that this registry ignores, for a startup warning.
    pub ignored_keys: Vec<String>,
}

impl Config {
    /// Reads `path` (or the embedded development default) and the process environment.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(
                    "config file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?,
            None => DEFAULT_CONFIG.to_owned(),
        };
        Self::from_yaml(&text, std::env::vars())
    }

    pub fn from_yaml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut tree = tree::parse_yaml(text)?;
        tree::apply_env(&mut tree, env);
        Self::from_tree(&tree)
    }

    fn from_tree(tree: &Value) -> Result<Config, ConfigError> {
        let root = Section::root(tree);
        let mut ignored = Vec::new();
        root.collect_unknown(tree::SECTIONS, &mut ignored);

        let log = root.section("log")?;
        log.collect_unknown(
            &["level", "formatter", "fields", "hooks", "accesslog"],
            &mut ignored,
        );
        let level = log
            .string("level")?
            .unwrap_or_else(|| "info".into())
            .to_ascii_lowercase();
        if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
            return Err(log.error(
                "level",
                format!("{level:?} is not one of error, warn, info, debug, trace"),
            ));
        }
        let format = match log.string("formatter")?.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") | Some("logstash") => LogFormat::Json,
            Some(other) => {
                return Err(log.error(
                    "formatter",
                    format!("{other:?} is not text, json or logstash"),
                ));
            }
        };

        let http = root.section("http")?;
        http.collect_unknown(
            &[
                "addr",
                "host",
                "prefix",
                "secret",
                "net",
                "headers",
                "relativeurls",
                "draintimeout",
                "workers",
                "timeouts",
                "tls",
                "debug",
                "metrics",
            ],
            &mut ignored,
        );
        let tls = tls::parse(&http, &mut ignored)?;
        let debug = debug::read(&http, &mut ignored)?;
        let timeouts_section = http.section("timeouts")?;
        timeouts_section.collect_unknown(&["header", "body"], &mut ignored);
        let timeouts = Self::timeouts(&timeouts_section)?;
        let addr_text = http.string("addr")?.unwrap_or_else(|| ":5000".into());
        let addr = parse_addr(&addr_text).map_err(|m| http.error("addr", m))?;
        let host = http
            .string("host")?
            .map(|h| h.trim_end_matches('/').to_owned());
        if let Some(host) = &host
            && !(host.starts_with("http://") || host.starts_with("https://"))
        {
            return Err(http.error("host", "must be an absolute http(s) URL"));
        }
        let prefix = http
            .string("prefix")?
            .map(|p| p.trim_matches('/').to_owned())
            .filter(|p| !p.is_empty())
            .map(|p| format!("/{p}"))
            .unwrap_or_default();

        let mut storage = Self::storage(&root, &mut ignored)?;
        if let Some(base) = redirect_middleware(tree, &mut ignored)? {
            if storage.redirect.target != RedirectTarget::Presigned {
                return Err(ConfigError::new(
                    "middleware.storage",
                    "the redirect middleware and storage.redirect.publicurl exclude each other",
                ));
            }
            storage.redirect.target = RedirectTarget::BaseUrl(base);
        }

        let catalog = root.section("catalog")?;
        let catalog_max_entries = catalog.count("maxentries", 1000)?;
        let manifests = root.section("validation")?.section("manifests")?;
        let max_manifest_bytes = manifests.count("maxbytes", 4 * 1024 * 1024)?;
        let auth = auth::read(&root)?;
        let access = access::read(&root, &mut ignored)?;
        let redis = redis::read(&root, &mut ignored)?;
        let cache = cache::read(&root.section("storage")?, redis.as_ref(), &mut ignored)?;
        let proxy = proxy::read(&root, &mut ignored)?;
        let ui = ui::read(&root, &mut ignored)?;
        let gc = gc::read(&root, &mut ignored)?;
        let retention = retention::read(&root, &mut ignored)?;
        if access.is_some() && !matches!(auth, AuthConfig::Htpasswd { .. }) {
            return Err(ConfigError::new(
                "access",
                match auth {
                    AuthConfig::Token(_) => {
                        "cannot be combined with auth.token: the token's access claim decides"
                    }
                    _ => "needs auth.htpasswd: the policy applies to its users",
                },
            ));
        }

        Ok(Config {
            log: LogConfig { level, format },
            storage,
            http: HttpConfig {
                addr,
                host,
                prefix,
                secret: http.string("secret")?,
                workers: match http.value("workers") {
                    Some(_) => Some(http.count("workers", 1)?),
                    None => None,
                },
                timeouts,
                tls,
                debug,
            },
            catalog_max_entries,
            max_manifest_bytes,
            auth,
            access,
            redis,
            cache,
            health: health::read(&root, &mut ignored)?,
            proxy,
            ui,
            gc,
            retention,
            ignored_keys: ignored,
        })
    }

    fn timeouts(section: &Section<'_>) -> Result<HttpTimeouts, ConfigError> {
        let defaults = HttpTimeouts::default();
        let read = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
            let Some(text) = section.string(key)? else {
                return Ok(default);
            };
            let value = parse_duration(&text).map_err(|m| section.error(key, m))?;
            if value.is_zero() {
                return Err(section.error(key, "must be longer than zero"));
            }
            Ok(value)
        };
        Ok(HttpTimeouts {
            header: read("header", defaults.header)?,
            body: read("body", defaults.body)?,
        })
    }

    fn storage(
        root: &Section<'_>,
        ignored: &mut Vec<String>,
    ) -> Result<StorageConfig, ConfigError> {
        let storage = root.section("storage")?;
        let drivers: Vec<&String> = storage
            .map
            .keys()
            .filter(|k| !STORAGE_SETTINGS.contains(&k.to_ascii_lowercase().as_str()))
            .collect();
        let driver = match drivers.as_slice() {
            // `REGISTRY_STORAGE=` (empty) names no driver.
            [one] if one.trim().is_empty() => {
                return Err(ConfigError::new(
                    "storage",
                    "the storage driver name is empty",
                ));
            }
            [one] => one.to_ascii_lowercase(),
            [] => {
                return Err(ConfigError::new(
                    "storage",
                    "no storage driver configured (filesystem, inmemory, s3 or azure)",
                ));
            }
            many => {
                let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
                return Err(ConfigError::new(
                    "storage",
                    format!(
                        "exactly one storage driver may be configured, found {}",
                        names.join(", ")
                    ),
                ));
            }
        };
        let parameters = match storage
            .map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&driver))
        {
            Some((_, Value::Object(map))) => map.clone(),
            Some((_, Value::Null)) | None => Map::new(),
            Some(_) => return Err(storage.error(&driver, "must be a mapping of driver parameters")),
        };
        let delete = storage.section("delete")?;
        let maintenance = storage.section("maintenance")?;
        maintenance.collect_unknown(&["readonly", "uploadpurging"], ignored);
        let readonly = maintenance.section("readonly")?;
        let upload_purging = uploadpurging::read(&maintenance, ignored)?;
        let redirect = storage.section("redirect")?;
        let expiry = match redirect.string("expiry")? {
            None => RedirectPolicy::DEFAULT_EXPIRY,
            Some(text) => parse_duration(&text).map_err(|m| redirect.error("expiry", m))?,
        };
        if expiry.is_zero() || expiry > RedirectPolicy::MAX_EXPIRY {
            return Err(redirect.error(
                "expiry",
                "must be between 1s and 168h (presigned S3 URLs last at most 7 days)",
            ));
        }
        let target = match redirect.string("publicurl")? {
            None => RedirectTarget::Presigned,
            Some(url) => RedirectTarget::PublicOrigin(
                parse_origin(&url).map_err(|m| redirect.error("publicurl", m))?,
            ),
        };
        Ok(StorageConfig {
            parameters: DriverParameters::new(driver_label(&driver), parameters),
            driver,
            delete_enabled: delete.bool("enabled", false)?,
            read_only: readonly.bool("enabled", false)?,
            upload_purging,
            redirect: RedirectPolicy {
                enabled: !redirect.bool("disable", false)?,
                expiry,
                target,
                multi_range: match redirect.string("multirange")? {
                    None => MultiRange::Serve,
                    Some(text) => {
                        MultiRange::parse(&text).map_err(|m| redirect.error("multirange", m))?
                    }
                },
            },
        })
    }
}

/// The base URL of the reference's `redirect` storage middleware, if configured:
/// `middleware: {storage: [{name: redirect, options: {baseurl: ...}}]}`. Other middleware is
/// not implemented here and is reported as ignored.
fn redirect_middleware(
    tree: &Value,
    ignored: &mut Vec<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(middleware) = Section::root(tree).value("middleware") else {
        return Ok(None);
    };
    let entries = match middleware.get("storage") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries.clone(),
        Some(_) => return Err(ConfigError::new("middleware.storage", "must be a list")),
    };
    if let Value::Object(map) = middleware {
        for key in map.keys().filter(|k| *k != "storage") {
            ignored.push(format!("middleware.{key}"));
        }
    }
    let mut base = None;
    for (i, entry) in entries.iter().enumerate() {
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name != "redirect" {
            ignored.push(format!("middleware.storage[{i}] ({name})"));
            continue;
        }
        let url = entry
            .get("options")
            .and_then(|o| o.get("baseurl"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ConfigError::new(
                    format!("middleware.storage[{i}].options.baseurl"),
                    "is required",
                )
            })?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ConfigError::new(
                format!("middleware.storage[{i}].options.baseurl"),
                "must be an absolute http(s) URL",
            ));
        }
        base = Some(url.to_owned());
    }
    Ok(base)
}

/// A `'static` name for a driver's parameter errors.
fn driver_label(driver: &str) -> &'static str {
    match driver {
        "filesystem" => "filesystem",
        "inmemory" => "inmemory",
        "s3" => "s3",
        "azure" => "azure",
        _ => "driver",
    }
}

/// `host:port`, `:port` (all interfaces) or `[v6]:port`.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_owned()
    };
    full.to_socket_addrs()
        .map_err(|e| format!("{text:?} is not a listen address: {e}"))?
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// `90s`, `20m`, `1h`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

/// One mapping of the tree, with the dotted path used in error messages.
struct Section<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Section<'a> {
    fn root(tree: &'a Value) -> Self {
        Section {
            path: String::new(),
            map: tree.as_object().unwrap_or(&EMPTY),
        }
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::new(self.key_path(key), message)
    }

    fn value(&self, key: &str) -> Option<&'a Value> {
        self.map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn section(&self, key: &str) -> Result<Section<'a>, ConfigError> {
        match self.value(key) {
            None => Ok(Section {
                path: self.key_path(key),
                map: &EMPTY,
            }),
            Some(Value::Object(map)) => Ok(Section {
                path: self.key_path(key),
                map,
            }),
            Some(_) => Err(self.error(key, "must be a mapping")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(value) => scalar_text(value).map_err(|m| self.error(key, m)),
        }
    }

    /// A list of strings: a YAML sequence of scalars, or one comma-separated string (as an
    /// environment variable gives it).
    fn strings(&self, key: &str) -> Result<Option<Vec<String>>, ConfigError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match scalar_text(item) {
                    Ok(Some(text)) => Ok(text),
                    _ => Err(self.error(key, "must be a list of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(value) => match scalar_text(value) {
                Ok(text) => Ok(Some(
                    text.unwrap_or_default()
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )),
                Err(_) => Err(self.error(key, "must be a list of strings")),
            },
        }
    }

    fn bool(&self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.value(key) {
            None => Ok(default),
            // Present but empty is a mistake in this file, not "use the default".
            Some(value) => scalar_bool(value)
                .and_then(|b| b.ok_or_else(|| "\"\" is not true or false".to_owned()))
                .map_err(|m| self.error(key, m)),
        }
    }

    fn count(&self, key: &str, default: usize) -> Result<usize, ConfigError> {
        let parsed = match self.value(key) {
            None => return Ok(default),
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            Some(_) => None,
        };
        parsed
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| self.error(key, "must be a positive integer"))
    }

    fn collect_unknown(&self, known: &[&str], ignored: &mut Vec<String>) {
        for key in self.map.keys() {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(key)) {
                ignored.push(self.key_path(key));
            }
        }
    }
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
