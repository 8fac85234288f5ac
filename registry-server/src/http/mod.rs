//! The HTTP face of the registry (actix-web): one dispatcher that recognises the
//! distribution API's endpoints and hands each to its handler module.

pub(crate) mod access;
mod access_log;
mod body;
pub(crate) mod body_end;
pub mod debug;
mod dispatch;
pub mod errors;
pub(crate) mod handlers;
pub(crate) mod headers;
mod multipart;
pub(crate) mod percent;
pub mod routes;
pub mod tls;
mod unread_body;

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, middleware, web};
use registry_core::registry::Registry;

/// Sent on every response, as the Docker Registry v2 protocol requires.
pub const API_VERSION: (&str, &str) = ("Docker-Distribution-API-Version", "registry/2.0");

/// Everything the handlers share.
pub struct AppState {
    pub registry: Registry,
    /// Who may do what (`auth`, `access`).
    pub access: crate::auth::AccessControl,
    pub urls: Urls,
    /// The Prometheus metrics of this server.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The health checks' verdict: every request answers 503 while a check fails.
    pub health: crate::health::Health,
    /// `http.metrics.enabled`: `/metrics` on this listener too.
    pub metrics_on_main: bool,
    /// `http.timeouts.body`: the longest pause in a request body.
    pub body_timeout: std::time::Duration,
    /// `storage.cache`: the blob-descriptor cache (its health probe and hit/miss counts).
    pub cache: Option<Arc<crate::cache::DescriptorCache>>,
    /// `proxy`: the pull-through cache, when configured.
    pub proxy: Option<std::sync::Arc<crate::proxy::Proxy>>,
    /// `ui.enabled`: serve the web view (`crate::ui`).
    pub ui_enabled: bool,
}

/// Builds the URLs the registry hands out (`Location`, `Link`).
#[derive(Debug, Clone, Default)]
pub struct Urls {
    /// `http.host`: scheme and authority for absolute URLs; relative URLs without it.
    pub host: Option<String>,
    /// `http.prefix`, as `/x` or empty.
    pub prefix: String,
}

impl Urls {
    /// `path` (starting with `/v2/`) as clients must request it.
    pub fn to(&self, path: &str) -> String {
        format!(
            "{}{}{path}",
            self.host.as_deref().unwrap_or(""),
            self.prefix
        )
    }
}

/// Serves the API on `listener` until the returned server is stopped (or gets SIGTERM /
/// SIGINT, after which it finishes in-flight requests for up to 30 seconds).
pub fn serve(
    state: AppState,
    listener: TcpListener,
    workers: Option<usize>,
    header_timeout: std::time::Duration,
) -> std::io::Result<Server> {
    start(state, listener, workers, header_timeout, None)
}

/// Like [`serve`], over TLS (HTTP/2 or HTTP/1.1, as the client's ALPN asks). Must be called
/// on an actix system: the certificate reloader runs there.
pub fn serve_tls(
    state: AppState,
    listener: TcpListener,
    workers: Option<usize>,
    header_timeout: std::time::Duration,
    tls: tls::TlsServer,
) -> std::io::Result<Server> {
    start(state, listener, workers, header_timeout, Some(tls.start()))
}

fn start(
    state: AppState,
    listener: TcpListener,
    workers: Option<usize>,
    header_timeout: std::time::Duration,
    tls: Option<rustls::ServerConfig>,
) -> std::io::Result<Server> {
    let metrics = Arc::clone(&state.metrics);
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        let metrics = Arc::clone(&metrics);
        App::new()
            .app_data(state.clone())
            .wrap(middleware::from_fn(unread_body::finish_reading))
            .wrap(middleware::DefaultHeaders::new().add(API_VERSION))
            .wrap(middleware::from_fn(access_log::log_request))
            .wrap(middleware::from_fn(move |req, next| {
                crate::metrics::http::measure(Arc::clone(&metrics), req, next)
            }))
            .default_service(web::to(dispatch::dispatch))
    })
    .shutdown_timeout(30)
    // Headers must arrive in time: a client that opens connections and sends nothing holds
    // no worker. Idle keep-alive connections are closed after the same time.
    .client_request_timeout(header_timeout)
    .keep_alive(header_timeout)
    // The same for a TLS handshake, which comes before any request head.
    .tls_handshake_timeout(header_timeout)
    // A streamed body goes out after its headers, in a second small segment: with Nagle's
    // algorithm it waited for the client's delayed ACK, 40 ms per small blob download.
    .tcp_nodelay(true);
    let mut server = match tls {
        None => server.listen(listener)?,
        Some(config) => server.listen_rustls_0_23(listener, config)?,
    };
    if let Some(workers) = workers {
        server = server.workers(workers);
    }
    Ok(server.run())
}
