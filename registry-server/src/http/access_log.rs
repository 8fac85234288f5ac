//! One log line per request.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.path().to_owned();
    let peer = req.peer_addr();
    let response = next.call(req).await?;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "access",
        %method,
        path,
        status,
        elapsed_ms = format_args!("{elapsed_ms:.2}"),
        peer = peer.map(|p| p.to_string()).unwrap_or_default(),
    );
    Ok(response)
}
