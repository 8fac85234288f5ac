use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use registry_core::domain::RepositoryName;
use registry_core::domain::media_types::OCI_INDEX;
use serde_json::json;

use super::parse_digest;
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::query_param;

/// `GET /v2/<name>/referrers/<digest>?artifactType=`: an image index of the manifests whose
/// subject is `<digest>`; empty, never 404, when there are none.
pub async fn list(
    req: &HttpRequest,
    state: &AppState,
    repo: &RepositoryName,
    digest: &str,
) -> ApiResult {
    let subject = parse_digest(digest)?;
    let artifact_type = query_param(req, "artifactType").filter(|t| !t.is_empty());
    let manifests = state
        .registry
        .referrers(repo, &subject, artifact_type.as_deref())
        .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CONTENT_TYPE, OCI_INDEX));
    if artifact_type.is_some() {
        response.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": manifests,
    });
    Ok(response.body(index.to_string()))
}
