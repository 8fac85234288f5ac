use std::fmt;

/// A storage path in the driver namespace, valid by construction.
///
/// The rules are CNCF Distribution's (`^(/[A-Za-z0-9._-]+)+$`), tightened to refuse `.` and `..`
/// components so that no path can climb out of a driver's root. `/` (the root) is a valid
/// `StoragePath` but [`crate::storage::Storage`] only accepts it where listing makes sense.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StoragePath(String);

/// Why a string is not a storage path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid storage path {path:?}: {reason}")]
pub struct InvalidPath {
    pub path: String,
    pub reason: &'static str,
}

impl StoragePath {
    pub fn root() -> Self {
        StoragePath("/".to_owned())
    }

    pub fn parse(path: &str) -> Result<Self, InvalidPath> {
        let invalid = |reason| InvalidPath {
            path: path.to_owned(),
            reason,
        };
        if path == "/" {
            return Ok(Self::root());
        }
        let Some(rest) = path.strip_prefix('/') else {
            return Err(invalid("must be absolute"));
        };
        for component in rest.split('/') {
            check_component(component).map_err(invalid)?;
        }
        Ok(StoragePath(path.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// The path with `/`-separated `relative` components appended.
    pub fn join(&self, relative: &str) -> Result<Self, InvalidPath> {
        let joined = if self.is_root() {
            format!("/{relative}")
        } else {
            format!("{}/{relative}", self.0)
        };
        Self::parse(&joined)
    }

    /// The enclosing directory; the root's parent is the root.
    pub fn parent(&self) -> StoragePath {
        match self.0.rfind('/') {
            Some(0) | None => Self::root(),
            Some(i) => StoragePath(self.0[..i].to_owned()),
        }
    }

    /// The last component (empty for the root).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// Components without the leading `/`, e.g. `["a", "b"]` for `/a/b`.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|c| !c.is_empty())
    }

    /// True when `self` is `other` or lies below it (`/a/b` is under `/a`, `/ab` is not).
    pub fn is_under(&self, other: &StoragePath) -> bool {
        other.is_root()
            || self.0 == other.0
            || (self.0.starts_with(&other.0) && self.0.as_bytes().get(other.0.len()) == Some(&b'/'))
    }
}

fn check_component(component: &str) -> Result<(), &'static str> {
    if component.is_empty() {
        return Err("empty component or trailing slash");
    }
    if component == "." || component == ".." {
        return Err("`.` and `..` components are not allowed");
    }
    if !component
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("components may only contain [A-Za-z0-9._-]");
    }
    Ok(())
}

impl fmt::Display for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for StoragePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl AsRef<str> for StoragePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_distribution_paths() {
        for p in [
            "/",
            "/a",
            "/docker/registry/v2/blobs/sha256/ab/abcdef/data",
            "/a-b_c.d/E9",
            "/.hidden",
            "/a/...",
        ] {
            assert_eq!(
                StoragePath::parse(p).map(|p| p.to_string()),
                Ok(p.to_owned())
            );
        }
    }

    #[test]
    fn rejects_invalid_paths() {
        for p in [
            "", "a", "a/b", "//a", "/a//b", "/a/", "/a b", "/a/./b", "/a/../b", "/..", "/a%2e",
            "/é", "/a\\b", "/a~b",
        ] {
            assert!(StoragePath::parse(p).is_err(), "{p:?} must be rejected");
        }
    }

    #[test]
    fn parent_name_join_and_prefix() {
        let p = StoragePath::parse("/a/b/c").unwrap();
        assert_eq!(p.parent().as_str(), "/a/b");
        assert_eq!(p.file_name(), "c");
        assert_eq!(
            StoragePath::parse("/a").unwrap().parent(),
            StoragePath::root()
        );
        assert_eq!(StoragePath::root().join("x/y").unwrap().as_str(), "/x/y");
        assert_eq!(p.join("d").unwrap().as_str(), "/a/b/c/d");
        assert!(p.join("../d").is_err());
        let a = StoragePath::parse("/a").unwrap();
        let ab = StoragePath::parse("/ab").unwrap();
        assert!(p.is_under(&a));
        assert!(!ab.is_under(&a));
        assert!(a.is_under(&StoragePath::root()));
    }
}
