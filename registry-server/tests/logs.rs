//! The log as operators read it, from the `registry` binary: an HTTPS probe on the plain-HTTP
//! port is not an ERROR, the access log shows query strings with credentials redacted and a
//! blob GET's time until its body was sent, every line of a request carries its request id
//! (also sent back in `X-Request-Id`), and the startup line says what redirects will do.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sha2::{Digest as _, Sha256};

struct Running {
    child: Child,
    base: String,
    addr: String,
    log: std::path::PathBuf,
}

impl Running {
    /// Stops the registry (SIGTERM) and returns its log.
    fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(dir: &std::path::Path) -> Running {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "log:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}/root\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("registry.log");
    let child = Command::new(env!("CARGO_BIN_EXE_registry"))
        .arg("serve")
        .arg(&config)
        // Info for everything, and the registry's own HTTP notes at debug.
        .env(
            "RUST_LOG",
            "info,actix_server=warn,registry_server::http=debug",
        )
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/v2/")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running {
        child,
        base,
        addr: format!("127.0.0.1:{port}"),
        log,
    }
}

/// What a client probing for HTTPS sends first: the start of a TLS ClientHello.
fn tls_probe(addr: &str) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut hello = vec![
        0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4, 0x03, 0x03,
    ];
    hello.extend(std::iter::repeat_n(0x42, 190));
    stream.write_all(&hello).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
}

fn access_lines<'a>(log: &'a str, path_fragment: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.contains(" access: ") && l.contains(path_fragment))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_tells_operators_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let registry = start(dir.path()).await;
    let client = reqwest::Client::new();
    let base = &registry.base;

    tls_probe(&registry.addr);

    // Request ids: the client's when sane, else a new one; always sent back.
    let response = client
        .get(format!("{base}/v2/"))
        .header("X-Request-Id", "probe-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "probe-42");
    let response = client.get(format!("{base}/v2/")).send().await.unwrap();
    let fresh = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(fresh.len(), 32, "{fresh}");

    // A 32 MiB blob (more than loopback socket buffers hold), read slowly.
    let blob: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&blob)));
    let pushed = client
        .post(format!(
            "{base}/v2/logs/test/blobs/uploads/?digest={digest}"
        ))
        .body(blob.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let mut stream = TcpStream::connect(&registry.addr).unwrap();
    write!(
        stream,
        "GET /v2/logs/test/blobs/{digest} HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-pull\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut first = [0u8; 4096];
    let n = stream.read(&mut first).unwrap();
    assert!(first[..n].starts_with(b"HTTP/1.1 200"));
    std::thread::sleep(Duration::from_millis(1500));
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    assert!(n + rest.len() > blob.len());

    // A cross-repository mount names its source in the query; a credential-looking parameter
    // is redacted.
    let mounted = client
        .post(format!(
            "{base}/v2/logs/other/blobs/uploads/?mount={digest}&from=logs/test&_state=hunter2"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(mounted.status(), StatusCode::CREATED);

    let log = registry.stop();
    // The startup line says what redirects will really do on this driver.
    assert!(
        log.contains(
            "redirect=\"off (the filesystem driver cannot presign URLs: the registry serves blobs itself)\""
        ),
        "{log}"
    );
    // The HTTPS probe: no ERROR, a debug note instead.
    assert!(!log.contains("ERROR"), "{log}");
    assert!(!log.contains("invalid Header provided\n"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("DEBUG") && l.contains("unparsable request head")),
        "{log}"
    );
    // Request ids on the access lines.
    assert!(
        log.lines()
            .any(|l| l.contains("request{request_id=probe-42}") && l.contains(" access: ")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("request{{request_id={fresh}}}"))),
        "{log}"
    );
    // The slow download: elapsed until the body was sent, and its size.
    let slow = access_lines(&log, "request_id=slow-pull");
    assert_eq!(slow.len(), 1, "{log}");
    let elapsed: f64 = slow[0]
        .split("elapsed_ms=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect(slow[0]);
    assert!(elapsed >= 1000.0, "{}", slow[0]);
    assert!(
        slow[0].contains(&format!("bytes={}", blob.len())),
        "{}",
        slow[0]
    );
    // The mount's query, without the secret.
    let mount = access_lines(&log, "/v2/logs/other/blobs/uploads/");
    assert_eq!(mount.len(), 1, "{log}");
    assert!(
        mount[0].contains(&format!(
            "query=\"mount={digest}&from=logs/test&_state=REDACTED\""
        )),
        "{}",
        mount[0]
    );
    assert!(!log.contains("hunter2"), "{log}");
}
