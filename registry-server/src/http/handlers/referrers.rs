use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use registry_core::domain::media_types::OCI_INDEX;
use registry_core::domain::{Digest, RepositoryName};

use super::parse_digest;
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::query_param;
use crate::http::percent::encode_query_value;

/// `GET /v2/<name>/referrers/<digest>?artifactType=&last=`: an image index of the manifests
/// whose subject is `<digest>`; empty, never 404, when there are none. Pages are bounded (see
/// `registry_core::registry::referrers`); `Link` names the next one, with the same filter.
pub async fn list(
    req: &HttpRequest,
    state: &AppState,
    repo: &RepositoryName,
    digest: &str,
) -> ApiResult {
    let subject = parse_digest(digest)?;
    let artifact_type = query_param(req, "artifactType").filter(|t| !t.is_empty());
    let last = query_param(req, "last")
        .filter(|l| !l.is_empty())
        .map(|l| parse_digest(&l))
        .transpose()?;
    let page = state
        .registry
        .referrers(repo, &subject, artifact_type.as_deref(), last.as_ref())
        .await?;
    let mut response = HttpResponse::Ok();
    response.insert_header((header::CONTENT_TYPE, OCI_INDEX));
    if artifact_type.is_some() {
        response.insert_header(("OCI-Filters-Applied", "artifactType"));
    }
    if let Some(next) = &page.next_last {
        let link = next_link(state, repo, &subject, next, artifact_type.as_deref());
        response.insert_header((header::LINK, link));
    }
    Ok(response.body(page.index))
}

/// `<.../referrers/<digest>?last=...[&artifactType=...]>; rel="next"`.
fn next_link(
    state: &AppState,
    repo: &RepositoryName,
    subject: &Digest,
    last: &Digest,
    artifact_type: Option<&str>,
) -> String {
    let mut url = format!(
        "{}?last={}",
        state.urls.to(&format!("/v2/{repo}/referrers/{subject}")),
        encode_query_value(last.as_str())
    );
    if let Some(artifact_type) = artifact_type {
        url.push_str("&artifactType=");
        url.push_str(&encode_query_value(artifact_type));
    }
    format!("<{url}>; rel=\"next\"")
}
