use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use registry_core::domain::{Digest, RepositoryName};
use registry_core::registry::{RegistryError, UploadStatus};

use super::{DOCKER_CONTENT_DIGEST, DOCKER_UPLOAD_UUID, parse_digest};
use crate::auth::Grant;
use crate::auth::access::{Access, Action};
use crate::http::AppState;
use crate::http::body::TimedBody;
use crate::http::errors::{ApiError, ApiResult, upload_range};
use crate::http::headers::{chunk_range, query_param};

/// The headers of a response about an upload in progress.
fn in_progress(
    mut response: actix_web::HttpResponseBuilder,
    state: &AppState,
    repo: &RepositoryName,
    status: &UploadStatus,
) -> HttpResponse {
    response
        .insert_header((
            header::LOCATION,
            state
                .urls
                .to(&format!("/v2/{repo}/blobs/uploads/{}", status.id)),
        ))
        .insert_header((header::RANGE, upload_range(status.size)))
        .insert_header((DOCKER_UPLOAD_UUID, status.id.as_str()))
        .insert_header((header::CONTENT_LENGTH, 0))
        .finish()
}

/// The response once a blob is in the repository.
fn created(state: &AppState, repo: &RepositoryName, digest: &Digest) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            state.urls.to(&format!("/v2/{repo}/blobs/{digest}")),
        ))
        .insert_header((DOCKER_CONTENT_DIGEST, digest.as_str()))
        .finish()
}

/// `POST /v2/<name>/blobs/uploads/`: a cross-repository mount (`?mount=&from=`), a whole blob
/// (`?digest=` with the body), or a new upload session.
pub async fn start(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    repo: &RepositoryName,
    grant: &Grant,
) -> ApiResult {
    if let (Some(mount), Some(from)) = (query_param(req, "mount"), query_param(req, "from")) {
        let digest = parse_digest(&mount)?;
        // A source name that is not valid holds nothing to mount, and a source the caller
        // may not pull must not reveal whether it holds the blob: upload instead.
        if let Ok(from) = from.parse::<RepositoryName>()
            && grant.allows(&Access::repository(from.as_str(), Action::Pull))
            && state.registry.mount_blob(repo, &digest, &from).await?
        {
            return Ok(created(state, repo, &digest));
        }
    } else if let Some(digest) = query_param(req, "digest") {
        let digest = parse_digest(&digest)?;
        let body = TimedBody::new(body, state.body_timeout);
        state
            .registry
            .upload_monolithic(repo, &digest, body)
            .await?;
        state.metrics.upload_started();
        state.metrics.upload_completed();
        return Ok(created(state, repo, &digest));
    }
    let status = state.registry.start_upload(repo).await?;
    state.metrics.upload_started();
    Ok(in_progress(HttpResponse::Accepted(), state, repo, &status))
}

/// `GET /v2/<name>/blobs/uploads/<id>`
pub async fn status(state: &AppState, repo: &RepositoryName, id: &str) -> ApiResult {
    let status = state.registry.upload_status(repo, id).await?;
    Ok(in_progress(HttpResponse::NoContent(), state, repo, &status))
}

/// `refusal` of a request about an upload, once the upload is known to exist: an unknown
/// upload is 404 whatever else is wrong with the request (as in the reference, which resolves
/// the upload first). Only refused requests pay for the check.
async fn refuse_known_upload(
    state: &AppState,
    repo: &RepositoryName,
    id: &str,
    refusal: ApiError,
) -> ApiError {
    match state.registry.upload_status(repo, id).await {
        Ok(_) => refusal,
        Err(unknown) => unknown.into(),
    }
}

/// A refused chunk: one that does not start where the upload stands gets, besides the 416,
/// the upload's `Location` and `Range`, so that the client can resume from there.
fn out_of_order(
    state: &AppState,
    repo: &RepositoryName,
    id: &str,
    refusal: RegistryError,
) -> ApiResult {
    let RegistryError::ChunkOutOfOrder { .. } = refusal else {
        return Err(refusal.into());
    };
    let mut response = ApiError::Registry(refusal).error_response();
    let location = state.urls.to(&format!("/v2/{repo}/blobs/uploads/{id}"));
    if let (Ok(location), Ok(id)) = (
        header::HeaderValue::from_str(&location),
        header::HeaderValue::from_str(id),
    ) {
        response.headers_mut().insert(header::LOCATION, location);
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("docker-upload-uuid"), id);
    }
    Ok(response)
}

/// `PATCH /v2/<name>/blobs/uploads/<id>`: a streamed body, or a chunk with `Content-Range`.
pub async fn append(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    repo: &RepositoryName,
    id: &str,
) -> ApiResult {
    let start = match chunk_range(req) {
        Ok(range) => range.map(|(start, _)| start),
        Err(refusal) => return Err(refuse_known_upload(state, repo, id, refusal).await),
    };
    let body = TimedBody::new(body, state.body_timeout);
    match state.registry.append_upload(repo, id, start, body).await {
        Ok(status) => Ok(in_progress(HttpResponse::Accepted(), state, repo, &status)),
        Err(refusal) => out_of_order(state, repo, id, refusal),
    }
}

/// The digest a closing PUT names (required) and where its chunk starts, if it says.
fn closing_request(req: &HttpRequest) -> Result<(Digest, Option<u64>), ApiError> {
    let digest = query_param(req, "digest").ok_or_else(|| {
        ApiError::Registry(RegistryError::DigestInvalid(
            "the digest query parameter is required".into(),
        ))
    })?;
    let digest = parse_digest(&digest)?;
    let start = chunk_range(req)?.map(|(start, _)| start);
    Ok((digest, start))
}

/// `PUT /v2/<name>/blobs/uploads/<id>?digest=`: the last chunk (optional) and the digest.
pub async fn complete(
    req: &HttpRequest,
    body: web::Payload,
    state: &AppState,
    repo: &RepositoryName,
    id: &str,
) -> ApiResult {
    let (digest, start) = match closing_request(req) {
        Ok(closing) => closing,
        Err(refusal) => return Err(refuse_known_upload(state, repo, id, refusal).await),
    };
    let body = TimedBody::new(body, state.body_timeout);
    match state
        .registry
        .complete_upload(repo, id, &digest, start, body)
        .await
    {
        Ok(_) => {
            state.metrics.upload_completed();
            Ok(created(state, repo, &digest))
        }
        Err(refusal) => out_of_order(state, repo, id, refusal),
    }
}

/// `DELETE /v2/<name>/blobs/uploads/<id>`
pub async fn cancel(state: &AppState, repo: &RepositoryName, id: &str) -> ApiResult {
    state.registry.cancel_upload(repo, id).await?;
    state.metrics.upload_cancelled();
    Ok(HttpResponse::NoContent().finish())
}
