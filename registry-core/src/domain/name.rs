//! Repository names, by the OCI distribution grammar:
//! `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.

use std::fmt;
use std::str::FromStr;

/// The reference registry's limit on the whole name.
const MAX_NAME_LEN: usize = 255;

/// A validated repository name such as `library/ubuntu`. No component can be empty, start with
/// `_`, or contain `.`-only segments, so a name can never escape its storage directory.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepositoryName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid repository name {name:?}: {reason}")]
pub struct InvalidName {
    pub name: String,
    pub reason: &'static str,
}

impl RepositoryName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RepositoryName {
    type Err = InvalidName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason| InvalidName {
            name: s.chars().take(300).collect(),
            reason,
        };
        if s.is_empty() {
            return Err(invalid("empty"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(invalid("longer than 255 characters"));
        }
        if !s.split('/').all(is_component) {
            return Err(invalid("does not match the repository name grammar"));
        }
        Ok(RepositoryName(s.to_owned()))
    }
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of alphanumerics.
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // A separator: `.`, `_`, `__` or one or more `-`.
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let valid_sep = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-');
        if !valid_sep || i == bytes.len() {
            return false;
        }
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for name in [
            "a",
            "library/ubuntu",
            "my-org/my.app_1/sub__x",
            "a--b",
            "0/1/2",
            "x.y.z",
        ] {
            assert!(name.parse::<RepositoryName>().is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_invalid_names() {
        for name in [
            "",
            "Upper",
            "a/",
            "/a",
            "a//b",
            "a/../b",
            "..",
            "a/./b",
            "%2e%2e",
            "a_/b",
            "_a",
            "a___b",
            "a.-b",
            "a b",
            "a/b/_manifests",
            "a.",
            &"a".repeat(256),
        ] {
            assert!(name.parse::<RepositoryName>().is_err(), "{name:?}");
        }
    }
}
