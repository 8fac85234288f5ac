//! The `registry` command line as operators script it: exit codes (0 clean, 2 configuration,
//! 1 anything else), `check-config`, `--help`, and SIGTERM finishing in-flight requests.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn registry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_registry"))
}

fn write_config(dir: &std::path::Path, yaml: &str) -> std::path::PathBuf {
    let path = dir.join("config.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn check_config_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_config(
        dir.path(),
        "version: 0.1\nstorage:\n  inmemory: {}\nhttp:\n  addr: 127.0.0.1:5999\nnotifications: {}\n",
    );
    let output = registry().arg("check-config").arg(&good).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("ignored (not implemented here): notifications"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok: inmemory storage, listening on 127.0.0.1:5999"),
        "{stdout}",
    );
    assert!(
        stdout.contains("upload purging: every 1day, uploads idle for 7days"),
        "{stdout}"
    );

    let cases = [
        (
            "log:\n  level: loud\nstorage:\n  inmemory: {}\n",
            "log.level: ",
        ),
        (
            "storage:\n  inmemory: {}\nhttp:\n  addr: nowhere\n",
            "http.addr: ",
        ),
        ("storage: [\n", "config file: not valid YAML"),
        (
            "http:\n  addr: :5000\n",
            "storage: no storage driver configured",
        ),
        (
            "storage:\n  inmemory: {}\nhealth:\n  storagedriver:\n    enabled: true\n    threshold: many\n",
            "health.storagedriver.threshold: ",
        ),
        (
            "storage:\n  inmemory: {}\nhealth:\n  tcp:\n    - addr: redis\n",
            "health.tcp[0].addr: ",
        ),
        (
            "storage:\n  inmemory: {}\nhttp:\n  debug:\n    addr: nowhere\n",
            "http.debug.addr: ",
        ),
    ];
    let bad_dir = tempfile::tempdir().unwrap();
    for (yaml, message) in cases {
        let path = write_config(bad_dir.path(), yaml);
        let output = registry().arg("check-config").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(
            stderr.starts_with(&format!("registry: configuration error: {message}")),
            "{yaml}: {stderr}"
        );
    }
    // A bad typed value from the environment names its key too.
    let output = registry()
        .arg("check-config")
        .arg(&good)
        .env("REGISTRY_HTTP_WORKERS", "many")
        .env("REGISTRY_STORAGE_DELETE_ENABLED", "true")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("http.workers: "), "{stderr}");
}

#[test]
fn unreadable_config_files_are_configuration_errors() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path().join("missing.yml"), dir.path().to_owned()] {
        for command in ["check-config", "serve"] {
            let output = registry().arg(command).arg(&path).output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(
                output.status.code(),
                Some(2),
                "{command} {}: {stderr}",
                path.display()
            );
            assert!(
                stderr.starts_with("registry: configuration error: config file: cannot read "),
                "{stderr}"
            );
        }
    }
}

#[test]
fn a_port_in_use_is_exit_code_1() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        dir.path(),
        &format!("storage:\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:{port}\n"),
    );
    let output = registry().arg("serve").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("registry: cannot listen on 127.0.0.1:{port}: ")),
        "{stderr}"
    );
}

#[test]
fn a_driver_that_cannot_start_stops_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let path = write_config(
        dir.path(),
        &format!(
            "storage:\n  filesystem:\n    rootdirectory: {}/below\nhttp:\n  addr: 127.0.0.1:0\n",
            file.display()
        ),
    );
    let output = registry().arg("serve").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("registry: configuration error: storage.filesystem.rootdirectory: "),
        "{stderr}"
    );
}

#[test]
fn help_and_version_tell_the_truth() {
    let output = registry().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    for command in ["serve", "check-config"] {
        assert!(help.contains(command), "{help}");
    }
    let output = registry().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(
        help.contains("./data") && help.contains("127.0.0.1:5000"),
        "{help}"
    );
    let output = registry().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("registry {}", env!("CARGO_PKG_VERSION"))
    );
    let output = registry().arg("frobnicate").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "clap's usage error");
}

struct Running {
    child: Child,
    base: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(dir: &std::path::Path) -> Running {
    let port = free_port();
    let path = write_config(
        dir,
        &format!(
            "log:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}/root\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.display()
        ),
    );
    let child = registry()
        .arg("serve")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while reqwest::get(format!("{base}/v2/")).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { child, base }
}

/// SIGTERM: the registry stops taking new requests, finishes the ones in flight (here a
/// chunk upload whose body is still arriving), and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = start(dir.path()).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/v2/grace/ful/blobs/uploads/", running.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let url = format!("{}{location}", running.base);

    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream_of(receiver));
    let patch = tokio::spawn({
        let client = client.clone();
        async move { client.patch(url).body(body).send().await }
    });
    sender.send(Ok(vec![1u8; 64 * 1024])).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pid = running.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    // New connections are refused while the upload is still being sent.
    assert!(
        client
            .get(format!("{}/v2/", running.base))
            .send()
            .await
            .is_err(),
        "a new request after SIGTERM was served"
    );
    sender.send(Ok(vec![2u8; 64 * 1024])).await.unwrap();
    drop(sender);
    let response = patch
        .await
        .unwrap()
        .expect("the in-flight PATCH is answered");
    assert_eq!(response.status(), 202);
    assert_eq!(response.headers()["range"], "0-131071");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(35),
            "no exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut log = String::new();
    running
        .child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("registry stopped"), "{log}");
}

/// A stream over an mpsc receiver (reqwest wants a `Stream` body).
fn tokio_stream_of(
    receiver: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}

/// Reference config files with a `redis:` section (2.8 keys, and the 3.x form) and a Redis
/// blob-descriptor cache start this registry; `check-config` names the cache.
#[test]
fn check_config_accepts_the_reference_redis_sections() {
    let dir = tempfile::tempdir().unwrap();
    let forms = [
        "redis:\n  addr: localhost:6379\n  password: asecret\n  db: 0\n  dialtimeout: 10ms\n  readtimeout: 10ms\n  writetimeout: 10ms\n  pool:\n    maxidle: 16\n    maxactive: 64\n    idletimeout: 300s\n  tls:\n    enabled: false\n",
        "redis:\n  addrs: [localhost:6379]\n  username: registry\n  password: asecret\n  db: 1\n  dialtimeout: 10ms\n  readtimeout: 10ms\n  writetimeout: 10ms\n  maxidleconns: 16\n  poolsize: 64\n  connmaxidletime: 300s\n",
    ];
    for redis in forms {
        let config = write_config(
            dir.path(),
            &format!(
                "version: 0.1\nstorage:\n  cache:\n    blobdescriptor: redis\n  inmemory: {{}}\nhttp:\n  addr: 127.0.0.1:5999\n{redis}"
            ),
        );
        let output = registry()
            .arg("check-config")
            .arg(&config)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{redis}\n{stdout}");
        assert!(
            stdout.contains("cache: redis://localhost:6379/"),
            "{stdout}"
        );
        assert!(!stdout.contains("asecret"), "{stdout}");
    }
    let config = write_config(
        dir.path(),
        "storage:\n  cache:\n    blobdescriptor: redis\n  inmemory: {}\n",
    );
    let output = registry()
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("storage.cache.blobdescriptor"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
