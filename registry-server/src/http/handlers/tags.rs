use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use registry_core::domain::RepositoryName;
use serde_json::json;

use super::catalog::next_link;
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::pagination;

/// `GET /v2/<name>/tags/list?n=&last=`
pub async fn list(req: &HttpRequest, state: &AppState, repo: &RepositoryName) -> ApiResult {
    let (n, last) = pagination(req)?;
    let page = state.registry.list_tags(repo, n, last.as_deref()).await?;
    let mut response = HttpResponse::Ok();
    if let Some(link) = next_link(state, &format!("/v2/{repo}/tags/list"), &page, n) {
        response.insert_header((header::LINK, link));
    }
    Ok(response.json(json!({ "name": repo.as_str(), "tags": page.items })))
}
