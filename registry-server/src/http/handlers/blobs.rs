use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use futures::StreamExt;
use registry_core::domain::RepositoryName;
use registry_core::registry::{BlobParts, BlobRead, RegistryError};
use registry_core::storage::RedirectMethod;

use super::{DOCKER_CONTENT_DIGEST, etag, parse_digest};
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::{blob_ranges, range_count};
use crate::http::multipart::Framing;

/// The blob's media type, in responses and in each part of a multi-range answer.
const BLOB_TYPE: &str = "application/octet-stream";

/// `GET|HEAD /v2/<name>/blobs/<digest>`: a redirect to the storage backend when it can presign
/// and the redirect policy applies (not to `GET`s with several ranges, by default); otherwise
/// the bytes from the registry: whole, one range (plain 206) or several (206
/// `multipart/byteranges`).
pub async fn get(
    req: &HttpRequest,
    state: &AppState,
    repo: &RepositoryName,
    digest: &str,
    head: bool,
) -> ApiResult {
    let digest = parse_digest(digest)?;
    let (method, ranges) = if head {
        (RedirectMethod::Head, 0)
    } else {
        (RedirectMethod::Get, range_count(req))
    };
    if let Some(url) = state
        .registry
        .blob_redirect(repo, &digest, method, ranges)
        .await?
    {
        state.metrics.add_redirect();
        return Ok(HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, url))
            .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
            .finish());
    }

    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, BLOB_TYPE))
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .insert_header((header::ETAG, etag(&digest)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "max-age=31536000"));
    if head {
        let size = state.registry.blob_size(repo, &digest).await?;
        let empty = futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
        return Ok(response.body(SizedStream::new(size, Box::pin(empty))));
    }

    let ranges = match blob_ranges(req) {
        Ok(ranges) => ranges,
        // Unknown content is 404 whatever the Range says; known content with a malformed
        // Range is 416 with the `Content-Range: bytes */<size>` clients resynchronise from.
        Err(_) => {
            let size = state.registry.blob_size(repo, &digest).await?;
            return Err(RegistryError::RangeNotSatisfiable { size }.into());
        }
    };
    let content = match state.registry.open_blob(repo, &digest, &ranges).await? {
        BlobRead::Whole(content) => content,
        BlobRead::Single(content) => {
            if let Some((first, last)) = content.range {
                response.status(StatusCode::PARTIAL_CONTENT).insert_header((
                    header::CONTENT_RANGE,
                    format!("bytes {first}-{last}/{}", content.size),
                ));
            }
            content
        }
        BlobRead::Multi(parts) => return Ok(multi_range(response, state, parts)),
    };
    let length = content.length();
    let stats = Arc::clone(&state.metrics);
    let counted = content.stream.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            stats.add_blob_bytes(bytes.len() as u64);
        }
        chunk
    });
    Ok(response.body(SizedStream::new(length, Box::pin(counted))))
}

/// A 206 `multipart/byteranges` answer, streamed part after part.
fn multi_range(
    mut response: HttpResponseBuilder,
    state: &AppState,
    parts: BlobParts,
) -> HttpResponse {
    state.metrics.add_multi_range(parts.parts.len());
    let framing = Framing::new(BLOB_TYPE, parts.size);
    let length = framing.body_length(&parts.parts);
    response
        .status(StatusCode::PARTIAL_CONTENT)
        .insert_header((header::CONTENT_TYPE, framing.content_type()));
    let stats = Arc::clone(&state.metrics);
    let body = framing.body(parts, move |n| stats.add_multi_range_bytes(n));
    response.body(SizedStream::new(length, Box::pin(body)))
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository.
pub async fn delete(state: &AppState, repo: &RepositoryName, digest: &str) -> ApiResult {
    let digest = parse_digest(digest)?;
    state.registry.delete_blob(repo, &digest).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .finish())
}
