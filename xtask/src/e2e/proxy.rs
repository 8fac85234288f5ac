//! The pull-through cache (issue 15) with real clients. The cache runs on the scenario's
//! storage backend; its upstreams are the reference registry (with Basic auth, which the
//! reference itself cannot use as a cache) and this registry, both on loopback.
//!
//! - `proxy-skopeo-reference-upstream`: skopeo pushes to the reference (htpasswd), pulls
//!   through the cache (manifest byte-identical, blobs hash to their names), then pulls again
//!   with the upstream stopped.
//! - `proxy-oras`: the `oras` client pushes to an upstream and pulls the artifact back
//!   through the cache, bytes identical.
//! - `proxy-reference-config` (filesystem): one `config.yml` with a `proxy` section starts
//!   the reference as a cache and then this registry, on the same port; skopeo pulls through
//!   each.

use std::path::Path;

use super::auth::config::write_htpasswd;
use super::clients::{oras_round_trip_through, skopeo_copy_digest};
use super::registry::{Backend, Kind, RunningRegistry, start_ours, start_with_config};
use super::scenarios::{Context, Scenario, pull_and_check};
use super::token_service::USERS;
use crate::process::{Result, free_port};

pub fn scenarios(backend: &Backend) -> Vec<(&'static str, Scenario)> {
    let mut all: Vec<(&'static str, Scenario)> = vec![
        ("proxy-skopeo-reference-upstream", skopeo_reference_upstream),
        ("proxy-oras", oras_through_cache),
    ];
    if matches!(backend, Backend::Filesystem) {
        all.push(("proxy-reference-config", reference_config));
    }
    all
}

/// The reference registry on a fresh filesystem root with htpasswd auth (every e2e user).
fn reference_with_basic(dir: &Path) -> Result<RunningRegistry> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let htpasswd = dir.join("htpasswd");
    write_htpasswd(&htpasswd)?;
    let port = free_port()?;
    let config = dir.join("upstream.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e-upstream\nauth:\n  htpasswd:\n    realm: upstream-realm\n    path: {}\n",
        dir.join("root").display(),
        htpasswd.display()
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    start_with_config(
        Kind::Reference,
        Path::new("docker-registry"),
        &config,
        port,
        &dir.join("upstream.log"),
    )
}

/// `proxy:` lines for a cache of `upstream`, with the first e2e user's credentials.
fn proxy_section(upstream: &RunningRegistry, with_credentials: bool) -> String {
    let mut yaml = format!("proxy:\n  remoteurl: http://{}\n", upstream.host);
    if with_credentials {
        let user = &USERS[0];
        yaml.push_str(&format!(
            "  username: {}\n  password: {}\n",
            user.name, user.password
        ));
    }
    yaml
}

fn skopeo_reference_upstream(cx: &Context<'_>) -> Result {
    let upstream = reference_with_basic(&cx.dir.join("upstream"))?;
    let user = &USERS[0];
    let creds = format!("{}:{}", user.name, user.password);
    let pushed = skopeo_copy_digest(
        &cx.image.reference(),
        &format!("docker://{}/e2e/app:v1", upstream.host),
        &["--dest-creds", &creds],
        cx.dir,
    )?;
    let cache = cx.start_with("cache", &proxy_section(&upstream, true))?;
    let (_, source_bytes) = cx.image.manifest()?;
    let raw = pull_and_check(&cache, "e2e/app:v1", cx.dir.join("cold"), &pushed)?;
    if raw.as_bytes() != source_bytes.as_slice() {
        return Err("the manifest pulled through the cache differs from the source".into());
    }
    drop(upstream);
    pull_and_check(&cache, "e2e/app:v1", cx.dir.join("warm"), &pushed)?;
    Ok(())
}

fn oras_through_cache(cx: &Context<'_>) -> Result {
    let storage = Backend::Filesystem.storage_yaml(&cx.dir.join("upstream-root"), "");
    let upstream = start_ours(cx.binary, &cx.dir.join("upstream"), &storage, "")?;
    let cache = cx.start_with("cache", &proxy_section(&upstream, false))?;
    oras_round_trip_through(
        &upstream.host,
        &cache.host,
        "e2e/artifact:v1",
        &cx.dir.join("oras"),
        3 * 1024 * 1024 + 17,
    )
}

/// One config file, reference keys only, starts the reference and this registry as caches.
fn reference_config(cx: &Context<'_>) -> Result {
    let upstream = reference_with_basic(&cx.dir.join("upstream"))?;
    let user = &USERS[0];
    let creds = format!("{}:{}", user.name, user.password);
    let pushed = skopeo_copy_digest(
        &cx.image.reference(),
        &format!("docker://{}/e2e/app:v1", upstream.host),
        &["--dest-creds", &creds],
        cx.dir,
    )?;
    let port = free_port()?;
    let root = cx.dir.join("cache-root");
    let config = cx.dir.join("config.yml");
    // The reference cannot use Basic credentials upstream (issue 15), so this file has none;
    // the upstream for it is this registry over the reference's storage root, open.
    let open_upstream = start_ours(
        cx.binary,
        &cx.dir.join("open-upstream"),
        &Backend::Filesystem.storage_yaml(&cx.dir.join("upstream").join("root"), ""),
        "",
    )?;
    let yaml = format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e-cache\n{}",
        root.display(),
        proxy_section(&open_upstream, false)
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    for kind in [Kind::Reference, Kind::Ours] {
        let _ = std::fs::remove_dir_all(&root);
        let cache = start_with_config(
            kind,
            cx.binary,
            &config,
            port,
            &cx.dir.join(format!("{}.log", kind.name())),
        )?;
        pull_and_check(
            &cache,
            "e2e/app:v1",
            cx.dir.join(format!("pulled-{}", kind.name())),
            &pushed,
        )
        .map_err(|e| format!("{} as a cache: {e}", kind.name()))?;
    }
    Ok(())
}
