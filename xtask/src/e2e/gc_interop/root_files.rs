//! The filesystem root itself: which blob data files exist, and whether anything changed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::e2e::scenarios::ensure;
use crate::process::Result;

/// Where the filesystem layout keeps a blob's bytes.
pub(super) fn data_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    root.join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

pub(super) fn data_sizes(root: &Path, digests: &BTreeSet<String>) -> Result<u64> {
    let mut total = 0;
    for digest in digests {
        let file = data_file(root, digest);
        total += std::fs::metadata(&file)
            .map_err(|e| format!("blob {digest} before collection: {}: {e}", file.display()))?
            .len();
    }
    Ok(total)
}

/// Every blob in `digests` has (`present`) or has not its data file.
pub(super) fn check_files(
    root: &Path,
    digests: &BTreeSet<String>,
    present: bool,
    when: &str,
) -> Result {
    let wrong: Vec<&String> = digests
        .iter()
        .filter(|d| data_file(root, d).is_file() != present)
        .collect();
    ensure(wrong.is_empty(), || {
        format!(
            "{when}: the data files of blobs {wrong:?} are {}",
            if present { "missing" } else { "still there" }
        )
    })
}

/// Every file and directory under `root`: size and modification time.
pub(super) fn snapshot(
    root: &Path,
) -> Result<BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            let path = entry.path();
            if meta.is_dir() {
                pending.push(path.clone());
                out.insert(path, (0, None));
            } else {
                out.insert(path, (meta.len(), meta.modified().ok()));
            }
        }
    }
    Ok(out)
}

pub(super) type Snapshot = BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>;

pub(super) fn check_unchanged(before: &Snapshot, after: &Snapshot) -> Result {
    let changed: Vec<String> = before
        .iter()
        .filter(|(path, state)| after.get(*path) != Some(state))
        .map(|(path, _)| format!("{} changed or went", path.display()))
        .chain(
            after
                .keys()
                .filter(|path| !before.contains_key(*path))
                .map(|path| format!("{} appeared", path.display())),
        )
        .take(10)
        .collect();
    ensure(changed.is_empty(), || {
        format!("this registry's garbage-collect --dry-run changed the root: {changed:?}")
    })
}
