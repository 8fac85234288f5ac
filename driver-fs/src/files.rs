//! Blocking file-system steps shared by the driver and its writers. They run only inside
//! [`crate::blocking::BlockingPool`].

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

/// How often a file creation is retried when a concurrent prune removed its fresh directory.
const CREATE_ATTEMPTS: usize = 5;

/// Creates `path` (which must not exist), with its parent directories.
pub(crate) fn create_new(path: &Path) -> io::Result<File> {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let mut attempt = 0;
    loop {
        fs::create_dir_all(parent)?;
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < CREATE_ATTEMPTS => {
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Renames `from` to `to`, creating `to`'s parent directories.
pub(crate) fn rename_into_place(from: &Path, to: &Path) -> io::Result<()> {
    let parent = to.parent().unwrap_or(Path::new("/"));
    let mut attempt = 0;
    loop {
        fs::create_dir_all(parent)?;
        match fs::rename(from, to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < CREATE_ATTEMPTS => {
                if !from.exists() {
                    return Err(e);
                }
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// Makes a rename or creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes `dir` and its ancestors below `root` while they are empty, so that directories
/// behave like object-store prefixes: they exist only while something lies below them.
pub(crate) fn prune_empty_dirs(root: &Path, dir: &Path) {
    let mut current = dir;
    while current != root && current.starts_with(root) {
        if fs::remove_dir(current).is_err() {
            break;
        }
        match current.parent() {
            Some(parent) => current = parent,
            None => break,
        }
    }
}

/// Removes a file, treating "already gone" as success.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        result => result,
    }
}
