use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use registry_core::registry::Page;
use serde_json::json;

use crate::auth::Grant;
use crate::http::AppState;
use crate::http::errors::ApiResult;
use crate::http::headers::pagination;
use crate::http::percent::encode_query_value;

/// `GET /v2/_catalog?n=&last=`: under an access policy, only the repositories the caller
/// may pull.
pub async fn list(req: &HttpRequest, state: &AppState, grant: &Grant) -> ApiResult {
    let (n, last) = pagination(req)?;
    let page = if grant.filters_catalog() {
        let visible = |name: &str| grant.lists(name);
        state
            .registry
            .catalog_filtered(n, last.as_deref(), &visible)
            .await?
    } else {
        state.registry.catalog(n, last.as_deref()).await?
    };
    let mut response = HttpResponse::Ok();
    if let Some(link) = next_link(state, "/v2/_catalog", &page, n) {
        response.insert_header((header::LINK, link));
    }
    Ok(response.json(json!({ "repositories": page.items })))
}

/// The RFC 5988 `Link` to the next page, when there is one.
pub fn next_link(state: &AppState, path: &str, page: &Page, n: Option<usize>) -> Option<String> {
    let last = page.next_last.as_deref()?;
    let n = n.unwrap_or(page.items.len());
    Some(format!(
        "<{}?last={}&n={n}>; rel=\"next\"",
        state.urls.to(path),
        encode_query_value(last)
    ))
}
