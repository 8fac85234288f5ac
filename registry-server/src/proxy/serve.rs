//! The API requests of repositories that belong to an upstream: manifests and blobs from
//! storage when cached, from the upstream (stored on the way) when not; tag freshness by
//! `ttl`; writes refused.

use std::sync::Arc;
use std::time::SystemTime;

use actix_web::body::{BodyStream, SizedStream};
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse};
use bytes::BytesMut;
use futures::StreamExt;
use registry_core::domain::{Digest, Reference, Tag};
use registry_core::registry::{RegistryError, StoredManifest};

use super::flight::FetchError;
use super::upstream::UpstreamError;
use super::{Proxy, Target};
use crate::http::AppState;
use crate::http::errors::{ApiError, ApiResult};
use crate::http::handlers::{DOCKER_CONTENT_DIGEST, blobs, etag, manifests, parse_digest};
use crate::http::handlers::{referrers, tags};
use crate::http::routes::Route;

/// The answer to a request for a repository of an upstream; `None` when the route names no
/// such repository (it is then served as any other).
pub async fn route(
    req: &HttpRequest,
    state: &AppState,
    proxy: &Proxy,
    route: &Route,
) -> Option<ApiResult> {
    let repo = match route {
        Route::Manifest(repo, _)
        | Route::Blob(repo, _)
        | Route::Tags(repo)
        | Route::UploadStart(repo)
        | Route::Upload(repo, _)
        | Route::Referrers(repo, _) => repo,
        Route::Base | Route::Catalog => return None,
    };
    let target = match proxy.route(repo, ns(req).as_deref()) {
        Ok(Some(target)) => target,
        Ok(None) => return None,
        Err(e) => return Some(Err(e.into())),
    };
    let method = req.method();
    let read = method == Method::GET || method == Method::HEAD;
    Some(match route {
        Route::Manifest(_, reference) if read => manifest(req, state, &target, reference).await,
        Route::Blob(_, digest) if read => {
            blob(req, state, proxy, &target, digest, method == Method::HEAD).await
        }
        Route::Tags(_) => tags::list(req, state, &target.local).await,
        Route::Referrers(_, digest) => referrers::list(req, state, &target.local, digest).await,
        _ => Err(ApiError::Registry(RegistryError::Unsupported(format!(
            "{} is a pull-through cache of {}: push to the upstream",
            target.local, target.upstream.config.remote_url
        )))),
    })
}

/// containerd's `ns` query parameter: the registry host the client meant.
fn ns(req: &HttpRequest) -> Option<String> {
    req.query_string()
        .split('&')
        .find_map(|pair| pair.strip_prefix("ns="))
        .map(|host| host.replace("%3A", ":").replace("%3a", ":"))
        .filter(|host| !host.is_empty())
}

/// `GET|HEAD /v2/<name>/manifests/<reference>` of a cached repository.
async fn manifest(req: &HttpRequest, state: &AppState, target: &Target, text: &str) -> ApiResult {
    let reference = manifests::parse_reference(text, false)?;
    let tag = match &reference {
        Reference::Digest(digest) => {
            // Content-addressed: once cached, never asks the upstream again.
            if let Some(cached) = local_manifest(state, target, &reference).await? {
                return manifests::respond(req, &reference, cached);
            }
            let stored = fetch_manifest(state, target, digest.as_str(), None).await?;
            return manifests::respond(req, &reference, stored);
        }
        Reference::Tag(tag) => tag,
    };
    let registry = &state.registry;
    let cached = registry.tag_written_at(&target.local, tag).await?;
    if let Some((_, written)) = &cached
        && fresh(*written, target.upstream.config.ttl)
        && let Some(manifest) = local_manifest(state, target, &reference).await?
    {
        return manifests::respond(req, &reference, manifest);
    }
    let head = target
        .upstream
        .manifest(&target.remote, tag.as_str(), reqwest::Method::HEAD)
        .await;
    let fetched = match head {
        Ok(answer) => {
            let current = answer
                .headers()
                .get(DOCKER_CONTENT_DIGEST)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            match (&current, &cached) {
                (Some(current), Some((digest, _))) if current == digest => {
                    if let Some(manifest) = local_manifest(state, target, &reference).await? {
                        if let Err(e) = registry.confirm_tag(&target.local, tag, digest).await {
                            tracing::warn!(error = %e, "could not record a tag's check");
                        }
                        return manifests::respond(req, &reference, manifest);
                    }
                    fetch_manifest(state, target, tag.as_str(), Some(tag)).await
                }
                _ => fetch_manifest(state, target, tag.as_str(), Some(tag)).await,
            }
        }
        Err(e) => Err(manifest_error(e, &target.remote, tag.as_str())),
    };
    match fetched {
        Ok(manifest) => manifests::respond(req, &reference, manifest),
        Err(error) if cached.is_some() && is_upstream_trouble(&error) => {
            let Some(manifest) = local_manifest(state, target, &reference).await? else {
                return Err(error);
            };
            tracing::warn!(
                repository = %target.local,
                tag = tag.as_str(),
                upstream = target.upstream.config.remote_url.as_str(),
                error = %error,
                "the upstream could not confirm a cached tag; serving the cached manifest"
            );
            manifests::respond(req, &reference, manifest)
        }
        Err(error) => Err(error),
    }
}

