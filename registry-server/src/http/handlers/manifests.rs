use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::BytesMut;
use futures::StreamExt;
use registry_core::domain::manifest::essence;
use registry_core::domain::{InvalidReference, Reference, RepositoryName};
use registry_core::registry::{RegistryError, StoredManifest};

use super::{DOCKER_CONTENT_DIGEST, etag};
use crate::http::AppState;
use crate::http::body::TimedBody;
use crate::http::errors::{ApiError, ApiResult};
use crate::http::headers::{content_length, content_type};

/// A reference in a URL. A malformed digest is `DIGEST_INVALID`; a malformed tag names nothing
/// that could exist, so reading it is `MANIFEST_UNKNOWN` and writing it `MANIFEST_INVALID`.
pub fn parse_reference(text: &str, writing: bool) -> Result<Reference, ApiError> {
    text.parse().map_err(|e: InvalidReference| {
        ApiError::Registry(match e {
            InvalidReference::Digest(d) => RegistryError::DigestInvalid(d.to_string()),
            InvalidReference::Tag(_) if writing => RegistryError::ManifestInvalid(e.to_string()),
            InvalidReference::Tag(_) => RegistryError::ManifestUnknown(e.to_string()),
        })
    })
}

/// True when the request's `Accept` admits `media_type` (no `Accept` admits everything).
fn accepts(req: &HttpRequest, media_type: &str) -> bool {
    let mut values = req.headers().get_all(header::ACCEPT).peekable();
    if values.peek().is_none() {
        return true;
    }
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(essence)
        .any(|t| t == media_type || t == "*/*" || t.is_empty())
}

/// `GET|HEAD /v2/<name>/manifests/<reference>`
pub async fn get(
    req: &HttpRequest,
    state: &AppState,
    repo: &RepositoryName,
    reference: &str,
) -> ApiResult {
    let reference = parse_reference(reference, false)?;
    let manifest = state.registry.get_manifest(repo, &reference).await?;
    respond(req, &reference, manifest)
}

/// The answer to a `GET|HEAD` of `manifest`, found by `reference`: checked against the
/// request's `Accept`, 304 when the request's `If-None-Match` names it.
pub fn respond(req: &HttpRequest, reference: &Reference, manifest: StoredManifest) -> ApiResult {
    if !accepts(req, &manifest.media_type) {
        return Err(ApiError::Registry(RegistryError::ManifestUnknown(format!(
            "{reference} is a {}, which the request's Accept header does not admit",
            manifest.media_type
        ))));
    }
    let tag = etag(&manifest.digest);
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, manifest.media_type.as_str()))
        .insert_header((DOCKER_CONTENT_DIGEST, manifest.digest.as_str()))
        .insert_header((header::ETAG, tag.as_str()));
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    if unchanged {
        return Ok(HttpResponse::NotModified()
            .insert_header((DOCKER_CONTENT_DIGEST, manifest.digest.as_str()))
            .insert_header((header::ETAG, tag))
            .finish());
    }
    // For HEAD, actix sends no body but keeps the length of the body given here.
    Ok(response.body(manifest.body))
}

/// `PUT /v2/<name>/manifests/<reference>`
pub async fn put(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    repo: &RepositoryName,
    reference: &str,
) -> ApiResult {
    let mut body = TimedBody::new(body, state.body_timeout);
    let reference = parse_reference(reference, true)?;
    let limit = state.registry.settings().max_manifest_bytes;
    let too_large = || ApiError::Registry(RegistryError::ManifestTooLarge { limit });
    if content_length(req).is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let mut buffer = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::Registry(RegistryError::ManifestInvalid(format!(
                "reading the body: {e}"
            )))
        })?;
        if buffer.len() + chunk.len() > limit {
            return Err(too_large());
        }
        buffer.extend_from_slice(&chunk);
    }
    let stored = state
        .registry
        .put_manifest(repo, &reference, content_type(req), buffer.freeze())
        .await?;
    let mut response = HttpResponse::Created();
    response
        .insert_header((
            header::LOCATION,
            state
                .urls
                .to(&format!("/v2/{repo}/manifests/{}", stored.digest)),
        ))
        .insert_header((DOCKER_CONTENT_DIGEST, stored.digest.as_str()));
    if let Some(subject) = &stored.subject {
        response.insert_header(("OCI-Subject", subject.as_str()));
    }
    Ok(response.finish())
}

/// `DELETE /v2/<name>/manifests/<reference>`: a digest deletes the manifest and its tags, a
/// tag only that tag.
pub async fn delete(state: &AppState, repo: &RepositoryName, reference: &str) -> ApiResult {
    let reference = parse_reference(reference, false)?;
    state.registry.delete_manifest(repo, &reference).await?;
    Ok(HttpResponse::Accepted().finish())
}
