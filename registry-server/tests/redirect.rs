//! Blob downloads redirected to the storage backend by presigned URL (and the reference's
//! `redirect` middleware): the registry checks the link, then answers 307 without carrying the
//! bytes. Drivers that cannot presign keep streaming.

mod common;

use std::time::Duration;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, RANGE};

driver_tests!(
    downloads_redirect_where_the_driver_presigns,
    range_requests_are_served_by_storage,
    unlinked_blobs_are_404_before_any_redirect,
    redirect_middleware_points_at_its_base_url,
);

cloud_driver_tests!(
    expired_urls_stop_working,
    disabled_redirects_stream_through_the_registry,
    public_origin_replaces_the_storage_origin,
);

fn redirects(expiry: &str) -> Options {
    Options {
        redirect: Some(format!("    expiry: {expiry}\n")),
        ..Options::default()
    }
}

/// A plain client that does not follow redirects and holds no credentials.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn downloads_redirect_where_the_driver_presigns(driver: Driver) {
    let s = TestServer::start_with(driver, redirects("5m")).await;
    let data = bytes(61, 3 * 1024 * 1024 + 5);
    let digest = s.push_blob("redirected", &data).await;
    let path = format!("/v2/redirected/blobs/{digest}");

    let get = s.get(&path).await;
    let head = s.head(&path).await;
    if !driver.presigns() {
        assert_eq!(get.status(), StatusCode::OK);
        assert_eq!(get.bytes().await.unwrap().as_ref(), &data[..]);
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(s.blob_counters().await, (data.len() as u64, 0));
        s.stop().await;
        return;
    }
    for response in [&get, &head] {
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            header(response, "Docker-Content-Digest").as_deref(),
            Some(digest.as_str())
        );
    }
    let fetched = plain().get(location(&get)).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK, "GET of the presigned URL");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
    let fetched = plain().head(location(&head)).send().await.unwrap();
    assert_eq!(
        fetched.status(),
        StatusCode::OK,
        "HEAD of the presigned URL"
    );
    assert_eq!(
        fetched
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()),
        Some(data.len().to_string().as_str())
    );
    // No blob byte went through the registry; both downloads were redirected.
    assert_eq!(s.blob_counters().await, (0, 2));
    s.stop().await;
}

