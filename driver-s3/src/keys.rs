//! Where each storage path lives in the bucket.
//!
//! Objects sit at `<root><path without the leading slash>`. Writers that were closed before
//! being committed keep their progress in a separate tree, `<root>~writers/<path>/`, so that it
//! never shows up as a directory of the object tree and `delete` of a prefix can find (and
//! remove) the progress of every writer below it. `~` cannot appear in a storage path, so no
//! stored path can collide with these names, and listings drop them as invalid components.

use registry_core::storage::StoragePath;

/// The tree that holds writers' persisted progress.
const PENDING_TREE: &str = "~writers/";
/// The progress record of one path's closed writer, inside its pending directory.
const PROGRESS: &str = "~progress";
/// Prefix of the objects holding a closed writer's last bytes that were too few for a part.
const TAIL: &str = "~tail-";

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyLayout {
    /// Empty or `dir/sub/`.
    root: String,
}

impl KeyLayout {
    pub(crate) fn new(root_prefix: &str) -> Self {
        KeyLayout {
            root: root_prefix.to_owned(),
        }
    }

    /// The key of the object stored at `path` (never called with the root).
    pub(crate) fn object(&self, path: &StoragePath) -> String {
        format!("{}{}", self.root, relative(path))
    }

    /// The storage path of an object key; `None` for keys outside the root or that no storage
    /// path maps to (the pending tree's).
    pub(crate) fn path_of(&self, key: &str) -> Option<StoragePath> {
        let relative = key.strip_prefix(&self.root)?;
        StoragePath::parse(&format!("/{relative}"))
            .ok()
            .filter(|p| !p.is_root())
    }

    /// The prefix of everything below the directory `path`, ending in `/` (or empty for the
    /// root of an unprefixed bucket).
    pub(crate) fn directory(&self, path: &StoragePath) -> String {
        if path.is_root() {
            self.root.clone()
        } else {
            format!("{}{}/", self.root, relative(path))
        }
    }

    /// The prefix holding the persisted progress of writers at `path` and below it.
    pub(crate) fn pending_directory(&self, path: &StoragePath) -> String {
        if path.is_root() {
            format!("{}{PENDING_TREE}", self.root)
        } else {
            format!("{}{PENDING_TREE}{}/", self.root, relative(path))
        }
    }

    /// The progress record of a closed writer at `path`.
    pub(crate) fn progress(&self, path: &StoragePath) -> String {
        format!("{}{PROGRESS}", self.pending_directory(path))
    }

    /// A fresh key for a closed writer's tail bytes; unique per close, so that a record always
    /// names the tail written with it.
    pub(crate) fn new_tail(&self, path: &StoragePath) -> String {
        format!(
            "{}{TAIL}{}",
            self.pending_directory(path),
            uuid::Uuid::new_v4().simple()
        )
    }

    /// True for keys of progress records (found when deleting a prefix).
    pub(crate) fn is_progress(key: &str) -> bool {
        key.rsplit('/').next() == Some(PROGRESS)
    }
}

/// The name of a direct child of the listing prefix `prefix`, from a listed key or common
/// prefix; `None` for directory-marker objects (`prefix` itself).
pub(crate) fn child_name<'a>(prefix: &str, key: &'a str) -> Option<&'a str> {
    let name = key.strip_prefix(prefix)?.trim_end_matches('/');
    (!name.is_empty() && !name.contains('/')).then_some(name)
}

fn relative(path: &StoragePath) -> &str {
    path.as_str().trim_start_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> StoragePath {
        StoragePath::parse(p).unwrap()
    }

    #[test]
    fn layout_with_and_without_root() {
        let plain = KeyLayout::new("");
        assert_eq!(plain.object(&path("/a/b")), "a/b");
        assert_eq!(plain.directory(&path("/a/b")), "a/b/");
        assert_eq!(plain.directory(&StoragePath::root()), "");
        assert_eq!(plain.progress(&path("/a/b")), "~writers/a/b/~progress");
        let rooted = KeyLayout::new("reg/");
        assert_eq!(rooted.object(&path("/a")), "reg/a");
        assert_eq!(rooted.directory(&StoragePath::root()), "reg/");
        assert_eq!(rooted.pending_directory(&path("/a")), "reg/~writers/a/");
        assert!(
            rooted
                .new_tail(&path("/a"))
                .starts_with("reg/~writers/a/~tail-")
        );
    }

    #[test]
    fn pending_directories_do_not_share_name_prefixes() {
        let layout = KeyLayout::new("");
        let a = layout.pending_directory(&path("/a"));
        assert!(!layout.progress(&path("/ab")).starts_with(&a));
        assert!(layout.progress(&path("/a/b")).starts_with(&a));
        assert!(KeyLayout::is_progress(&layout.progress(&path("/a/b"))));
        assert!(!KeyLayout::is_progress(&layout.new_tail(&path("/a/b"))));
    }

    #[test]
    fn paths_of_keys() {
        let rooted = KeyLayout::new("reg/");
        assert_eq!(rooted.path_of("reg/a/b"), Some(path("/a/b")));
        assert_eq!(rooted.path_of("other/a"), None);
        assert_eq!(rooted.path_of("reg/"), None);
        assert_eq!(rooted.path_of("reg/~writers/a/~progress"), None);
    }

    #[test]
    fn child_names() {
        assert_eq!(child_name("a/", "a/b"), Some("b"));
        assert_eq!(child_name("a/", "a/c/"), Some("c"));
        assert_eq!(child_name("a/", "a/"), None);
        assert_eq!(child_name("", "x"), Some("x"));
        assert_eq!(child_name("a/", "b/x"), None);
    }
}
