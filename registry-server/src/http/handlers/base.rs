use actix_web::HttpResponse;
use actix_web::http::header;

use crate::http::AppState;

/// `GET /v2/`: the API is here (no authentication is configured).
pub fn version_check() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .body("{}")
}

/// `GET /metrics`: the registry's counters.
pub fn metrics(state: &AppState) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(state.stats.render())
}
