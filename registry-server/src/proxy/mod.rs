//! The pull-through cache (`proxy`): repositories that belong to an upstream registry are
//! served from storage when cached, fetched from the upstream (and stored) when not, and
//! refuse pushes, as the reference's cache does.
//!
//! - [`upstream`]: the HTTP client of one upstream, with its authentication.
//! - [`flight`]: one upstream fetch per cold blob, shared by every client asking for it.
//! - [`serve`]: the API requests of cached repositories.

pub mod challenge;
pub mod flight;
pub mod serve;
pub mod upstream;

use std::sync::Arc;

use registry_core::domain::RepositoryName;
use registry_core::registry::RegistryError;

use crate::config::ConfigError;
use crate::config::proxy::ProxyConfig;
pub use flight::FetchError;
pub use upstream::{Upstream, UpstreamError};

/// Every configured upstream, and the fetches running in this process.
pub struct Proxy {
    /// Upstreams with a prefix first; the reference's prefix-less one, if any, last.
    upstreams: Vec<Arc<Upstream>>,
    pub flights: Arc<flight::Flights>,
}

/// One line per upstream, for `check-config` and the startup log (credentials left out).
pub fn describe(config: Option<&ProxyConfig>) -> Vec<String> {
    config
        .map(|c| c.upstreams.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|u| {
            let repositories = match &u.prefix {
                Some(prefix) => format!("repositories under {prefix}/"),
                None => "every repository outside the prefixes".to_owned(),
            };
            format!(
                "pull-through cache: {repositories} from {} ({}, tag ttl {})",
                u.remote_url,
                if u.credentials.is_some() {
                    "with credentials"
                } else {
                    "anonymous"
                },
                humantime::format_duration(u.ttl)
            )
        })
        .collect()
}

/// Where a repository of a request comes from.
pub struct Target {
    pub upstream: Arc<Upstream>,
    /// The name it is stored under here.
    pub local: RepositoryName,
    /// Its name at the upstream.
    pub remote: RepositoryName,
}

impl Proxy {
    pub fn from_config(config: Option<&ProxyConfig>) -> Result<Option<Arc<Proxy>>, ConfigError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| Upstream::new(u.clone()).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| ConfigError::new("proxy", m))?;
        Ok(Some(Arc::new(Proxy {
            upstreams,
            flights: Arc::default(),
        })))
    }

    /// The upstream `repo` belongs to, if any. `ns` is containerd's mirror parameter (the
    /// host the client meant, such as `docker.io`): with an upstream of that prefix, `repo`
    /// is that upstream's repository, stored under the prefix.
    pub fn route(
        &self,
        repo: &RepositoryName,
        ns: Option<&str>,
    ) -> Result<Option<Target>, RegistryError> {
        if let Some(ns) = ns
            && let Some(upstream) = self.upstreams.iter().find(|u| {
                u.config
                    .prefix
                    .as_ref()
                    .is_some_and(|p| p.as_str().eq_ignore_ascii_case(ns))
            })
        {
            // A name already under the prefix is taken as it is (a client told `ns` by
            // a mirror configuration that also writes the prefix).
            let prefix = upstream
                .config
                .prefix
                .as_ref()
                .map(RepositoryName::as_str)
                .unwrap_or("");
            if let Some(remote) = under(repo.as_str(), prefix) {
                return Ok(Some(target(upstream, repo.clone(), remote)?));
            }
            let local = format!("{prefix}/{repo}").parse().map_err(|e| {
                RegistryError::NameInvalid(format!("{ns}/{repo} as a cached name: {e}"))
            })?;
            return Ok(Some(Target {
                upstream: Arc::clone(upstream),
                local,
                remote: repo.clone(),
            }));
        }
        for upstream in &self.upstreams {
            match &upstream.config.prefix {
                Some(prefix) => {
                    if let Some(remote) = under(repo.as_str(), prefix.as_str()) {
                        return Ok(Some(target(upstream, repo.clone(), remote)?));
                    }
                }
                None => {
                    return Ok(Some(Target {
                        upstream: Arc::clone(upstream),
                        local: repo.clone(),
                        remote: repo.clone(),
                    }));
                }
            }
        }
        Ok(None)
    }
}

/// The rest of `name` after `prefix/`.
fn under<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?.strip_prefix('/')
}

fn target(
    upstream: &Arc<Upstream>,
    local: RepositoryName,
    remote: &str,
) -> Result<Target, RegistryError> {
    let remote = remote
        .parse()
        .map_err(|e| RegistryError::NameInvalid(format!("{remote} at the upstream: {e}")))?;
    Ok(Target {
        upstream: Arc::clone(upstream),
        local,
        remote,
    })
}
