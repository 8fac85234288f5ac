//! Failures between the driver and the server, injected by a TCP proxy in front of the
//! emulator: throttling and server errors are retried by the SDK's retry configuration, and a
//! download cut mid-body resumes where it broke. SigV4 signs the `Host` header the driver sends,
//! which the proxy relays unchanged, so the emulator still verifies every signature.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use registry_core::storage::{Storage, StorageError};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const MIB: usize = 1024 * 1024;

/// What the proxy does with one connection.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answers the first request with this status and closes the connection.
    Answer(u16),
    /// Relays, but closes the connection once this many response bytes went to the driver.
    CutAfter(usize),
    Relay,
}

struct Proxy {
    endpoint: String,
    connections: Arc<AtomicUsize>,
}

impl Proxy {
    /// A proxy to `upstream` (`host:port`) applying `plan(n)` to its n-th connection.
    async fn start(upstream: String, plan: fn(usize) -> Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = plan(counter.fetch_add(1, Ordering::SeqCst));
                tokio::spawn(serve(client, upstream.clone(), fault));
            }
        });
        Proxy {
            endpoint,
            connections,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(mut client: TcpStream, upstream: String, fault: Fault) {
    if let Fault::Answer(status) = fault {
        // Read the request head, answer, hang up; the body (if any) is never read.
        let mut head = Vec::new();
        let mut buf = [0u8; 8192];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let response =
            format!("HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = client.write_all(response.as_bytes()).await;
        let _ = client.shutdown().await;
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let requests = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    });
    let limit = match fault {
        Fault::CutAfter(limit) => limit,
        _ => usize::MAX,
    };
    let mut relayed = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while relayed < limit {
        let n = match server_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n.min(limit - relayed),
        };
        if client_write.write_all(&buf[..n]).await.is_err() {
            break;
        }
        relayed += n;
    }
    // Dropping both halves closes the connection, mid-response for a cut.
    requests.abort();
}

/// A storage handle (configured with `overrides`) that talks to the emulator through a proxy
/// with `plan`.
async fn through_proxy(
    plan: fn(usize) -> Fault,
    overrides: serde_json::Value,
) -> Option<(Storage, Proxy)> {
    let direct = common::config(json!({}))?;
    let upstream = direct
        .endpoint()
        .and_then(|e| e.strip_prefix("http://"))
        .expect("the emulator speaks plain http")
        .to_owned();
    let proxy = Proxy::start(upstream, plan).await;
    let mut overrides = overrides;
    overrides["regionendpoint"] = json!(proxy.endpoint);
    let opener = common::Opener::new(overrides).await?;
    Some((opener.storage(), proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried() {
    for status in [503, 500, 429] {
        // Two failed attempts, then the real server: within the SDK's five attempts.
        let plan: fn(usize) -> Fault = match status {
            503 => |n| {
                if n < 2 {
                    Fault::Answer(503)
                } else {
                    Fault::Relay
                }
            },
            500 => |n| {
                if n < 2 {
                    Fault::Answer(500)
                } else {
                    Fault::Relay
                }
            },
            _ => |n| {
                if n < 2 {
                    Fault::Answer(429)
                } else {
                    Fault::Relay
                }
            },
        };
        let Some((storage, proxy)) = through_proxy(plan, json!({})).await else {
            return;
        };
        let prefix = common::unique_prefix("faults");
        let path = format!("{prefix}/retried");
        storage
            .put_content(&path, &b"through failures"[..])
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert!(
            proxy.connections() >= 3,
            "{status}: the failures were not retried"
        );
        assert_eq!(
            storage.get_content(&path).await.expect("get").as_ref(),
            b"through failures"
        );
        storage.delete(&prefix).await.expect("cleanup");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_through_failures_completes() {
    // Every other new connection fails; concurrent part uploads open several.
    let plan = |n| {
        if n % 2 == 0 {
            Fault::Answer(503)
        } else {
            Fault::Relay
        }
    };
    let Some((storage, proxy)) = through_proxy(plan, json!({"chunksize": 5 * MIB})).await else {
        return;
    };
    let prefix = common::unique_prefix("flaky");
    let path = format!("{prefix}/blob");
    let content = common::random_bytes(16 * MIB + 5); // Parts of 5, 5, 5 and 1 MiB + 5.
    let mut writer = storage.writer(&path, false).await.expect("writer");
    for piece in content.chunks(MIB) {
        writer
            .write(Bytes::copy_from_slice(piece))
            .await
            .expect("write");
    }
    writer.commit().await.expect("commit");
    assert!(proxy.connections() >= 2, "no failure was injected");
    let read = common::read_all(&storage, &path, 0).await.expect("read");
    assert!(read == content, "content differs");
    storage.delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_failures_end_in_a_backend_error() {
    let Some((storage, proxy)) = through_proxy(|_| Fault::Answer(503), json!({})).await else {
        return;
    };
    let result = storage.stat("/anything").await;
    assert!(
        matches!(result, Err(StorageError::Backend { driver: "s3", .. })),
        "{result:?}"
    );
    assert_eq!(proxy.connections(), 5, "one connection per attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_mid_body_resumes() {
    let Some(direct) = common::Opener::new(json!({})).await else {
        return;
    };
    let direct = direct.storage();
    let prefix = common::unique_prefix("cut");
    let path = format!("{prefix}/blob");
    let content = common::random_bytes(3 * MIB + 11);
    let mut writer = direct.writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(content.clone()))
        .await
        .expect("write");
    writer.commit().await.expect("commit");

    // The download's connection is cut after about a MiB; the reader continues on another.
    let plan = |n| {
        if n == 0 {
            Fault::CutAfter(MIB)
        } else {
            Fault::Relay
        }
    };
    let Some((storage, proxy)) = through_proxy(plan, json!({})).await else {
        return;
    };
    let read = common::read_all(&storage, &path, 0).await.expect("read");
    assert!(read == content, "resumed content differs");
    assert_eq!(
        proxy.connections(),
        2,
        "expected a cut and a resumed download"
    );

    direct.delete(&prefix).await.expect("cleanup");
}
