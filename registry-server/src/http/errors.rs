//! The one mapping from errors to HTTP: status code, OCI error code and JSON envelope
//! `{"errors":[{"code","message","detail"}]}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use registry_core::registry::RegistryError;
use serde_json::json;

use super::API_VERSION;
use crate::auth::Refusal;
use crate::proxy::{FetchError, UpstreamError};

/// Why a request failed, as the HTTP layer sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("invalid pagination: {0}")]
    Pagination(String),
    #[error("invalid Range or Content-Range header: {0}")]
    BadRange(String),
    #[error("no such endpoint")]
    NoEndpoint,
    #[error("method not allowed on this endpoint (allowed: {allow})")]
    MethodNotAllowed {
        /// The `Allow` header: the endpoint's methods.
        allow: &'static str,
    },
    /// A health check fails: the instance is to be taken out of rotation.
    #[error("health check failed: please see /debug/health")]
    Unavailable,
    #[error("{}", if .0.denied { "requested access to the resource is denied" } else { "authentication required" })]
    Auth(Refusal),
    /// A pull-through cache's upstream failed (see `crate::proxy`).
    #[error(transparent)]
    Upstream(#[from] crate::proxy::FetchError),
}

pub type ApiResult<T = HttpResponse> = Result<T, ApiError>;

