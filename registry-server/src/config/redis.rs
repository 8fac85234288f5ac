//! The top-level `redis` section, in both of the reference's forms:
//!
//! - 2.8: `addr`, `password`, `db`, `dialtimeout`, `readtimeout`, `writetimeout`,
//!   `pool.maxidle`, `pool.maxactive`, `pool.idletimeout`, `tls.enabled`;
//! - 3.x (go-redis `UniversalOptions` inline): `addrs`, `username`, `password`, `db`, the same
//!   timeouts, and `tls.certificate`, `tls.key`, `tls.rootcas`.
//!
//! The connection is one multiplexed connection (redis-rs' `ConnectionManager`), not a pool,
//! so the pool keys are accepted and have nothing to size. Redis Cluster and Sentinel (several
//! `addrs`) are refused at startup rather than half-served.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Section, parse_duration};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `host:port` (`addr`, or the one entry of `addrs`).
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
    /// `dialtimeout`: to connect (default 5s, as the reference's client).
    pub dial_timeout: Duration,
    /// `readtimeout`: the longest wait for an answer (default 1s); a slower Redis is treated
    /// as failing and storage answers instead.
    pub read_timeout: Duration,
    /// `writetimeout` (default 1s).
    pub write_timeout: Duration,
    /// `tls`: TLS when `tls.enabled` is true or any certificate key is set.
    pub tls: Option<RedisTls>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RedisTls {
    /// `tls.certificate` and `tls.key`: a client certificate (mutual TLS).
    pub client: Option<(PathBuf, PathBuf)>,
    /// `tls.rootcas`: CA files to trust instead of the system's roots.
    pub root_cas: Vec<PathBuf>,
}

impl RedisConfig {
    pub const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(1);

    /// The address for logs: no credentials.
    pub fn describe(&self) -> String {
        format!(
            "{}://{}:{}/{}",
            if self.tls.is_some() {
                "rediss"
            } else {
                "redis"
            },
            self.host,
            self.port,
            self.db
        )
    }
}

/// Keys of the 3.x form that go-redis tunes and this client has no counterpart for: accepted
/// (a reference config starts), reported as ignored.
const TUNING_KEYS: &[&str] = &[
    "clientname",
    "protocol",
    "sentinelusername",
    "sentinelpassword",
    "maxretries",
    "minretrybackoff",
    "maxretrybackoff",
    "contextTimeoutEnabled",
    "poolfifo",
    "poolsize",
    "pooltimeout",
    "minidleconns",
    "maxidleconns",
    "maxactiveconns",
    "connmaxidletime",
    "connmaxlifetime",
    "maxredirects",
    "readonly",
    "routebylatency",
    "routerandomly",
    "mastername",
    "disableindentity",
    "identitysuffix",
    "unstableresp3",
];

/// The `redis` section, or `None` when there is none (or no address in it).
pub(super) fn read(
    root: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<Option<RedisConfig>, ConfigError> {
    let redis = root.section("redis")?;
    if redis.map.is_empty() {
        return Ok(None);
    }
    let mut known = vec![
        "addr",
        "addrs",
        "username",
        "password",
        "db",
        "dialtimeout",
        "readtimeout",
        "writetimeout",
        "pool",
        "tls",
    ];
    known.extend_from_slice(TUNING_KEYS);
    redis.collect_unknown(&known, ignored);

    let addrs = redis.strings("addrs")?.unwrap_or_default();
    let (key, addr) = match (redis.string("addr")?, addrs.as_slice()) {
        (Some(addr), []) => ("addr", addr),
        (None, [one]) => ("addrs", one.clone()),
        (None, []) => return Ok(None),
        (Some(_), _) => return Err(redis.error("addrs", "give either addr or addrs, not both")),
        (None, _) => {
            return Err(redis.error(
                "addrs",
                "several addresses mean Redis Cluster or Sentinel, which this registry does not \
                 support; give one address",
            ));
        }
    };
    let (host, port) = split_host_port(&addr).map_err(|m| redis.error(key, m))?;

    let db = match redis.string("db")? {
        None => 0,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|db| *db >= 0)
            .ok_or_else(|| redis.error("db", format!("{text:?} is not a database number")))?,
    };
    let timeout = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
        match redis.string(key)? {
            None => Ok(default),
            Some(text) => {
                let value = parse_duration(&text).map_err(|m| redis.error(key, m))?;
                // Zero is the reference's "unset": its client then uses its default.
                Ok(if value.is_zero() { default } else { value })
            }
        }
    };

    let pool = redis.section("pool")?;
    pool.collect_unknown(&["maxidle", "maxactive", "idletimeout"], ignored);
    for key in ["maxidle", "maxactive"] {
        if let Some(text) = pool.string(key)?
            && text.trim().parse::<u64>().is_err()
        {
            return Err(pool.error(key, format!("{text:?} is not a number")));
        }
    }
    if let Some(text) = pool.string("idletimeout")? {
        parse_duration(&text).map_err(|m| pool.error("idletimeout", m))?;
    }

    Ok(Some(RedisConfig {
        host,
        port,
        username: redis.string("username")?.filter(|u| !u.is_empty()),
        password: redis.string("password")?.filter(|p| !p.is_empty()),
        db,
        dial_timeout: timeout("dialtimeout", RedisConfig::DEFAULT_DIAL_TIMEOUT)?,
        read_timeout: timeout("readtimeout", RedisConfig::DEFAULT_IO_TIMEOUT)?,
        write_timeout: timeout("writetimeout", RedisConfig::DEFAULT_IO_TIMEOUT)?,
        tls: tls(&redis.section("tls")?, ignored)?,
    }))
}

