//! The operators' surface: the debug listener (`/debug/health` in the reference's shape, the
//! Prometheus metrics), health checks against real files, storage, HTTP servers and TCP ports
//! that turn every API answer to 503 while they fail, and the metrics real requests leave.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use registry_server::config::Config;
use registry_server::{http, startup};
use reqwest::{Client, StatusCode};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One registry with its debug listener, from a YAML configuration.
struct Registry {
    base: String,
    debug: String,
    client: Client,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl Registry {
    /// `yaml` is appended to a configuration with `storage` and `http` sections: it may add
    /// top-level sections (`health:`); `http_extra` lines go under `http:`.
    fn start(storage: &str, http_extra: &str, yaml: &str) -> Registry {
        let text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  {storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n{http_extra}{yaml}"
        );
        let config = Config::from_yaml(&text, Vec::new()).expect("test configuration");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let debug_listener = std::net::TcpListener::bind(config.http.debug.addr.unwrap()).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let debug = format!("http://{}", debug_listener.local_addr().unwrap());
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let state = startup::build_state(&config).await.expect("server state");
                let debug =
                    http::debug::serve(startup::debug_state(&config, &state), debug_listener)
                        .expect("debug listener");
                let debug_handle = debug.handle();
                actix_web::rt::spawn(debug);
                let server = http::serve(state, listener, Some(1), config.http.timeouts.header)
                    .expect("HTTP server");
                ready_tx.send(server.handle()).unwrap();
                let _ = server.await;
                debug_handle.stop(false).await;
            })
        });
        let handle = ready_rx.recv().expect("server started");
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Registry {
            base,
            debug,
            client,
            handle,
            thread: Some(thread),
        }
    }

    fn inmemory(yaml: &str) -> Registry {
        Self::start("inmemory: {}", "", yaml)
    }

    async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .unwrap();
        }
    }

    async fn get(&self, url: &str) -> (StatusCode, String, String) {
        let response = self.client.get(url).send().await.expect(url);
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    /// `/debug/health`: status and JSON body.
    async fn health(&self) -> (StatusCode, Value) {
        let (status, content_type, body) = self.get(&format!("{}/debug/health", self.debug)).await;
        assert_eq!(content_type, "application/json; charset=utf-8");
        (status, serde_json::from_str(&body).expect(&body))
    }

    /// Waits (up to 10 s) until `/debug/health` answers `status`, and returns its body.
    async fn health_becomes(&self, status: StatusCode) -> Value {
        for _ in 0..200 {
            let (now, body) = self.health().await;
            if now == status {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "/debug/health never answered {status}: {:?}",
            self.health().await
        );
    }

    /// `GET /v2/` on the main listener.
    async fn version_check(&self) -> (StatusCode, String) {
        let (status, _, body) = self.get(&format!("{}/v2/", self.base)).await;
        (status, body)
    }

    async fn metrics(&self) -> String {
        let (status, content_type, body) = self.get(&format!("{}/metrics", self.debug)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        body
    }

    /// Waits (up to 5 s) until the metrics hold `line`: a request is recorded when its
    /// response body has been sent, which may be a moment after the client read it.
    async fn metrics_with(&self, line: &str) -> String {
        for _ in 0..100 {
            let text = self.metrics().await;
            if text.lines().any(|l| l == line) {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{line:?} not in the metrics:\n{}", self.metrics().await);
    }
}

/// The value of the series `name{labels}` (exactly that line's prefix).
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in the metrics:\n{text}"))
}

/// The main listener refuses everything with the reference's `UNAVAILABLE` error.
fn assert_unavailable(status: StatusCode, body: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let json: Value = serde_json::from_str(body).expect(body);
    assert_eq!(json["errors"][0]["code"], "UNAVAILABLE", "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_health_is_an_empty_object_while_healthy() {
    let registry =
        Registry::inmemory("health:\n  storagedriver:\n    enabled: true\n    interval: 100ms\n");
    let (status, body) = registry.health().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, serde_json::json!({}));
    // Only GET, and only the debug endpoints, as the reference.
    let response = registry
        .client
        .post(format!("{}/debug/health", registry.debug))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (status, _, _) = registry.get(&format!("{}/v2/", registry.debug)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(registry.version_check().await.0, StatusCode::OK);
    let text = registry.metrics().await;
    assert_eq!(
        value(
            &text,
            "registry_health_check_up{check=\"storagedriver_inmemory\"}"
        ),
        1.0
    );
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_file_turns_every_answer_to_503_until_it_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let drain = dir.path().join("drain");
    let registry = Registry::inmemory(&format!(
        "health:\n  file:\n    - file: {}\n      interval: 50ms\n",
        drain.display()
    ));
    assert_eq!(registry.health().await.0, StatusCode::OK);
    std::fs::write(&drain, "out of rotation").unwrap();
    let body = registry
        .health_becomes(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(
        body,
        serde_json::json!({ drain.display().to_string(): "file exists" })
    );
    let (status, body) = registry.version_check().await;
    assert_unavailable(status, &body);
    // Every API request, not only the version check.
    let (status, _, body) = registry
        .get(&format!("{}/v2/a/manifests/latest", registry.base))
        .await;
    assert_unavailable(status, &body);
    let text = registry.metrics().await;
    assert_eq!(
        value(
            &text,
            &format!("registry_health_check_up{{check=\"{}\"}}", drain.display())
        ),
        0.0
    );

    std::fs::remove_file(&drain).unwrap();
    assert_eq!(
        registry.health_becomes(StatusCode::OK).await,
        serde_json::json!({})
    );
    assert_eq!(registry.version_check().await.0, StatusCode::OK);
    registry.stop().await;
}

/// Breaks a filesystem root for real: the root's path becomes a symbolic link to itself, so
/// every access fails with "too many levels of symbolic links" (root ignores permissions, so
/// a `chmod` would not do). A missing root would not do either: the backend answered, the
/// reference's check passes.
fn break_root(root: &Path, aside: &Path) {
    std::fs::rename(root, aside).unwrap();
    std::os::unix::fs::symlink(root, root).unwrap();
}

fn repair_root(root: &Path, aside: &Path) {
    std::fs::remove_file(root).unwrap();
    std::fs::rename(aside, root).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_storage_drains_the_instance_after_threshold_failures_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let aside = dir.path().join("aside");
    std::fs::create_dir(&root).unwrap();
    let storage = format!("filesystem:\n    rootdirectory: {}", root.display());
    let registry = Registry::start(
        &storage,
        "",
        "health:\n  storagedriver:\n    enabled: true\n    interval: 50ms\n    threshold: 3\n",
    );
    assert_eq!(registry.health().await.0, StatusCode::OK);
    assert_eq!(registry.version_check().await.0, StatusCode::OK);

    break_root(&root, &aside);
    let body = registry
        .health_becomes(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    let error = body["storagedriver_filesystem"]
        .as_str()
        .expect("the storage check's error");
    assert!(error.starts_with("filesystem: "), "{error}");
    let (status, body) = registry.version_check().await;
    assert_unavailable(status, &body);

    repair_root(&root, &aside);
    registry.health_becomes(StatusCode::OK).await;
    assert_eq!(registry.version_check().await.0, StatusCode::OK);
    // The checks are not client traffic: they are not counted as storage operations (the
    // version checks touched no storage either).
    let text = registry.metrics().await;
    assert!(
        !text.contains("registry_storage_operations_total{"),
        "{text}"
    );
    registry.stop().await;
}

/// A tiny HTTP server answering every request with `status`, remembering the last request head.
struct Downstream {
    addr: String,
    status: Arc<AtomicU16>,
    last_request: Arc<std::sync::Mutex<String>>,
}

async fn downstream() -> Downstream {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let status = Arc::new(AtomicU16::new(204));
    let last_request = Arc::new(std::sync::Mutex::new(String::new()));
    let (answer, seen) = (Arc::clone(&status), Arc::clone(&last_request));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            let mut buffer = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buffer[..n]),
                }
            }
            *seen.lock().unwrap() = String::from_utf8_lossy(&head).into_owned();
            let code = answer.load(Ordering::Relaxed);
            let response =
                format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = stream.write_all(response.as_bytes()).await;
        }
    });
    Downstream {
        addr,
        status,
        last_request,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_check_heads_the_uri_with_its_headers_and_expects_its_status() {
    let server = downstream().await;
    let uri = format!("http://{}/ready", server.addr);
    let registry = Registry::inmemory(&format!(
        "health:\n  http:\n    - uri: {uri}\n      headers:\n        X-Probe: [one, two]\n      statuscode: 204\n      timeout: 2s\n      interval: 50ms\n"
    ));
    registry.health_becomes(StatusCode::OK).await;
    for _ in 0..100 {
        if !server.last_request.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let head = server.last_request.lock().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("head /ready http/1.1\r\n"), "{head}");
    assert!(
        head.contains("x-probe: one\r\n") && head.contains("x-probe: two\r\n"),
        "{head}"
    );

    server.status.store(500, Ordering::Relaxed);
    let body = registry
        .health_becomes(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    assert_eq!(
        body,
        serde_json::json!({ uri.clone(): "downstream service returned unexpected status: 500" })
    );
    let (status, body) = registry.version_check().await;
    assert_unavailable(status, &body);
    server.status.store(204, Ordering::Relaxed);
    registry.health_becomes(StatusCode::OK).await;
    assert_eq!(registry.version_check().await.0, StatusCode::OK);
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_check_connects_to_the_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let registry = Registry::inmemory(&format!(
        "health:\n  tcp:\n    - addr: {addr}\n      timeout: 1s\n      interval: 50ms\n      threshold: 2\n"
    ));
    assert_eq!(registry.health().await.0, StatusCode::OK);
    drop(listener);
    let body = registry
        .health_becomes(StatusCode::SERVICE_UNAVAILABLE)
        .await;
    let error = body[addr.to_string()]
        .as_str()
        .expect("the tcp check's error");
    assert!(
        error.starts_with(&format!("connection to {addr} failed")),
        "{error}"
    );
    let _listener = std::net::TcpListener::bind(addr).unwrap();
    registry.health_becomes(StatusCode::OK).await;
    registry.stop().await;
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_requests_by_route_template() {
    let dir = tempfile::tempdir().unwrap();
    let storage = format!("filesystem:\n    rootdirectory: {}", dir.path().display());
    let registry = Registry::start(&storage, "", "");
    let client = &registry.client;
    let base = &registry.base;
    let blob = vec![7u8; 100_000];
    let blob_digest = digest(&blob);

    // An upload session (POST, PATCH, PUT), a GET and a HEAD of the blob, a missing manifest,
    // a cancelled upload.
    let started = client
        .post(format!("{base}/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let patched = client
        .patch(&location)
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::ACCEPTED);
    let location = patched.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let closed = client
        .put(format!("{location}{separator}digest={blob_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), StatusCode::CREATED);
    let got = client
        .get(format!("{base}/v2/team/app/blobs/{blob_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().len(), blob.len());
    let head = client
        .head(format!("{base}/v2/team/app/blobs/{blob_digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let missing = client
        .get(format!("{base}/v2/team/app/manifests/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let second = client
        .post(format!("{base}/v2/team/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let location = second.headers()["location"].to_str().unwrap().to_owned();
    let location = if location.starts_with('/') {
        format!("{base}{location}")
    } else {
        location
    };
    let cancelled = client.delete(&location).send().await.unwrap();
    assert_eq!(cancelled.status(), StatusCode::NO_CONTENT);
    // Off the API: counted as `other`.
    let stray = client.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(stray.status(), StatusCode::NOT_FOUND);

    let blob_route = "route=\"/v2/{name}/blobs/{digest}\"";
    let text = registry
        .metrics_with(
            "registry_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1",
        )
        .await;
    let requests = |route: &str, method: &str, status: u16| {
        value(
            &text,
            &format!(
                "registry_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"
            ),
        )
    };
    assert_eq!(requests("/v2/{name}/blobs/uploads/", "POST", 202), 2.0);
    assert_eq!(
        requests("/v2/{name}/blobs/uploads/{uuid}", "PATCH", 202),
        1.0
    );
    assert_eq!(requests("/v2/{name}/blobs/uploads/{uuid}", "PUT", 201), 1.0);
    assert_eq!(
        requests("/v2/{name}/blobs/uploads/{uuid}", "DELETE", 204),
        1.0
    );
    assert_eq!(requests("/v2/{name}/blobs/{digest}", "GET", 200), 1.0);
    assert_eq!(requests("/v2/{name}/blobs/{digest}", "HEAD", 200), 1.0);
    assert_eq!(
        requests("/v2/{name}/manifests/{reference}", "GET", 404),
        1.0
    );
    assert_eq!(
        value(
            &text,
            &format!("registry_http_request_duration_seconds_count{{{blob_route},method=\"GET\"}}")
        ),
        1.0
    );
    assert_eq!(value(&text, "registry_http_requests_in_flight"), 0.0);
    assert!(
        value(
            &text,
            &format!("registry_http_sent_bytes_total{{{blob_route}}}")
        ) >= blob.len() as f64
    );
    assert_eq!(
        value(
            &text,
            "registry_http_received_bytes_total{route=\"/v2/{name}/blobs/uploads/{uuid}\"}"
        ),
        blob.len() as f64
    );
    assert_eq!(value(&text, "registry_uploads_started_total"), 2.0);
    assert_eq!(value(&text, "registry_uploads_completed_total"), 1.0);
    assert_eq!(value(&text, "registry_uploads_cancelled_total"), 1.0);
    assert_eq!(
        value(&text, "registry_blob_bytes_served_total"),
        blob.len() as f64
    );
    assert_eq!(value(&text, "registry_blob_redirects_total"), 0.0);
    let storage = |operation: &str, outcome: &str| {
        value(
            &text,
            &format!(
                "registry_storage_operations_total{{driver=\"filesystem\",operation=\"{operation}\",outcome=\"{outcome}\"}}"
            ),
        )
    };
    assert!(storage("stat", "ok") >= 1.0);
    assert!(
        storage("reader", "ok") >= 1.0,
        "the blob GET opened a reader"
    );
    assert!(storage("commit", "ok") >= 1.0, "the upload committed");
    assert!(
        storage("get_content", "not_found") >= 1.0,
        "the missing manifest"
    );
    assert!(
        value(
            &text,
            "registry_storage_operation_duration_seconds_count{driver=\"filesystem\",operation=\"stat\"}"
        ) >= 1.0
    );
    // No raw path (name, digest, upload id) ever becomes a label.
    assert!(!text.contains("team/app"), "{text}");
    assert!(!text.contains(&blob_digest[7..]), "{text}");
    assert!(text.ends_with("# EOF\n"));
    registry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_listener_serves_metrics_only_when_configured() {
    let registry = Registry::inmemory("");
    let (status, _, _) = registry.get(&format!("{}/metrics", registry.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    registry.stop().await;

    let registry = Registry::start(
        "inmemory: {}",
        "  prefix: /mirror\n  metrics:\n    enabled: true\n",
        "",
    );
    let (status, _, _) = registry.get(&format!("{}/v2/", registry.base)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the API is under the prefix");
    let (status, content_type, body) = registry
        .get(&format!("{}/mirror/metrics", registry.base))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(
        body.contains(
            "registry_http_requests_total{route=\"other\",method=\"GET\",status=\"404\"} 1"
        ),
        "{body}"
    );
    registry.stop().await;
}

#[test]
fn check_config_describes_the_operator_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yml");
    std::fs::write(
        &path,
        "storage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:5999\n  debug:\n    addr: 127.0.0.1:5998\n    prometheus:\n      enabled: true\n      path: /prom\nhealth:\n  storagedriver:\n    enabled: true\n  tcp:\n    - addr: localhost:6379\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_registry"))
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(
            "debug listener on 127.0.0.1:5998: /debug/health, metrics at /prom; metrics on the main listener: off; health checks: storage on, 0 file, 0 http, 1 tcp"
        ),
        "{stdout}"
    );
}
