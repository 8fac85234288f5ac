//! Where a redirected blob download points.
//!
//! - By default, at the driver's presigned URL, unchanged.
//! - With `storage.redirect.publicurl`, the presigned URL's scheme, host and port are replaced
//!   by the public origin, for deployments where the registry reaches the bucket at an
//!   internal address and clients at another. The path and query (with the signature) stay as
//!   they are, so this only works where the signature survives: e.g. S3 path-style URLs behind a
//!   proxy that forwards the original `Host` header, or an Azure SAS (which does not sign the
//!   host). For S3 SigV4 the host is signed: the proxy must present the internal host.
//! - With the reference's `redirect` storage middleware (`middleware: storage: - name: redirect,
//!   options: baseurl: ...`), at `baseurl` + the blob's storage path, unsigned: for a CDN or
//!   web server in front of the storage root.
//!
//! Which requests are redirected: `HEAD`, and `GET` without a `Range` or with a single range
//! (object stores answer those). A `GET` with several ranges is served by the registry itself,
//! because S3 and Azure answer multi-range requests with an error or the whole object; with
//! `storage.redirect.multirange: redirect` it is redirected too (for a CDN that does answer
//! them).

use std::time::Duration;

use crate::storage::{RedirectMethod, StoragePath};

/// Whether and how blob downloads are redirected to the storage backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectPolicy {
    /// Not `storage.redirect.disable`.
    pub enabled: bool,
    /// Lifetime of presigned URLs.
    pub expiry: Duration,
    pub target: RedirectTarget,
    /// `storage.redirect.multirange`: what happens to a `GET` with several ranges.
    pub multi_range: MultiRange,
}

/// Whether `GET`s with several ranges are redirected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MultiRange {
    /// Served by the registry (object stores do not answer them).
    #[default]
    Serve,
    /// Redirected like any other download.
    Redirect,
}

impl MultiRange {
    /// `serve` or `redirect`, as in the config.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "serve" => Ok(MultiRange::Serve),
            "redirect" => Ok(MultiRange::Redirect),
            other => Err(format!("{other:?} must be serve or redirect")),
        }
    }
}

impl RedirectPolicy {
    /// The longest expiry every backend honours (S3 presigned URLs end after 7 days).
    pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);
    pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(20 * 60);

    /// True when a download naming `ranges` byte ranges (0 without a `Range`) is redirected.
    pub fn redirects(&self, method: RedirectMethod, ranges: usize) -> bool {
        self.enabled
            && (method == RedirectMethod::Head
                || ranges <= 1
                || self.multi_range == MultiRange::Redirect)
    }
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        RedirectPolicy {
            enabled: true,
            expiry: Self::DEFAULT_EXPIRY,
            target: RedirectTarget::Presigned,
            multi_range: MultiRange::Serve,
        }
    }
}

/// How redirect URLs are made from presigned ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RedirectTarget {
    /// The driver's presigned URL.
    #[default]
    Presigned,
    /// The presigned URL with another origin (`scheme://host[:port]`).
    PublicOrigin(String),
    /// An unsigned URL below a base URL (CDN style).
    BaseUrl(String),
}

impl RedirectTarget {
    /// The URL to hand the client, from the driver's presigned URL (if any) and the blob's
    /// storage path. `None` when there is nothing to redirect to.
    pub fn url(&self, presigned: Option<&str>, storage_path: &StoragePath) -> Option<String> {
        match self {
            RedirectTarget::Presigned => presigned.map(str::to_owned),
            RedirectTarget::PublicOrigin(origin) => {
                presigned.map(|url| format!("{origin}{}", path_and_query(url)))
            }
            RedirectTarget::BaseUrl(base) => Some(format!(
                "{}{}",
                base.trim_end_matches('/'),
                storage_path.as_str()
            )),
        }
    }

    /// True when a redirect does not need the driver to presign.
    pub fn needs_presigning(&self) -> bool {
        !matches!(self, RedirectTarget::BaseUrl(_))
    }
}

/// `/path?query` of an absolute URL.
fn path_and_query(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[after_scheme + i..],
        None => "/",
    }
}

/// Checks an origin given in the config: `http(s)://host[:port]`, nothing after it.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("{text:?} must start with http:// or https://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains('?') {
        return Err(format!("{text:?} must be only scheme, host and port"));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path() -> StoragePath {
        StoragePath::parse("/docker/registry/v2/blobs/sha256/ab/abcd/data").unwrap()
    }

    #[test]
    fn presigned_urls_pass_through() {
        let url = "http://10.0.0.5:9000/bucket/key?X-Amz-Signature=abc";
        assert_eq!(
            RedirectTarget::Presigned.url(Some(url), &path()).as_deref(),
            Some(url)
        );
        assert_eq!(RedirectTarget::Presigned.url(None, &path()), None);
    }

    #[test]
    fn public_origin_replaces_only_the_origin() {
        let target = RedirectTarget::PublicOrigin("https://cdn.example.com".into());
        let url = "http://10.0.0.5:9000/bucket/key?X-Amz-Signature=abc";
        assert_eq!(
            target.url(Some(url), &path()).as_deref(),
            Some("https://cdn.example.com/bucket/key?X-Amz-Signature=abc")
        );
    }

    #[test]
    fn base_url_appends_the_storage_path() {
        let target = RedirectTarget::BaseUrl("https://cdn.example.com/registry/".into());
        assert_eq!(
            target.url(None, &path()).as_deref(),
            Some("https://cdn.example.com/registry/docker/registry/v2/blobs/sha256/ab/abcd/data")
        );
        assert!(!target.needs_presigning());
    }

    #[test]
    fn multi_range_gets_are_served_unless_configured() {
        let mut policy = RedirectPolicy::default();
        assert!(policy.redirects(RedirectMethod::Get, 0));
        assert!(policy.redirects(RedirectMethod::Get, 1));
        assert!(!policy.redirects(RedirectMethod::Get, 2));
        assert!(policy.redirects(RedirectMethod::Head, 2));
        policy.multi_range = MultiRange::parse("redirect").unwrap();
        assert!(policy.redirects(RedirectMethod::Get, 2));
        policy.enabled = false;
        assert!(!policy.redirects(RedirectMethod::Get, 0));
        assert!(MultiRange::parse("sometimes").is_err());
    }

    #[test]
    fn origins_are_checked() {
        assert_eq!(
            parse_origin("https://a.example:8443/").unwrap(),
            "https://a.example:8443"
        );
        for bad in ["a.example", "https://", "https://a/b", "ftp://a"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
