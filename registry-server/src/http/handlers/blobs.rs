use std::sync::Arc;

use actix_web::body::SizedStream;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;
use registry_core::domain::RepositoryName;
use registry_core::registry::RegistryError;
use registry_core::storage::RedirectMethod;

use super::{DOCKER_CONTENT_DIGEST, etag, parse_digest};
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::blob_range;

/// `GET|HEAD /v2/<name>/blobs/<digest>`: a redirect to the storage backend when it can presign
/// and redirects are on; otherwise the bytes (or a `Range` of them) from the registry.
pub async fn get(
    req: &HttpRequest,
    state: &AppState,
    repo: &RepositoryName,
    digest: &str,
    head: bool,
) -> ApiResult {
    let digest = parse_digest(digest)?;
    let method = if head {
        RedirectMethod::Head
    } else {
        RedirectMethod::Get
    };
    if let Some(url) = state.registry.blob_redirect(repo, &digest, method).await? {
        state.stats.add_redirect();
        return Ok(HttpResponse::TemporaryRedirect()
            .insert_header((header::LOCATION, url))
            .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
            .finish());
    }

    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "application/octet-stream"))
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .insert_header((header::ETAG, etag(&digest)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CACHE_CONTROL, "max-age=31536000"));
    if head {
        let size = state.registry.blob_size(repo, &digest).await?;
        let empty = futures::stream::empty::<Result<bytes::Bytes, std::io::Error>>();
        return Ok(response.body(SizedStream::new(size, Box::pin(empty))));
    }

    let range = match blob_range(req) {
        Ok(range) => range,
        // Unknown content is 404 whatever the Range says; known content with a malformed
        // Range is 416 with the `Content-Range: bytes */<size>` clients resynchronise from.
        Err(_) => {
            let size = state.registry.blob_size(repo, &digest).await?;
            return Err(RegistryError::RangeNotSatisfiable { size }.into());
        }
    };
    let content = state.registry.open_blob(repo, &digest, range).await?;
    if let Some((first, last)) = content.range {
        response.status(StatusCode::PARTIAL_CONTENT).insert_header((
            header::CONTENT_RANGE,
            format!("bytes {first}-{last}/{}", content.size),
        ));
    }
    let length = content.length();
    let stats = Arc::clone(&state.stats);
    let counted = content.stream.map(move |chunk| {
        if let Ok(bytes) = &chunk {
            stats.add_blob_bytes(bytes.len() as u64);
        }
        chunk
    });
    Ok(response.body(SizedStream::new(length, Box::pin(counted))))
}

/// `DELETE /v2/<name>/blobs/<digest>`: unlinks the blob from the repository.
pub async fn delete(state: &AppState, repo: &RepositoryName, digest: &str) -> ApiResult {
    let digest = parse_digest(digest)?;
    state.registry.delete_blob(repo, &digest).await?;
    Ok(HttpResponse::Accepted()
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .finish())
}
