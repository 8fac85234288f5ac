//! `cargo xtask e2e`: real clients against the real binary.
//!
//! - skopeo copies an OCI image and a Docker v2s2 image in, back out (byte-identical
//!   manifest), inspects, lists tags and deletes;
//! - the Python `oras` client pushes and pulls an artifact, monolithic and chunked;
//! - interop with the reference registry (Debian `docker-registry`, CNCF Distribution 2.8):
//!   each serves what the other wrote to the same filesystem root;
//! - garbage collection across registries (`gc_interop/`):
//!   after either registry's `garbage-collect` on a shared root, the other serves every kept
//!   image and nothing collected;
//! - access control and TLS (`auth/`): htpasswd, token auth through a test token service
//!   (`token_service.rs`, keys and certificates from `pki.rs`), HTTPS and mutual TLS, with
//!   skopeo, podman and oras, each against the reference and this registry with one config;
//! - many instances as one registry (`cluster/`): three instances over one bucket and one
//!   Redis behind a round-robin balancer, on S3 and Azure;
//! - the pull-through cache (`proxy.rs`): skopeo and oras through a cache of the reference
//!   (Basic auth) and of this registry; one `proxy` config file for both registries.
//!
//! - the web view (`ui.rs`) in headless Chromium, with screenshots of each page.
//!
//! Every scenario runs against every storage backend given; the run ends with
//! `N passed, M failed`.

pub mod auth;
mod browser;
mod clients;
mod cluster;
mod curl;
mod gc_interop;
mod image;
pub mod pki;
mod podman;
mod proxy;
pub mod registry;
mod scenarios;
pub mod token_service;
mod ui;

use std::path::PathBuf;

use crate::process::{Result, ensure_apt};

pub use registry::{Backend, Kind};

/// What `cargo xtask e2e` runs.
pub struct Options {
    /// Only the access-control and TLS scenarios, which need no storage emulator.
    pub auth_only: bool,
    /// The registries the access-control scenarios run against, in order.
    pub kinds: Vec<Kind>,
    /// Only the backend scenarios whose name starts with this; no access-control scenarios.
    pub only: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            auth_only: false,
            kinds: vec![Kind::Reference, Kind::Ours],
            only: None,
        }
    }
}

/// Installs what the scenarios need: skopeo, umoci, the reference registry, and `oras`.
pub fn ensure_tools() -> Result {
    ensure_apt(&[
        ("skopeo", "skopeo"),
        ("umoci", "umoci"),
        ("docker-registry", "docker-registry"),
    ])?;
    podman::ensure()?;
    clients::ensure_oras()
}

/// Runs every scenario against each backend; fails if any scenario failed.
pub fn run(backends: &[Backend]) -> Result {
    run_with(backends, &Options::default())
}

/// `run` with `options`.
pub fn run_with(backends: &[Backend], options: &Options) -> Result {
    ensure_tools()?;
    // Not built when nothing runs it (`--auth-only --against reference`).
    let binary = if options.auth_only && !options.kinds.contains(&Kind::Ours) {
        PathBuf::from("registry-not-built")
    } else {
        registry::build_binary()?
    };
    let work = tempdir("registry-e2e")?;
    let image = image::build_oci_layout(&work.join("image"))?;

    let mut outcomes: Vec<(String, Result)> = Vec::new();
    let backends = if options.auth_only { &[][..] } else { backends };
    for backend in backends {
        for (name, scenario) in scenarios::for_backend(backend) {
            if options
                .only
                .as_ref()
                .is_some_and(|only| !name.starts_with(only.as_str()))
            {
                continue;
            }
            let label = format!("{name} [{}]", backend.name());
            println!("xtask e2e: {label} ...");
            let dir = work.join(format!("{}-{name}", backend.name()));
            let outcome = scenario(&scenarios::Context {
                binary: &binary,
                backend,
                image: &image,
                dir: &dir,
            });
            match &outcome {
                Ok(()) => println!("xtask e2e: PASS {label}"),
                Err(e) => println!("xtask e2e: FAIL {label}: {e}"),
            }
            outcomes.push((label, outcome));
        }
    }
    if options.only.is_none() {
        outcomes.extend(auth::run_all(
            &binary,
            &image.layout,
            &work.join("auth"),
            &options.kinds,
        ));
    }
    let failed: Vec<&String> = outcomes
        .iter()
        .filter(|(_, o)| o.is_err())
        .map(|(l, _)| l)
        .collect();
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "e2e: {} passed, {} failed",
        outcomes.len() - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("end-to-end scenarios failed: {failed:?}"))
    }
}

pub fn tempdir(prefix: &str) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}