async fn range_requests_are_served_by_storage(driver: Driver) {
    let s = TestServer::start_with(driver, redirects("5m")).await;
    let data = bytes(62, 100_000);
    let digest = s.push_blob("ranged", &data).await;
    let response = s
        .send(
            s.request(reqwest::Method::GET, &format!("/v2/ranged/blobs/{digest}"))
                .header(RANGE, "bytes=1000-1999"),
        )
        .await;
    let ranged = if driver.presigns() {
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        plain()
            .get(location(&response))
            .header(RANGE, "bytes=1000-1999")
            .send()
            .await
            .unwrap()
    } else {
        response
    };
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(ranged.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    s.stop().await;
}

async fn unlinked_blobs_are_404_before_any_redirect(driver: Driver) {
    let s = TestServer::start_with(driver, redirects("5m")).await;
    let digest = s.push_blob("holder", &bytes(63, 4096)).await;
    for response in [
        s.get(&format!("/v2/stranger/blobs/{digest}")).await,
        s.head(&format!("/v2/stranger/blobs/{digest}")).await,
    ] {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(header(&response, "Location").is_none(), "a URL leaked");
    }
    assert_eq!(s.blob_counters().await, (0, 0));
    s.stop().await;
}

async fn redirect_middleware_points_at_its_base_url(driver: Driver) {
    let options = Options {
        middleware: Some(
            "middleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://cdn.example.invalid/registry/\n"
                .into(),
        ),
        ..redirects("5m")
    };
    let s = TestServer::start_with(driver, options).await;
    let digest = s.push_blob("cdn", &bytes(64, 2048)).await;
    let response = s.get(&format!("/v2/cdn/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    let hex = digest.hex();
    assert_eq!(
        location(&response),
        format!(
            "https://cdn.example.invalid/registry/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        )
    );
    s.stop().await;
}

/// A URL works while fresh and is refused once expired. Expiries have whole seconds, so a
/// URL issued with a 3 s expiry is good for at least 2 s: the fresh use is only judged when
/// it happened within 1.5 s of the redirect (a loaded machine retries with a new URL rather
/// than loosening what is proved), and the stale use comes well after the expiry.
async fn expired_urls_stop_working(driver: Driver) {
    let s = TestServer::start_with(driver, redirects("3s")).await;
    let data = bytes(65, 10_000);
    let digest = s.push_blob("expiring", &data).await;
    let mut fresh = None;
    for _ in 0..5 {
        let issued = std::time::Instant::now();
        let response = s.get(&format!("/v2/expiring/blobs/{digest}")).await;
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        let url = location(&response);
        let status = plain().get(&url).send().await.unwrap().status();
        if issued.elapsed() < Duration::from_millis(1500) {
            assert_eq!(status, StatusCode::OK, "a fresh URL works");
            fresh = Some((url, issued));
            break;
        }
    }
    let (url, issued) = fresh.expect("no redirect and fetch within 1.5 s in five tries");
    tokio::time::sleep_until((issued + Duration::from_secs(3 + 2)).into()).await;
    let stale = plain().get(&url).send().await.unwrap();
    assert_eq!(
        stale.status(),
        StatusCode::FORBIDDEN,
        "an expired URL is refused"
    );
    s.stop().await;
}

async fn disabled_redirects_stream_through_the_registry(driver: Driver) {
    let options = Options {
        redirect: Some("    disable: true\n".into()),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    let data = bytes(66, 200_000);
    let digest = s.push_blob("streamed", &data).await;
    let response = s.get(&format!("/v2/streamed/blobs/{digest}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
    assert_eq!(s.blob_counters().await, (data.len() as u64, 0));
    s.stop().await;
}

/// The presigned URL's origin replaced by a public one, distinct from the storage's: a proxy
/// started here. An Azure SAS does not sign the host, so a plain forwarding proxy works; an
/// S3 SigV4 URL signs it, so (as the README says) the public endpoint must forward with the
/// internal `Host`, which this proxy does for S3.
async fn public_origin_replaces_the_storage_origin(driver: Driver) {
    let probe = TestServer::start_with(driver, redirects("5m")).await;
    let digest = probe.push_blob("public", &bytes(67, 5000)).await;
    let original = location(&probe.get(&format!("/v2/public/blobs/{digest}")).await);
    probe.stop().await;
    let internal = original.split('/').take(3).collect::<Vec<_>>().join("/");
    let internal_authority = internal.trim_start_matches("http://").to_owned();
    let rewrite_host = (driver == Driver::S3).then(|| internal_authority.clone());
    let proxy = HostProxy::start(&internal_authority, rewrite_host).await;
    let public = format!("http://{}", proxy.authority);
    assert_ne!(public, internal);
    let options = Options {
        redirect: Some(format!("    expiry: 5m\n    publicurl: {public}\n")),
        ..Options::default()
    };
    let s = TestServer::start_with(driver, options).await;
    let data = bytes(68, 5000);
    let digest = s.push_blob("public", &data).await;
    let url = location(&s.get(&format!("/v2/public/blobs/{digest}")).await);
    assert!(
        url.starts_with(&format!("{public}/")),
        "{url} is not below {public}"
    );
    let fetched = plain().get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), StatusCode::OK);
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), &data[..]);
    assert!(
        proxy.connections() > 0,
        "the download went through the public origin"
    );
    s.stop().await;
}

/// A forwarding proxy on its own port: one upstream connection per client connection, the
/// request head's `Host` optionally replaced (for one request per connection, which is what
/// the test's client sends on a fresh connection).
struct HostProxy {
    authority: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HostProxy {
    async fn start(upstream: &str, rewrite_host: Option<String>) -> HostProxy {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        let upstream = upstream.to_owned();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let upstream = upstream.clone();
                let rewrite_host = rewrite_host.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    // The request head, up to the blank line.
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if client.read_exact(&mut byte).await.is_err() {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&head).into_owned();
                    let head: String = match &rewrite_host {
                        Some(host) => text
                            .split("\r\n")
                            .map(|line| {
                                if line.to_ascii_lowercase().starts_with("host:") {
                                    format!("host: {host}")
                                } else {
                                    line.to_owned()
                                }
                            })
                            .collect::<Vec<_>>()
                            .join("\r\n"),
                        None => text,
                    };
                    if server.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        HostProxy {
            authority,
            connections,
            task,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for HostProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
