//! `cargo xtask e2e`: real clients against the real binary.
//!
//! - skopeo copies an OCI image and a Docker v2s2 image in, back out (byte-identical
//!   manifest), inspects, lists tags and deletes;
//! - the Python `oras` client pushes and pulls an artifact, monolithic and chunked;
//! - interop with the reference registry (Debian `docker-registry`, CNCF Distribution 2.8):
//!   each serves what the other wrote to the same filesystem root.
//!
//! Every scenario runs against every storage backend given; the run ends with
//! `N passed, M failed`.

mod clients;
mod curl;
mod image;
pub mod registry;
mod scenarios;

use std::path::PathBuf;

use crate::process::{Result, ensure_apt};

pub use registry::Backend;

/// Installs what the scenarios need: skopeo, umoci, the reference registry, and `oras`.
pub fn ensure_tools() -> Result {
    ensure_apt(&[
        ("skopeo", "skopeo"),
        ("umoci", "umoci"),
        ("docker-registry", "docker-registry"),
    ])?;
    clients::ensure_oras()
}

/// Runs every scenario against each backend; fails if any scenario failed.
pub fn run(backends: &[Backend]) -> Result {
    ensure_tools()?;
    let binary = registry::build_binary()?;
    let work = tempdir("registry-e2e")?;
    let image = image::build_oci_layout(&work.join("image"))?;

    let mut outcomes: Vec<(String, Result)> = Vec::new();
    for backend in backends {
        for (name, scenario) in scenarios::for_backend(backend) {
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
