//! One module per resource of the distribution API. Handlers only translate: HTTP in,
//! `registry_core::registry::Registry` calls, HTTP out.

pub mod base;
pub mod blobs;
pub mod catalog;
pub mod manifests;
pub mod referrers;
pub mod tags;
pub mod uploads;

use registry_core::domain::Digest;
use registry_core::registry::RegistryError;

use super::errors::ApiError;

pub const DOCKER_CONTENT_DIGEST: &str = "Docker-Content-Digest";
pub const DOCKER_UPLOAD_UUID: &str = "Docker-Upload-UUID";

/// A digest from a URL or query, or `DIGEST_INVALID`.
pub fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse()
        .map_err(|e: registry_core::domain::InvalidDigest| {
            ApiError::Registry(RegistryError::DigestInvalid(e.to_string()))
        })
}

/// `"<digest>"`, the strong entity tag of content-addressed responses.
pub fn etag(digest: &Digest) -> String {
    format!("\"{digest}\"")
}
