//! Where storage paths live in the container: blob names below the root directory, and the
//! private blobs that writers stage uploads into.

use registry_core::storage::StoragePath;
use uuid::Uuid;

/// Marks the names of the driver's private blobs. `~` never appears in a storage path, so these
/// names cannot collide with content, and listings hide every name that carries it.
const PRIVATE_MARK: char = '~';
/// An upload's staging blob is `<blob>~upload-<writer id>`, next to the blob it will become, so
/// that deleting a directory also removes the uploads in progress below it.
const UPLOAD_INFIX: &str = "~upload-";

/// Maps storage paths to blob names and back.
#[derive(Debug, Clone)]
pub(crate) struct BlobNames {
    /// The root directory with a trailing slash, or empty.
    root: String,
}

impl BlobNames {
    /// `root_directory` is already normalized (no leading or trailing slash).
    pub(crate) fn new(root_directory: &str) -> Self {
        let root = if root_directory.is_empty() {
            String::new()
        } else {
            format!("{root_directory}/")
        };
        BlobNames { root }
    }

    /// The blob holding the object at `path` (not meaningful for the root).
    pub(crate) fn blob(&self, path: &StoragePath) -> String {
        format!("{}{}", self.root, path.as_str().trim_start_matches('/'))
    }

    /// The name prefix of everything below the directory `path`, ending in `/` (or empty for
    /// the root of a container without root directory).
    pub(crate) fn dir_prefix(&self, path: &StoragePath) -> String {
        if path.is_root() {
            self.root.clone()
        } else {
            format!("{}/", self.blob(path))
        }
    }

    /// The storage path of a listed blob name or blob prefix (with or without its trailing
    /// `/`); `None` for the driver's private blobs and for names that are not storage paths
    /// (written by something else into the container).
    pub(crate) fn path_of(&self, name: &str) -> Option<StoragePath> {
        let relative = name.strip_prefix(&self.root)?.trim_end_matches('/');
        if relative.is_empty() || relative.contains(PRIVATE_MARK) {
            return None;
        }
        StoragePath::parse(&format!("/{relative}")).ok()
    }

    /// The prefix shared by every staging blob of uploads to `path`.
    pub(crate) fn upload_prefix(&self, path: &StoragePath) -> String {
        format!("{}{UPLOAD_INFIX}", self.blob(path))
    }

    /// The storage path a staging blob's upload is for; `None` for any other name.
    pub(crate) fn upload_target(&self, name: &str) -> Option<StoragePath> {
        let (blob, writer) = name.rsplit_once(UPLOAD_INFIX)?;
        Uuid::try_parse(writer).ok()?;
        self.path_of(blob)
    }

    /// The staging blob of the upload by writer `id` to `path`.
    pub(crate) fn upload(&self, path: &StoragePath, id: Uuid) -> String {
        format!("{}{}", self.upload_prefix(path), id.simple())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> StoragePath {
        StoragePath::parse(p).expect("valid path")
    }

    #[test]
    fn maps_paths_below_the_root_directory() {
        let names = BlobNames::new("registry/v2");
        assert_eq!(names.blob(&path("/a/b")), "registry/v2/a/b");
        assert_eq!(names.dir_prefix(&path("/a")), "registry/v2/a/");
        assert_eq!(names.dir_prefix(&StoragePath::root()), "registry/v2/");
        assert_eq!(names.path_of("registry/v2/a/b"), Some(path("/a/b")));
        assert_eq!(names.path_of("registry/v2/a/"), Some(path("/a")));
        assert_eq!(names.path_of("elsewhere/a"), None);
        assert_eq!(names.path_of("registry/v2/"), None);
    }

    #[test]
    fn maps_paths_without_root_directory() {
        let names = BlobNames::new("");
        assert_eq!(names.blob(&path("/a")), "a");
        assert_eq!(names.dir_prefix(&StoragePath::root()), "");
        assert_eq!(names.path_of("a/b/"), Some(path("/a/b")));
    }

    #[test]
    fn hides_private_and_foreign_names() {
        let names = BlobNames::new("");
        let id = Uuid::new_v4();
        let upload = names.upload(&path("/a/data"), id);
        assert!(upload.starts_with(&names.upload_prefix(&path("/a/data"))));
        assert!(upload.starts_with("a/data~upload-"));
        assert_eq!(names.upload_target(&upload), Some(path("/a/data")));
        assert_eq!(names.upload_target("a/data"), None);
        assert_eq!(names.upload_target("a/data~upload-nonsense"), None);
        assert_eq!(names.path_of(&upload), None);
        assert_eq!(names.path_of("a/with space"), None);
        assert_eq!(names.path_of("a//b"), None);
    }
}
