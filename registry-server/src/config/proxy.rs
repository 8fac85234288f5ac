//! The `proxy` section: the reference's pull-through cache keys (`remoteurl`, `username`,
//! `password`, `ttl`) for one upstream serving every repository under its own name, and this
//! registry's extension `proxy.upstreams`, a list of upstreams each serving the repositories
//! under its `prefix` (`docker.io/library/alpine` is `library/alpine` at the upstream whose
//! prefix is `docker.io`), so that two upstreams never share a repository.

use std::time::Duration;

use registry_core::domain::RepositoryName;
use serde_json::Value;

use super::{ConfigError, Section, parse_duration};

/// One upstream registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// The repositories it serves: those under this name (`None` for the reference's single
    /// `remoteurl`, which serves every repository under its own name).
    pub prefix: Option<RepositoryName>,
    /// Scheme and authority (and optional path) of the upstream, without a trailing `/`.
    pub remote_url: String,
    /// Credentials for the upstream (Basic, or for its token service).
    pub credentials: Option<(String, String)>,
    /// How long a cached tag is served before the upstream is asked for its current digest.
    pub ttl: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    /// At least one; the prefix-less one (from `remoteurl`), if any, last.
    pub upstreams: Vec<UpstreamConfig>,
}

/// The tag TTL without a `ttl` key: check the upstream on every tag pull, as the reference
/// 2.8 does.
pub const DEFAULT_TTL: Duration = Duration::ZERO;

pub(super) fn read(
    root: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<Option<ProxyConfig>, ConfigError> {
    let proxy = root.section("proxy")?;
    proxy.collect_unknown(
        &["remoteurl", "username", "password", "ttl", "upstreams"],
        ignored,
    );
    let mut upstreams = Vec::new();
    match proxy.value("upstreams") {
        None => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let Value::Object(map) = item else {
                    return Err(proxy.error(&format!("upstreams[{i}]"), "must be a mapping"));
                };
                let section = Section {
                    path: proxy.key_path(&format!("upstreams[{i}]")),
                    map,
                };
                section.collect_unknown(
                    &["prefix", "remoteurl", "username", "password", "ttl"],
                    ignored,
                );
                let prefix = section
                    .string("prefix")?
                    .ok_or_else(|| section.error("prefix", "is required for each upstream"))?;
                let prefix: RepositoryName = prefix.trim_matches('/').parse().map_err(|e| {
                    section.error(
                        "prefix",
                        format!("{prefix:?} is not a repository name (such as docker.io): {e}"),
                    )
                })?;
                upstreams.push(upstream(&section, Some(prefix))?);
            }
        }
        Some(_) => return Err(proxy.error("upstreams", "must be a list of upstreams")),
    }
    check_prefixes(&proxy, &upstreams)?;
    if proxy.value("remoteurl").is_some() {
        upstreams.push(upstream(&proxy, None)?);
    } else {
        for key in ["username", "password", "ttl"] {
            if proxy.value(key).is_some() {
                return Err(proxy.error(key, "needs proxy.remoteurl"));
            }
        }
    }
    Ok((!upstreams.is_empty()).then_some(ProxyConfig { upstreams }))
}

fn upstream(
    section: &Section<'_>,
    prefix: Option<RepositoryName>,
) -> Result<UpstreamConfig, ConfigError> {
    let url = section
        .string("remoteurl")?
        .ok_or_else(|| section.error("remoteurl", "is required"))?;
    let remote_url = url.trim().trim_end_matches('/').to_owned();
    let valid = ["http://", "https://"]
        .iter()
        .any(|scheme| remote_url.len() > scheme.len() && remote_url.starts_with(scheme));
    if !valid || remote_url.contains(['?', '#', ' ']) {
        return Err(section.error("remoteurl", format!("{url:?} is not an http(s) URL")));
    }
    let credentials = match (section.string("username")?, section.string("password")?) {
        (Some(user), Some(password)) => Some((user, password)),
        (None, None) => None,
        (Some(_), None) => return Err(section.error("password", "is required with username")),
        (None, Some(_)) => return Err(section.error("username", "is required with password")),
    };
    let ttl = match section.string("ttl")? {
        None => DEFAULT_TTL,
        Some(text) => parse_duration(&text).map_err(|m| section.error("ttl", m))?,
    };
    Ok(UpstreamConfig {
        prefix,
        remote_url,
        credentials,
        ttl,
    })
}