/// A cached tag younger than `ttl` is served without asking the upstream.
fn fresh(written: SystemTime, ttl: std::time::Duration) -> bool {
    SystemTime::now()
        .duration_since(written)
        .is_ok_and(|age| age < ttl)
}

/// Upstream failures after which a cached manifest is served instead.
fn is_upstream_trouble(error: &ApiError) -> bool {
    matches!(error, ApiError::Upstream(_))
        || matches!(error, ApiError::Registry(RegistryError::ManifestUnknown(_)))
}

async fn local_manifest(
    state: &AppState,
    target: &Target,
    reference: &Reference,
) -> Result<Option<StoredManifest>, ApiError> {
    match state.registry.get_manifest(&target.local, reference).await {
        Ok(manifest) => Ok(Some(manifest)),
        Err(RegistryError::ManifestUnknown(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Fetches a manifest by `reference` (a tag or digest) and stores it (under `tag` too).
async fn fetch_manifest(
    state: &AppState,
    target: &Target,
    reference: &str,
    tag: Option<&Tag>,
) -> Result<StoredManifest, ApiError> {
    let answer = target
        .upstream
        .manifest(&target.remote, reference, reqwest::Method::GET)
        .await
        .map_err(|e| manifest_error(e, &target.remote, reference))?;
    let announced = answer
        .headers()
        .get(DOCKER_CONTENT_DIGEST)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<Digest>().ok());
    let limit = state.registry.settings().max_manifest_bytes;
    let bad = |m: String| ApiError::Upstream(FetchError::Mismatch(m));
    if answer.content_length().is_some_and(|n| n > limit as u64) {
        return Err(bad(format!("a manifest larger than {limit} bytes")));
    }
    let mut body = BytesMut::new();
    let mut stream = answer.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::Upstream(
                UpstreamError::Unreachable(format!("reading a manifest: {e}")).into(),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(bad(format!("a manifest larger than {limit} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    // By digest, the body must have that digest; by tag, the upstream's digest header if it
    // sent one (verified against the body), else the body's SHA-256.
    let digest = match reference.parse::<Digest>() {
        Ok(digest) => digest,
        Err(_) => announced.unwrap_or_else(|| Digest::sha256_of(&body)),
    };
    state
        .registry
        .store_fetched_manifest(&target.local, &digest, tag, body)
        .await
        .map_err(|e| match e {
            RegistryError::DigestInvalid(m) | RegistryError::ManifestInvalid(m) => bad(m),
            other => other.into(),
        })
}

/// An upstream failure for a manifest: what it does not have (or will not show the cache)
/// is unknown here too; anything else is the upstream's trouble.
fn manifest_error(
    error: UpstreamError,
    remote: &registry_core::domain::RepositoryName,
    reference: &str,
) -> ApiError {
    match error {
        UpstreamError::NotFound(_) | UpstreamError::Denied(_) => {
            ApiError::Registry(RegistryError::ManifestUnknown(format!(
                "{remote}:{reference} at the upstream: {error}"
            )))
        }
        other => ApiError::Upstream(other.into()),
    }
}

fn blob_error(error: FetchError, digest: &Digest) -> ApiError {
    match error {
        FetchError::Upstream(UpstreamError::NotFound(_) | UpstreamError::Denied(_)) => {
            ApiError::Registry(RegistryError::BlobUnknown(digest.clone()))
        }
        other => ApiError::Upstream(other),
    }
}

/// `GET|HEAD /v2/<name>/blobs/<digest>` of a cached repository: a cached blob as any
/// other (ranges, redirects to storage); a cold one streamed from the shared fetch.
async fn blob(
    req: &HttpRequest,
    state: &AppState,
    proxy: &Proxy,
    target: &Target,
    text: &str,
    head: bool,
) -> ApiResult {
    let digest = parse_digest(text)?;
    if state.registry.holds_blob(&target.local, &digest).await? {
        return blobs::get(req, state, &target.local, text, head).await;
    }
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "application/octet-stream"))
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .insert_header((header::ETAG, etag(&digest)));
    if head {
        // A HEAD stores nothing: it only asks whether the upstream has the blob, and its size.
        let answer = target
            .upstream
            .blob(&target.remote, &digest, reqwest::Method::HEAD)
            .await
            .map_err(|e| blob_error(e.into(), &digest))?;
        let size = answer
            .headers()
            .get(header::CONTENT_LENGTH.as_str())
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let empty = futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
        return Ok(response.body(SizedStream::new(size, Box::pin(empty))));
    }
    let flight = proxy
        .flights
        .join(
            &state.registry,
            &target.upstream,
            &target.local,
            &target.remote,
            &digest,
        )
        .map_err(|e| blob_error(e, &digest))?;
    let size = flight.started().await.map_err(|e| blob_error(e, &digest))?;
    let stream = Box::pin(Arc::clone(&flight).stream());
    Ok(match size {
        Some(size) => response.body(SizedStream::new(size, stream)),
        None => response.body(BodyStream::new(stream)),
    })
}