impl ApiError {
    /// The status and OCI error code.
    fn classify(&self) -> (StatusCode, &'static str) {
        use RegistryError as R;
        match self {
            ApiError::Registry(e) => match e {
                R::BlobUnknown(_) => (StatusCode::NOT_FOUND, "BLOB_UNKNOWN"),
                R::BlobUploadUnknown => (StatusCode::NOT_FOUND, "BLOB_UPLOAD_UNKNOWN"),
                R::BlobUploadInvalid(_) | R::ClientBody(_) => {
                    (StatusCode::BAD_REQUEST, "BLOB_UPLOAD_INVALID")
                }
                R::DigestInvalid(_) => (StatusCode::BAD_REQUEST, "DIGEST_INVALID"),
                R::ManifestBlobUnknown(_) => (StatusCode::BAD_REQUEST, "MANIFEST_BLOB_UNKNOWN"),
                R::ManifestInvalid(_) => (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"),
                R::ManifestUnknown(_) => (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"),
                R::ManifestTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "MANIFEST_INVALID"),
                R::NameInvalid(_) => (StatusCode::BAD_REQUEST, "NAME_INVALID"),
                R::NameUnknown(_) => (StatusCode::NOT_FOUND, "NAME_UNKNOWN"),
                R::SizeInvalid(_) => (StatusCode::BAD_REQUEST, "SIZE_INVALID"),
                R::RangeNotSatisfiable { .. } | R::ChunkOutOfOrder { .. } => {
                    (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID")
                }
                R::Unsupported(_) | R::ReadOnly => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
                R::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
            },
            ApiError::Pagination(_) => (StatusCode::BAD_REQUEST, "PAGINATION_NUMBER_INVALID"),
            ApiError::BadRange(_) => (StatusCode::RANGE_NOT_SATISFIABLE, "RANGE_INVALID"),
            // The spec's codes have no "no such endpoint" and a response's code must be one of
            // them; UNSUPPORTED ("missing implementation") is the one that fits. The reference
            // answers a plain-text "404 page not found" here, which no client parses.
            ApiError::NoEndpoint => (StatusCode::NOT_FOUND, "UNSUPPORTED"),
            ApiError::MethodNotAllowed { .. } => (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"),
            ApiError::Auth(refusal) if refusal.denied => (StatusCode::FORBIDDEN, "DENIED"),
            ApiError::Auth(_) => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            ApiError::Upstream(e) => upstream_status(e),
        }
    }

    /// The spec's short message for a code; the detail carries the specifics.
    fn message(code: &str) -> &'static str {
        match code {
            "BLOB_UNKNOWN" => "blob unknown to registry",
            "BLOB_UPLOAD_UNKNOWN" => "blob upload unknown to registry",
            "BLOB_UPLOAD_INVALID" => "blob upload invalid",
            "DIGEST_INVALID" => "provided digest did not match uploaded content",
            "MANIFEST_BLOB_UNKNOWN" => "manifest references a manifest or blob unknown to registry",
            "MANIFEST_INVALID" => "manifest invalid",
            "MANIFEST_UNKNOWN" => "manifest unknown to registry",
            "NAME_INVALID" => "invalid repository name",
            "NAME_UNKNOWN" => "repository name not known to registry",
            "SIZE_INVALID" => "provided length did not match content length",
            "RANGE_INVALID" => "invalid content range",
            "UNSUPPORTED" => "the operation is unsupported",
            "PAGINATION_NUMBER_INVALID" => "invalid number of results requested",
            "UNAUTHORIZED" => "authentication required",
            "DENIED" => "requested access to the resource is denied",
            "TOOMANYREQUESTS" => "too many requests",
            "UNAVAILABLE" => "service unavailable",
            _ => "unknown error",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.classify().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, code) = self.classify();
        let detail = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Storage errors may name internal paths or endpoints: log them, don't send them.
            tracing::error!(error = %self, "request failed");
            json!("internal error; see the registry's log")
        } else if let ApiError::Auth(refusal) = self {
            access_records(refusal)
        } else {
            json!(self.to_string())
        };
        let body = json!({
            "errors": [{
                "code": code,
                "message": Self::message(code),
                "detail": detail,
            }]
        });
        let mut response = HttpResponse::build(status);
        response.insert_header(API_VERSION);
        match self {
            ApiError::Registry(RegistryError::RangeNotSatisfiable { size }) => {
                response.insert_header((header::CONTENT_RANGE, format!("bytes */{size}")));
            }
            ApiError::Registry(RegistryError::ChunkOutOfOrder { expected }) => {
                response.insert_header((header::RANGE, upload_range(*expected)));
            }
            ApiError::MethodNotAllowed { allow } => {
                response.insert_header((header::ALLOW, *allow));
            }
            ApiError::Upstream(FetchError::Upstream(UpstreamError::RateLimited {
                retry_after: Some(after),
            })) => {
                response.insert_header((header::RETRY_AFTER, after.as_str()));
            }
            ApiError::Auth(Refusal {
                challenge: Some(challenge),
                ..
            }) => {
                response.insert_header((header::WWW_AUTHENTICATE, challenge.as_str()));
            }
            _ => {}
        }
        response
            .insert_header((
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ))
            .body(body.to_string())
    }
}

/// An upstream's failure: its rate limit is passed on (429, so clients back off); what it
/// sent that failed verification is a bad gateway; otherwise it is unavailable (503,
/// retryable). A storage failure while caching is this registry's own (500).
fn upstream_status(error: &FetchError) -> (StatusCode, &'static str) {
    match error {
        FetchError::Upstream(UpstreamError::RateLimited { .. }) => {
            (StatusCode::TOO_MANY_REQUESTS, "TOOMANYREQUESTS")
        }
        FetchError::Upstream(UpstreamError::Invalid(_)) | FetchError::Mismatch(_) => {
            (StatusCode::BAD_GATEWAY, "UNAVAILABLE")
        }
        FetchError::Upstream(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
        FetchError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "UNKNOWN"),
    }
}

/// The `detail` of an authorization error, as the reference writes it: the access records
/// the request needed (`null` for the `/v2/` check, which needs none).
fn access_records(refusal: &Refusal) -> serde_json::Value {
    if refusal.needed.is_empty() {
        return serde_json::Value::Null;
    }
    refusal
        .needed
        .iter()
        .map(|access| {
            json!({
                "Type": access.resource.kind(),
                "Class": "",
                "Name": access.resource.name(),
                "Action": access.action.as_str(),
            })
        })
        .collect()
}

/// The `Range` header of upload responses: `0-<last byte>`. The reference says `0-0` for an
/// empty upload, and clients expect that.
pub fn upload_range(size: u64) -> String {
    format!("0-{}", size.saturating_sub(1))
}