/// No prefix may contain another (`a` and `a/b`): a repository must belong to one upstream.
fn check_prefixes(proxy: &Section<'_>, upstreams: &[UpstreamConfig]) -> Result<(), ConfigError> {
    let prefixes: Vec<&str> = upstreams
        .iter()
        .filter_map(|u| u.prefix.as_ref().map(RepositoryName::as_str))
        .collect();
    for (i, a) in prefixes.iter().enumerate() {
        for b in &prefixes[i + 1..] {
            let nested = |outer: &str, inner: &str| {
                inner == outer
                    || inner
                        .strip_prefix(outer)
                        .is_some_and(|rest| rest.starts_with('/'))
            };
            if nested(a, b) || nested(b, a) {
                return Err(proxy.error(
                    "upstreams",
                    format!("the prefixes {a:?} and {b:?} overlap: each repository must belong to one upstream"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(proxy: &str) -> Result<Config, crate::config::ConfigError> {
        let yaml = format!("version: 0.1\nstorage:\n  inmemory: {{}}\n{proxy}");
        Config::from_yaml(&yaml, Vec::new())
    }

    #[test]
    fn reference_keys_make_one_upstream_for_every_repository() {
        let config = load(
            "proxy:\n  remoteurl: https://registry-1.docker.io/\n  username: u\n  password: p\n",
        )
        .unwrap();
        let proxy = config.proxy.unwrap();
        assert_eq!(proxy.upstreams.len(), 1);
        let upstream = &proxy.upstreams[0];
        assert_eq!(upstream.prefix, None);
        assert_eq!(upstream.remote_url, "https://registry-1.docker.io");
        assert_eq!(upstream.credentials, Some(("u".into(), "p".into())));
        assert_eq!(upstream.ttl, super::DEFAULT_TTL);
    }

    #[test]
    fn environment_sets_the_remote_url() {
        let yaml = "version: 0.1\nstorage:\n  inmemory: {}\n";
        let env = vec![
            (
                "REGISTRY_PROXY_REMOTEURL".to_owned(),
                "http://127.0.0.1:5000".to_owned(),
            ),
            ("REGISTRY_PROXY_TTL".to_owned(), "10m".to_owned()),
        ];
        let config = Config::from_yaml(yaml, env).unwrap();
        let upstream = &config.proxy.unwrap().upstreams[0];
        assert_eq!(upstream.remote_url, "http://127.0.0.1:5000");
        assert_eq!(upstream.ttl, std::time::Duration::from_secs(600));
    }

    #[test]
    fn upstream_list_with_prefixes() {
        let config = load(
            "proxy:\n  upstreams:\n    - prefix: docker.io\n      remoteurl: https://registry-1.docker.io\n      ttl: 1h\n    - prefix: ghcr.io\n      remoteurl: https://ghcr.io\n",
        )
        .unwrap();
        let upstreams = config.proxy.unwrap().upstreams;
        let prefixes: Vec<_> = upstreams
            .iter()
            .map(|u| u.prefix.as_ref().unwrap().as_str())
            .collect();
        assert_eq!(prefixes, ["docker.io", "ghcr.io"]);
        assert_eq!(upstreams[0].ttl, std::time::Duration::from_secs(3600));
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("proxy:\n  remoteurl: ftp://x\n", "proxy.remoteurl"),
            (
                "proxy:\n  remoteurl: http://x\n  username: u\n",
                "proxy.password",
            ),
            ("proxy:\n  remoteurl: http://x\n  ttl: soon\n", "proxy.ttl"),
            ("proxy:\n  username: u\n  password: p\n", "proxy.username"),
            ("proxy:\n  upstreams: x\n", "proxy.upstreams"),
            (
                "proxy:\n  upstreams:\n    - remoteurl: http://x\n",
                "proxy.upstreams[0].prefix",
            ),
            (
                "proxy:\n  upstreams:\n    - prefix: Bad:Name\n      remoteurl: http://x\n",
                "proxy.upstreams[0].prefix",
            ),
            (
                "proxy:\n  upstreams:\n    - prefix: a\n      remoteurl: http://x\n    - prefix: a/b\n      remoteurl: http://y\n",
                "proxy.upstreams",
            ),
        ];
        for (yaml, key) in cases {
            let error = load(yaml).expect_err(yaml);
            assert_eq!(error.key, key, "{yaml}: {error}");
        }
    }

    #[test]
    fn no_section_no_proxy() {
        assert!(load("").unwrap().proxy.is_none());
    }
}
