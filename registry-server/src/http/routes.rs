//! Which endpoint a request path names. Repository names contain slashes, so routes are
//! recognised from the end of the path, the way the distribution spec's URL shapes end.
//!
//! The shape is recognised on the raw path; the name and the last segment are then
//! percent-decoded, so `sha256%3A...` is the digest `sha256:...` as in the reference (Go's
//! net/http decodes paths before routing; RFC 3986 §2.2 would let a server tell the two
//! apart, since `:` is reserved), while an escaped `%2F` never changes which endpoint is
//! meant.

use registry_core::domain::RepositoryName;
use registry_core::registry::RegistryError;

use super::percent;

/// An endpoint of the distribution API, with its raw path parameters. Names are validated
/// here; digests and references by the handlers (their errors differ by endpoint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`
    Base,
    /// `/v2/_catalog`
    Catalog,
    /// `/v2/<name>/tags/list`
    Tags(RepositoryName),
    /// `/v2/<name>/manifests/<reference>`
    Manifest(RepositoryName, String),
    /// `/v2/<name>/blobs/<digest>`
    Blob(RepositoryName, String),
    /// `/v2/<name>/blobs/uploads/`
    UploadStart(RepositoryName),
    /// `/v2/<name>/blobs/uploads/<id>`
    Upload(RepositoryName, String),
    /// `/v2/<name>/referrers/<digest>`
    Referrers(RepositoryName, String),
}

impl Route {
    /// The endpoint's URL template, as a metrics label: never the raw path, whose names and
    /// digests would make a series each.
    pub fn template(&self) -> &'static str {
        match self {
            Route::Base => "/v2/",
            Route::Catalog => "/v2/_catalog",
            Route::Tags(_) => "/v2/{name}/tags/list",
            Route::Manifest(_, _) => "/v2/{name}/manifests/{reference}",
            Route::Blob(_, _) => "/v2/{name}/blobs/{digest}",
            Route::UploadStart(_) => "/v2/{name}/blobs/uploads/",
            Route::Upload(_, _) => "/v2/{name}/blobs/uploads/{uuid}",
            Route::Referrers(_, _) => "/v2/{name}/referrers/{digest}",
        }
    }
}

/// A path that is no endpoint of the API.
#[derive(Debug)]
pub enum RouteError {
    NoEndpoint,
    Name(RegistryError),
}

impl PartialEq for RouteError {
    fn eq(&self, other: &Self) -> bool {
        matches!(
            (self, other),
            (RouteError::NoEndpoint, RouteError::NoEndpoint)
        )
    }
}

fn name(raw: &str) -> Result<RepositoryName, RouteError> {
    percent::decode(raw)
        .parse()
        .map_err(|e: registry_core::domain::InvalidName| {
            RouteError::Name(RegistryError::NameInvalid(e.to_string()))
        })
}

/// Recognises `path` (after the configured prefix).
pub fn recognise(path: &str) -> Result<Route, RouteError> {
    let rest = match path.strip_prefix("/v2") {
        Some("") | Some("/") => return Ok(Route::Base),
        Some(rest) => rest.strip_prefix('/').ok_or(RouteError::NoEndpoint)?,
        None => return Err(RouteError::NoEndpoint),
    };
    if rest == "_catalog" {
        return Ok(Route::Catalog);
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        return Ok(Route::Tags(name(repo)?));
    }
    if let Some(repo) = rest
        .strip_suffix("/blobs/uploads/")
        .or_else(|| rest.strip_suffix("/blobs/uploads"))
    {
        return Ok(Route::UploadStart(name(repo)?));
    }
    let (head, last) = rest.rsplit_once('/').ok_or(RouteError::NoEndpoint)?;
    let (repo, kind) = head.rsplit_once('/').ok_or(RouteError::NoEndpoint)?;
    let last = percent::decode(last);
    match kind {
        "manifests" => Ok(Route::Manifest(name(repo)?, last)),
        "blobs" => Ok(Route::Blob(name(repo)?, last)),
        "referrers" => Ok(Route::Referrers(name(repo)?, last)),
        "uploads" => match repo.strip_suffix("/blobs") {
            Some(repo) => Ok(Route::Upload(name(repo)?, last)),
            None => Err(RouteError::NoEndpoint),
        },
        _ => Err(RouteError::NoEndpoint),
    }
}

#[cfg(test)]
mod proptests;

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> RepositoryName {
        s.parse().unwrap()
    }

    #[test]
    fn recognises_every_endpoint() {
        let cases = [
            ("/v2/", Route::Base),
            ("/v2", Route::Base),
            ("/v2/_catalog", Route::Catalog),
            ("/v2/a/b/tags/list", Route::Tags(n("a/b"))),
            (
                "/v2/a/manifests/latest",
                Route::Manifest(n("a"), "latest".into()),
            ),
            (
                "/v2/x/manifests/y/manifests/v1",
                Route::Manifest(n("x/manifests/y"), "v1".into()),
            ),
            (
                "/v2/a/blobs/sha256:00",
                Route::Blob(n("a"), "sha256:00".into()),
            ),
            ("/v2/a/b/blobs/uploads/", Route::UploadStart(n("a/b"))),
            ("/v2/a/blobs/uploads", Route::UploadStart(n("a"))),
            (
                "/v2/a/blobs/uploads/some-id",
                Route::Upload(n("a"), "some-id".into()),
            ),
            (
                "/v2/a/referrers/sha256:00",
                Route::Referrers(n("a"), "sha256:00".into()),
            ),
            (
                "/v2/a/blobs/sha256%3A00",
                Route::Blob(n("a"), "sha256:00".into()),
            ),
            ("/v2/a%2Fb/tags/list", Route::Tags(n("a/b"))),
            (
                "/v2/a/manifests/x%2Fy",
                Route::Manifest(n("a"), "x/y".into()),
            ),
        ];
        for (path, route) in cases {
            assert_eq!(recognise(path), Ok(route), "{path}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_endpoint() {
        for path in [
            "/",
            "/v1/",
            "/v2x",
            "/v2/a",
            "/v2/a/things/x",
            "/v2/a/uploads/x",
        ] {
            assert_eq!(recognise(path), Err(RouteError::NoEndpoint), "{path}");
        }
        for path in [
            "/v2/../etc/manifests/latest",
            "/v2/%2e%2e/manifests/latest",
            "/v2/A/manifests/latest",
            "/v2//manifests/latest",
            "/v2/a//b/blobs/uploads/",
            "/v2/a/%2e%2e/b/tags/list",
            "/v2/a%2F%2Fb/tags/list",
            "/v2/%2Fa/tags/list",
            "/v2/a%00/tags/list",
        ] {
            assert!(
                matches!(recognise(path), Err(RouteError::Name(_))),
                "{path}"
            );
        }
    }
}
