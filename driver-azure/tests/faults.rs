//! Failures between the driver and the service, injected by a small TCP proxy in front of
//! Azurite: throttling and server errors must be retried, and a download cut mid-body must
//! resume where it broke.
mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use driver_azure::{AzureConfig, AzureDriver};
use futures::TryStreamExt;
use registry_core::storage::Storage;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use common::Azurite;

/// What the proxy does with one client connection.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answers the first request with this status (and `Retry-After: 0`), then closes.
    Status(u16),
    /// Relays, but drops the connection after this many bytes towards the client, unless
    /// another connection of the proxy was already cut: one cut per proxy, on whichever
    /// connection carries the body (the SDK's pool decides which one that is).
    CutAfter(u64),
    /// Relays.
    None,
}

struct Proxy {
    port: u16,
    connections: Arc<AtomicUsize>,
    faults: Arc<AtomicUsize>,
}

impl Proxy {
    /// Relays to `upstream`, applying `plan(n)` to the n-th connection (from 0).
    async fn start(upstream: SocketAddr, plan: fn(usize) -> Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(AtomicUsize::new(0));
        let (count, faulted) = (connections.clone(), faults.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = plan(count.fetch_add(1, Ordering::SeqCst));
                tokio::spawn(serve(client, upstream, fault, faulted.clone()));
            }
        });
        Proxy {
            port,
            connections,
            faults,
        }
    }
}

async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: Fault,
    faults: Arc<AtomicUsize>,
) {
    match fault {
        Fault::Status(status) => {
            // Read the request head, answer, and hang up (the body, if any, is not read).
            let mut head = Vec::new();
            let mut buf = [0u8; 4096];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            faults.fetch_add(1, Ordering::SeqCst);
            let response = format!(
                "HTTP/1.1 {status} Injected\r\nContent-Length: 0\r\nRetry-After: 0\r\nConnection: close\r\n\r\n"
            );
            let _ = client.write_all(response.as_bytes()).await;
            let _ = client.shutdown().await;
        }
        Fault::CutAfter(limit) => {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let upward = tokio::spawn(async move {
                let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
            });
            let mut relayed = 0u64;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = match server_read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let allowed = (limit - relayed).min(n as u64) as usize;
                if client_write.write_all(&buf[..allowed]).await.is_err() {
                    break;
                }
                relayed += allowed as u64;
                if relayed == limit {
                    let first_cut = faults
                        .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok();
                    if first_cut {
                        break;
                    }
                    // Already cut once: relay the rest untouched.
                    let _ = client_write.write_all(&buf[allowed..n]).await;
                    let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
                    break;
                }
            }
            upward.abort();
            // Dropping both halves resets the connection mid-response.
        }
        Fault::None => {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
    }
}

/// Azurite's address and a configuration for it, with a root directory of the test's own.
fn azurite() -> Option<(SocketAddr, AzureConfig)> {
    let Azurite {
        service_url,
        account,
        key,
        container,
    } = Azurite::from_env()?;
    let url: reqwest::Url = service_url.parse().expect("service URL");
    let address = url
        .socket_addrs(|| None)
        .expect("service address")
        .into_iter()
        .next()
        .expect("an address");
    let mut config = AzureConfig::shared_key(account, key, container, url);
    config.root_directory = format!("azure-faults-{}", uuid::Uuid::new_v4().simple());
    Some((address, config))
}

fn through(proxy: &Proxy, config: &AzureConfig) -> AzureConfig {
    let mut config = config.clone();
    config
        .service_url
        .set_port(Some(proxy.port))
        .expect("settable port");
    config
}

fn storage(config: &AzureConfig) -> Storage {
    Storage::new(Arc::new(AzureDriver::connect(config).expect("driver")))
}

async fn read_all(storage: &Storage, path: &str) -> Vec<u8> {
    let chunks: Vec<Bytes> = storage
        .reader(path, 0)
        .await
        .expect("reader")
        .try_collect()
        .await
        .expect("read");
    chunks.concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried() {
    let Some((azurite, config)) = azurite() else {
        return;
    };
    AzureDriver::new(config.clone()).await.expect("container");
    let proxy = Proxy::start(azurite, |n| match n {
        0 => Fault::Status(429),
        1 => Fault::Status(503),
        2 => Fault::Status(500),
        _ => Fault::None,
    })
    .await;
    let faulty = storage(&through(&proxy, &config));
    faulty
        .put_content("/retried/file", "made it")
        .await
        .expect("put despite 429, 503 and 500");
    assert_eq!(
        proxy.faults.load(Ordering::SeqCst),
        3,
        "each fault was met once"
    );
    assert!(proxy.connections.load(Ordering::SeqCst) >= 4);
    let direct = storage(&config);
    assert_eq!(
        direct
            .get_content("/retried/file")
            .await
            .expect("get")
            .as_ref(),
        b"made it"
    );
    direct.delete("/retried").await.expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_mid_body_resumes() {
    let Some((azurite, config)) = azurite() else {
        return;
    };
    let direct = Storage::new(Arc::new(
        AzureDriver::new(config.clone()).await.expect("container"),
    ));
    let content: Vec<u8> = (0..24 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    direct
        .put_content("/cut/blob", content.clone())
        .await
        .expect("put");

    // Whichever connection carries the GET (the HEAD may go on another one) is cut 5 MiB
    // into the body, once.
    let proxy = Proxy::start(azurite, |_| Fault::CutAfter(5 * 1024 * 1024)).await;
    let read = read_all(&storage(&through(&proxy, &config)), "/cut/blob").await;
    assert_eq!(proxy.faults.load(Ordering::SeqCst), 1, "the cut happened");
    assert!(read == content, "resumed download differs");
    direct.delete("/cut").await.expect("clean up");
}
