//! `storage.maintenance.uploadpurging` in the running server: the background purger removes
//! an idle upload (written as an old one on the filesystem, with backdated files) while a
//! fresh upload made over HTTP stays; a dry run and read-only mode remove nothing. Each case
//! runs the `registry` binary with a one-second interval and reads its log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);

struct Running {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle` (at most 20 s).
    async fn await_log(&self, needle: &str) {
        let started = Instant::now();
        while !self.log().contains(needle) {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no {needle:?} in the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &Path, maintenance: &str) -> Running {
    let port = free_port();
    let config = dir.join("config.yml");
    let yaml = format!(
        "log:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}/root\n  maintenance:\n{maintenance}http:\n  addr: 127.0.0.1:{port}\n",
        dir.display()
    );
    std::fs::write(&config, yaml).unwrap();
    let log = dir.join("registry.log");
    let child = Command::new(env!("CARGO_BIN_EXE_registry"))
        .arg("serve")
        .arg(&config)
        // The log is what these cases read: the config's level decides, not the caller's.
        .env_remove("RUST_LOG")
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
    Running { child, base, log }
}

/// An upload of `repo` as the registry stores it, started `age` ago, with one chunk whose
/// files are as old. Returns its directory.
fn idle_upload(dir: &Path, repo: &str, age: Duration) -> PathBuf {
    let upload = dir
        .join("root/docker/registry/v2/repositories")
        .join(repo)
        .join("_uploads")
        .join(uuid::Uuid::new_v4().to_string());
    std::fs::create_dir_all(&upload).unwrap();
    let then = SystemTime::now() - age;
    let stamp = humantime::format_rfc3339_nanos(then).to_string();
    let files = [
        ("startedat", stamp.as_bytes()),
        ("data-0123456789abcdef", b"abc".as_slice()),
        ("chunk-0-3-0123456789abcdef-root", b"hash state".as_slice()),
    ];
    for (name, content) in files {
        let path = upload.join(name);
        std::fs::write(&path, content).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(then).unwrap();
    }
    upload
}

/// Starts an upload over HTTP; returns its URL.
async fn fresh_upload(base: &str, repo: &str) -> String {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/v2/{repo}/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap();
    format!("{base}{location}")
}

const PURGING: &str = "    uploadpurging:\n      age: 1h\n      interval: 1s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_purger_removes_idle_uploads() {
    let dir = tempfile::tempdir().unwrap();
    let old = idle_upload(dir.path(), "team/app", 300 * HOUR);
    // Started long ago, but its last chunk came a minute ago: still in use.
    let resumed = idle_upload(dir.path(), "team/app", 300 * HOUR);
    std::fs::write(
        resumed.join("chunk-3-4-1123456789abcdef-0123456789abcdef"),
        b"h",
    )
    .unwrap();
    let running = start(dir.path(), PURGING).await;
    let fresh = fresh_upload(&running.base, "team/app").await;

    running.await_log("upload purging enabled").await;
    let started = Instant::now();
    while old.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the idle upload is still there:\n{}",
            running.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.await_log("purged an idle upload").await;
    // It runs every interval, and keeps the uploads in use.
    let log = running.log();
    let finished = log.matches("upload purge finished").count();
    running.await_log("purged=0").await;
    assert!(running.log().matches("upload purge finished").count() > finished);
    assert!(resumed.exists());
    let status = reqwest::get(&fresh).await.unwrap();
    assert_eq!(status.status(), 204, "the fresh upload is gone");
    assert!(
        !running.log().contains("ERROR") && !running.log().contains("WARN"),
        "{}",
        running.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_only_logs() {
    let dir = tempfile::tempdir().unwrap();
    let old = idle_upload(dir.path(), "r", 300 * HOUR);
    let running = start(
        dir.path(),
        "    uploadpurging:\n      age: 1h\n      interval: 1s\n      dryrun: true\n",
    )
    .await;
    running
        .await_log("dry run: would purge an idle upload")
        .await;
    running.await_log("upload purge finished").await;
    assert!(running.log().contains("purged=1"), "{}", running.log());
    assert!(old.join("startedat").exists());
    assert!(old.join("data-0123456789abcdef").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_mode_and_enabled_false_turn_it_off() {
    for (maintenance, said) in [
        (
            format!("    readonly:\n      enabled: true\n{PURGING}"),
            "upload purging disabled: the registry is read-only",
        ),
        (
            format!("{PURGING}      enabled: false\n"),
            "upload purging disabled (storage.maintenance.uploadpurging.enabled)",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let old = idle_upload(dir.path(), "r", 300 * HOUR);
        let running = start(dir.path(), &maintenance).await;
        running.await_log(said).await;
        // Several intervals (and the longest first delay) pass without a run.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(old.exists());
        assert!(
            !running.log().contains("upload purge finished"),
            "{}",
            running.log()
        );
    }
}