fn tls(section: &Section<'_>, ignored: &mut Vec<String>) -> Result<Option<RedisTls>, ConfigError> {
    section.collect_unknown(&["enabled", "certificate", "key", "rootcas"], ignored);
    let certificate = section.string("certificate")?.filter(|s| !s.is_empty());
    let key = section.string("key")?.filter(|s| !s.is_empty());
    let root_cas: Vec<PathBuf> = section
        .strings("rootcas")?
        .unwrap_or_default()
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let client = match (certificate, key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => return Err(section.error("key", "is required with tls.certificate")),
        (None, Some(_)) => return Err(section.error("certificate", "is required with tls.key")),
    };
    let has_files = client.is_some() || !root_cas.is_empty();
    let enabled = section.bool("enabled", has_files)?;
    if !enabled && has_files {
        return Err(section.error(
            "enabled",
            "is false, but TLS certificate files are configured",
        ));
    }
    Ok(enabled.then_some(RedisTls { client, root_cas }))
}

/// `host:port`, `[v6]:port`, or a host alone (port 6379).
fn split_host_port(addr: &str) -> Result<(String, u16), String> {
    let addr = addr.trim();
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("{addr:?} is not host:port"))?;
        (host, after.strip_prefix(':'))
    } else {
        match addr.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (addr, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{addr:?} has no host"));
    }
    let port = match port {
        None => 6379,
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{addr:?} has no valid port"))?,
    };
    Ok((host.to_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn redis(yaml: &str) -> Result<Option<RedisConfig>, ConfigError> {
        Config::from_yaml(&format!("storage: {{inmemory: {{}}}}\n{yaml}"), Vec::new())
            .map(|c| c.redis)
    }

    #[test]
    fn reads_the_2_8_form() {
        let config = redis(
            "redis:\n  addr: redis.example:6380\n  password: s3cret\n  db: 2\n  dialtimeout: 10ms\n  readtimeout: 10ms\n  writetimeout: 10ms\n  pool:\n    maxidle: 16\n    maxactive: 64\n    idletimeout: 300s\n  tls:\n    enabled: false\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(config.host, "redis.example");
        assert_eq!(config.port, 6380);
        assert_eq!(config.password.as_deref(), Some("s3cret"));
        assert_eq!(config.username, None);
        assert_eq!(config.db, 2);
        assert_eq!(config.dial_timeout, Duration::from_millis(10));
        assert_eq!(config.read_timeout, Duration::from_millis(10));
        assert_eq!(config.tls, None);
        assert_eq!(config.describe(), "redis://redis.example:6380/2");
    }

    #[test]
    fn reads_the_3_x_form() {
        let config = redis(
            "redis:\n  addrs: [localhost:6379]\n  username: registry\n  password: pw\n  db: 0\n  poolsize: 10\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n    rootcas: [/ca.pem]\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("localhost", 6379));
        assert_eq!(config.username.as_deref(), Some("registry"));
        let tls = config.tls.unwrap();
        assert_eq!(
            tls.client,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        assert_eq!(tls.root_cas, vec![PathBuf::from("/ca.pem")]);
    }

    #[test]
    fn tls_enabled_alone_uses_the_system_roots() {
        let config = redis("redis: {addr: 'h:1', tls: {enabled: true}}")
            .unwrap()
            .unwrap();
        assert_eq!(config.tls, Some(RedisTls::default()));
        assert!(config.describe().starts_with("rediss://"));
    }

    #[test]
    fn environment_overrides_reach_the_section() {
        let config = Config::from_yaml(
            "storage: {inmemory: {}}\nredis: {addr: 'a:1'}",
            vec![
                ("REGISTRY_REDIS_ADDR".to_owned(), "b:2".to_owned()),
                ("REGISTRY_REDIS_PASSWORD".to_owned(), "pw".to_owned()),
            ],
        )
        .unwrap()
        .redis
        .unwrap();
        assert_eq!((config.host.as_str(), config.port), ("b", 2));
        assert_eq!(config.password.as_deref(), Some("pw"));
    }

    #[test]
    fn no_section_or_no_address_is_no_redis() {
        assert_eq!(redis("").unwrap(), None);
        assert_eq!(redis("redis: {db: 1}").unwrap(), None);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("redis: {addr: 'h:x'}", "redis.addr"),
            ("redis: {addr: 'h:0'}", "redis.addr"),
            ("redis: {addrs: ['a:1', 'b:2']}", "redis.addrs"),
            ("redis: {addr: 'a:1', addrs: ['b:2']}", "redis.addrs"),
            ("redis: {addr: 'a:1', db: -1}", "redis.db"),
            (
                "redis: {addr: 'a:1', readtimeout: soon}",
                "redis.readtimeout",
            ),
            (
                "redis: {addr: 'a:1', pool: {maxidle: many}}",
                "redis.pool.maxidle",
            ),
            (
                "redis: {addr: 'a:1', tls: {certificate: /c}}",
                "redis.tls.key",
            ),
            (
                "redis: {addr: 'a:1', tls: {enabled: false, rootcas: [/ca]}}",
                "redis.tls.enabled",
            ),
        ];
        for (yaml, key) in cases {
            let error = redis(yaml).unwrap_err();
            assert_eq!(error.key, key, "{yaml}: {error}");
        }
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(split_host_port("h").unwrap(), ("h".into(), 6379));
        assert_eq!(split_host_port("[::1]:7000").unwrap(), ("::1".into(), 7000));
        assert!(split_host_port(":6379").is_err());
    }
}
