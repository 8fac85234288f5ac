//! Which storage paths the cache answers for, and the names of their keys.

use registry_core::layout::ROOT;
use registry_core::storage::StoragePath;

/// Version of the key and entry format: a registry with another format reads none of these.
const FORMAT: &str = "registry:v1";

/// The key prefix of one storage location: `registry:v1:<12 hex>`, from the driver and the
/// parameters that say where its data lives (not credentials, which may differ between
/// instances over the same bucket). Registries over different buckets or root directories
/// can share one Redis without reading each other's entries.
pub fn namespace(driver: &str, location: &[(&str, Option<String>)]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hash = Sha256::new();
    hash.update(driver.as_bytes());
    for (key, value) in location {
        hash.update(b"\0");
        hash.update(key.as_bytes());
        hash.update(b"=");
        hash.update(value.as_deref().unwrap_or("").as_bytes());
    }
    format!("{FORMAT}:{}", &hex::encode(hash.finalize())[..12])
}

/// What a cached read of a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `stat` of blob data: the blob's size.
    BlobStat,
    /// `get_content` of a layer or revision link: membership of a repository.
    Link,
    /// `get_content` of blob data: a manifest body.
    Body,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::BlobStat => "blobdescriptor",
            Kind::Link => "repositorymembership",
            Kind::Body => "manifestbody",
        }
    }
}

/// The components of `path` below the layout root, if it is below it.
fn below_root(path: &StoragePath) -> Option<Vec<&str>> {
    let rest = path.as_str().strip_prefix(ROOT)?.strip_prefix('/')?;
    Some(rest.split('/').collect())
}

fn is_digest_pair(alg: &str, hex: &str) -> bool {
    !alg.is_empty()
        && !hex.is_empty()
        && alg.bytes().all(|b| b.is_ascii_alphanumeric())
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `blobs/<alg>/<2 hex>/<hex>/data`.
pub fn is_blob_data(path: &StoragePath) -> bool {
    matches!(
        below_root(path).as_deref(),
        Some(["blobs", alg, two, hex, "data"])
            if is_digest_pair(alg, hex) && hex.starts_with(*two) && two.len() == 2
    )
}

/// `repositories/<name>/_layers/<alg>/<hex>/link` or
/// `repositories/<name>/_manifests/revisions/<alg>/<hex>/link`. Repository name components
/// never start with `_`, so these cannot be confused with a name, and tag links
/// (`_manifests/tags/...`) never match.
pub fn is_membership_link(path: &StoragePath) -> bool {
    let Some(parts) = below_root(path) else {
        return false;
    };
    if parts.first() != Some(&"repositories") || parts.len() < 6 {
        return false;
    }
    match parts.as_slice() {
        [.., "_layers", alg, hex, "link"] if parts.len() >= 6 => {
            is_digest_pair(alg, hex)
                && parts[1..parts.len() - 4]
                    .iter()
                    .all(|c| !c.starts_with('_'))
        }
        [.., "_manifests", "revisions", alg, hex, "link"] if parts.len() >= 7 => {
            is_digest_pair(alg, hex)
                && parts[1..parts.len() - 5]
                    .iter()
                    .all(|c| !c.starts_with('_'))
        }
        _ => false,
    }
}

/// What `get_content` of `path` may be cached as.
pub fn content_kind(path: &StoragePath) -> Option<Kind> {
    if is_membership_link(path) {
        Some(Kind::Link)
    } else if is_blob_data(path) {
        Some(Kind::Body)
    } else {
        None
    }
}

/// Whether a change at `path` (a delete of it or of everything below it) can touch a cached
/// answer: false only inside uploads, tags and referrers, which hold nothing cached.
pub fn may_hold_cached(path: &StoragePath) -> bool {
    let parts: Vec<&str> = path.components().collect();
    let in_tags = parts.windows(2).any(|w| w == ["_manifests", "tags"]);
    !(in_tags || parts.contains(&"_uploads") || parts.contains(&"_referrers"))
}

/// Whether a write to `path` replaces something that may be cached.
pub fn is_cached_path(path: &StoragePath) -> bool {
    is_blob_data(path) || is_membership_link(path)
}

/// The entry key of a cached read.
pub fn entry(ns: &str, kind: Kind, path: &StoragePath) -> String {
    let tag = match kind {
        Kind::BlobStat => "stat",
        Kind::Link | Kind::Body => "content",
    };
    format!("{ns}:{tag}:{}", path.as_str())
}

/// The token key of one path prefix.
pub fn token(ns: &str, prefix: &str) -> String {
    format!("{ns}:gen:{prefix}")
}

/// The token keys of every prefix of `path`: `/`, `/a`, `/a/b`, ..., `path` itself.
pub fn tokens_of(ns: &str, path: &StoragePath) -> Vec<String> {
    let mut keys = vec![token(ns, "/")];
    let text = path.as_str();
    for (i, _) in text.match_indices('/').skip(1) {
        keys.push(token(ns, &text[..i]));
    }
    if !path.is_root() {
        keys.push(token(ns, text));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> StoragePath {
        StoragePath::parse(s).unwrap()
    }

    const HEX: &str = "ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12ab12";

    #[test]
    fn recognises_the_cached_paths_only() {
        let data = p(&format!("{ROOT}/blobs/sha256/ab/{HEX}/data"));
        assert!(is_blob_data(&data));
        assert_eq!(content_kind(&data), Some(Kind::Body));
        let layer = p(&format!(
            "{ROOT}/repositories/a/b/_layers/sha256/{HEX}/link"
        ));
        assert_eq!(content_kind(&layer), Some(Kind::Link));
        let revision = p(&format!(
            "{ROOT}/repositories/a/_manifests/revisions/sha256/{HEX}/link"
        ));
        assert_eq!(content_kind(&revision), Some(Kind::Link));
        for not in [
            format!("{ROOT}/repositories/a/_manifests/tags/latest/current/link"),
            format!("{ROOT}/repositories/a/_manifests/tags/revisions/index/sha256/{HEX}/link"),
            format!("{ROOT}/repositories/a/_uploads/x/data"),
            format!("{ROOT}/blobs/sha256/cd/{HEX}/data"),
            format!("/elsewhere/blobs/sha256/ab/{HEX}/data"),
        ] {
            assert_eq!(content_kind(&p(&not)), None, "{not}");
            assert!(!is_cached_path(&p(&not)), "{not}");
        }
        assert!(!may_hold_cached(&p(&format!(
            "{ROOT}/repositories/a/_uploads/x"
        ))));
        assert!(may_hold_cached(&p(&format!("{ROOT}/repositories/a"))));
        assert!(may_hold_cached(&p(&format!(
            "{ROOT}/blobs/sha256/ab/{HEX}"
        ))));
    }

    #[test]
    fn tokens_cover_every_prefix() {
        assert_eq!(
            tokens_of("n", &p("/a/b")),
            vec![token("n", "/"), token("n", "/a"), token("n", "/a/b")]
        );
        assert_eq!(tokens_of("n", &p("/")), vec![token("n", "/")]);
        let a = namespace("s3", &[("bucket", Some("a".into()))]);
        assert_ne!(a, namespace("s3", &[("bucket", Some("b".into()))]));
        assert_eq!(a, namespace("s3", &[("bucket", Some("a".into()))]));
    }
}
