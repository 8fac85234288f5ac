//! Where a storage path lives on disk, and the names of in-progress writes beside it.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use registry_core::storage::{StorageError, StoragePath};

use crate::driver::NAME;

/// Marks names that are not content: `~` is not allowed in storage paths.
const MARKER: char = '~';

pub(crate) fn on_disk(root: &Path, path: &StoragePath) -> PathBuf {
    let mut full = root.to_path_buf();
    full.extend(path.components());
    full
}

/// Where `close` leaves a writer's progress for a later `writer(path, append = true)`.
pub(crate) fn parked(file: &Path) -> PathBuf {
    with_suffix(file, "~partial")
}

/// A writer's private file, unique to that writer.
pub(crate) fn private_temp(file: &Path) -> PathBuf {
    with_suffix(file, &format!("~{}~tmp", uuid::Uuid::new_v4().simple()))
}

/// Where a directory goes while it is deleted: under a name that is not content, so that
/// files created at its old name meanwhile start a new directory instead of failing the delete.
pub(crate) fn doomed(dir: &Path) -> PathBuf {
    with_suffix(dir, &format!("~{}~deleting", uuid::Uuid::new_v4().simple()))
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    file.with_file_name(name)
}

/// True for directory entries that are content (not in-progress writes).
pub(crate) fn is_content(name: &OsStr) -> bool {
    name.to_str().is_some_and(|n| !n.contains(MARKER))
}

/// Maps an I/O error on `path`: a missing file (or a file where a directory was expected) is
/// `PathNotFound`, anything else a backend error.
pub(crate) fn io_error(path: &StoragePath, context: &str, e: io::Error) -> StorageError {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => {
            StorageError::not_found(NAME, path)
        }
        _ => StorageError::backend(NAME, format!("{context} {path}"), e),
    }
}
