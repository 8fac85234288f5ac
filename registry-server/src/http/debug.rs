//! The debug listener (`http.debug.addr`), for operators and load balancers: the health
//! checks' verdict at `/debug/health` in the reference's shape (`{}` and 200 when healthy; the
//! failing checks, name → error, and 503 otherwise) and, with `http.debug.prometheus.enabled`,
//! the metrics at `http.debug.prometheus.path`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::config::debug::HEALTH_PATH;
use crate::health::Health;
use crate::metrics::Metrics;

/// What the debug listener serves.
#[derive(Clone)]
pub struct DebugState {
    pub health: Health,
    pub metrics: Arc<Metrics>,
    /// Where the metrics are served; not at all when `None`.
    pub metrics_path: Option<String>,
}

/// Serves the debug endpoints on `listener` until the returned server is stopped.
pub fn serve(state: DebugState, listener: TcpListener) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(answer))
    })
    // Scrapes and probes are small and few: one worker, and a quick stop.
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn answer(req: HttpRequest, state: web::Data<DebugState>) -> HttpResponse {
    let path = req.path();
    if path == HEALTH_PATH && req.method() == Method::GET {
        return health(&state.health);
    }
    if state.metrics_path.as_deref() == Some(path) && req.method() == Method::GET {
        return HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE))
            .body(state.metrics.render());
    }
    // The reference answers a plain 404 here too (Go's default mux).
    HttpResponse::NotFound()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .body("404 page not found\n")
}

fn health(health: &Health) -> HttpResponse {
    let failures = health.failures();
    let status = if failures.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::to_string(&failures).unwrap_or_else(|_| "{}".to_owned());
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
        .body(body)
}
