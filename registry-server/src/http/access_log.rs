//! One log line per request, written when its response body has been sent (for a blob GET,
//! when the download ends), with the query string (credentials redacted), and a request id:
//! the client's `X-Request-Id` when it sends a sane one, otherwise a new one. The id goes back
//! in the response's `X-Request-Id` and is on every log line written while serving the
//! request (the `request` span).

use std::borrow::Cow;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use super::body_end::BodyEnd;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn log_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let id = request_id(req.headers().get(&REQUEST_ID));
    let span = tracing::info_span!("request", request_id = %id);
    let method = req.method().clone();
    let path = without_upload_secret(req.path()).into_owned();
    let query = redacted_query(req.query_string());
    let peer = req.peer_addr();
    let log = move |status: u16, sent: u64| {
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(
            target: "access",
            %method,
            path,
            query = query.as_deref(),
            status,
            bytes = sent,
            elapsed_ms = format_args!("{elapsed_ms:.2}"),
            peer = peer.map(|p| p.to_string()).unwrap_or_default(),
        );
    };
    let mut response = match next.call(req).instrument(span.clone()).await {
        Ok(response) => response,
        Err(e) => {
            let _entered = span.enter();
            log(e.as_response_error().status_code().as_u16(), 0);
            return Err(e);
        }
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    Ok(response.map_body(move |_, body| {
        let end_span = span.clone();
        BodyEnd::new(body.boxed(), Some(span), move |sent| {
            let _entered = end_span.enter();
            log(status, sent);
        })
    }))
}

/// The client's request id if it is one a log can hold (1 to 128 visible ASCII characters),
/// otherwise a new one.
fn request_id(sent: Option<&HeaderValue>) -> String {
    sent.and_then(|v| v.to_str().ok())
        .filter(|id| (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(new_request_id, str::to_owned)
}

/// 32 hex digits: a random number drawn once per process (so that instances behind one
/// balancer do not collide), then a counter. A random id per request cost a `getrandom`
/// system call each, measurable in the request rate.
fn new_request_id() -> String {
    static PROCESS: std::sync::LazyLock<u64> = std::sync::LazyLock::new(rand::random);
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:016x}{n:016x}", *PROCESS)
}

/// Query parameters whose values are credentials (tokens, signatures of presigned URLs,
/// passwords) are logged as `REDACTED`; the others (`digest`, `mount`, `from`, `n`, `last`)
/// as sent. `None` for no query.
fn redacted_query(query: &str) -> Option<String> {
    if query.is_empty() {
        return None;
    }
    const SECRET_KEYS: &[&str] = &[
        "token",
        "password",
        "passwd",
        "secret",
        "signature",
        "credential",
        "auth",
        "sig",
        "key",
        "state",
        "session",
    ];
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| {
            let (key, _) = pair.split_once('=').unwrap_or((pair, ""));
            let lower = key.to_ascii_lowercase();
            if pair.contains('=') && SECRET_KEYS.iter().any(|secret| lower.contains(secret)) {
                Cow::Owned(format!("{key}=REDACTED"))
            } else {
                Cow::Borrowed(pair)
            }
        })
        .collect();
    Some(pairs.join("&"))
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
    use super::*;

    #[test]
    fn query_strings_keep_what_explains_a_request_and_hide_credentials() {
        assert_eq!(redacted_query(""), None);
        assert_eq!(
            redacted_query("mount=sha256:abc&from=team/app").as_deref(),
            Some("mount=sha256:abc&from=team/app")
        );
        assert_eq!(
            redacted_query("digest=sha256:abc&_state=xyz").as_deref(),
            Some("digest=sha256:abc&_state=REDACTED")
        );
        assert_eq!(
            redacted_query("X-Amz-Signature=s&X-Amz-Credential=c&access_token=t&sig=a&n=10")
                .as_deref(),
            Some(
                "X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&access_token=REDACTED&sig=REDACTED&n=10"
            )
        );
    }

    #[test]
    fn request_ids_are_the_clients_when_sane() {
        let sent = HeaderValue::from_static("abc-123");
        assert_eq!(request_id(Some(&sent)), "abc-123");
        let spaced = HeaderValue::from_static("a b");
        let fresh = request_id(Some(&spaced));
        assert_eq!(fresh.len(), 32, "{fresh}");
        let long = HeaderValue::from_str(&"x".repeat(129)).unwrap();
        assert_eq!(request_id(Some(&long)).len(), 32);
        assert_ne!(request_id(None), request_id(None));
    }

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
