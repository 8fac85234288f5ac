//! One log line per request.

use std::borrow::Cow;
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
    let path = without_upload_secret(req.path()).into_owned();
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

/// An upload's id is what lets a client write to the upload, so logs show only its first
/// eight characters: enough to follow one upload through the log, far too few to guess the
/// rest (90 random bits).
fn without_upload_secret(path: &str) -> Cow<'_, str> {
    const MARKER: &str = "/blobs/uploads/";
    let Some(at) = path.find(MARKER) else {
        return Cow::Borrowed(path);
    };
    let id_start = at + MARKER.len();
    let id_len = path[id_start..].find('/').unwrap_or(path.len() - id_start);
    if id_len <= 8 {
        return Cow::Borrowed(path);
    }
    let kept = path[id_start..]
        .char_indices()
        .nth(8)
        .map_or(id_len, |(i, _)| i);
    Cow::Owned(format!(
        "{}…{}",
        &path[..id_start + kept],
        &path[id_start + id_len..]
    ))
}

#[cfg(test)]
mod tests {
    use super::without_upload_secret;

    #[test]
    fn upload_ids_are_shortened() {
        assert_eq!(
            without_upload_secret("/v2/a/b/blobs/uploads/8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f"),
            "/v2/a/b/blobs/uploads/8d6c1f7e…"
        );
        assert_eq!(
            without_upload_secret("/v2/a/blobs/uploads/"),
            "/v2/a/blobs/uploads/"
        );
        assert_eq!(
            without_upload_secret("/v2/a/manifests/latest"),
            "/v2/a/manifests/latest"
        );
        assert_eq!(
            without_upload_secret("/v2/a/blobs/uploads/ééééééééééé/x"),
            "/v2/a/blobs/uploads/éééééééé…/x"
        );
    }
}
