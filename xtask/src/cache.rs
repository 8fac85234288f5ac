//! Where installed tools (emulators, clients) are kept between runs: outside the checkout, so
//! a fresh clone reuses them, and re-created when missing.

use std::path::PathBuf;

pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REGISTRY_XTASK_CACHE") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("registry-xtask")
}

/// The workspace root (xtask lives one level below it).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
