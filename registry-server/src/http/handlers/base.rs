use actix_web::HttpResponse;
use actix_web::http::header;

use crate::http::AppState;

/// `GET /v2/`: the API is here (no authentication is configured).
pub fn version_check() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body("{}")
}

/// `GET /metrics` (with `http.metrics.enabled`): the registry's metrics.
pub fn metrics(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE))
        .body(state.metrics.render())
}
