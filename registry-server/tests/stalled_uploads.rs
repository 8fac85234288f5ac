//! Slow and stalled clients against the registry binary, in a process of its own so that its
//! memory can be measured: 200 uploads that each send 1.5 MiB of a declared 64 MiB body and
//! then stall, and every one of them is dropped once `http.timeouts.body` passes, keeping
//! what it sent.
//!
//! On the filesystem the registry must fit in what the reference registry needs for the same
//! load (measured here: 81-91 MiB). On S3 and Azure the bytes of a stalled body leave memory
//! too (spilled to a private object, staged as a block), but the process keeps more: the
//! cloud SDKs' connection pools and memory the allocator does not hand back (with glibc's
//! `MALLOC_MMAP_THRESHOLD_=131072`, Azure measured 52 MiB). There the test holds the growth
//! under half of what the stalled clients sent plus a fixed allowance for the connection
//! pool; the reference cannot run this load on the S3 emulator at all (its PATCH needs
//! ListMultipartUploads, which s3s-fs lacks).
//!
//! On S3 the test stalls 50 uploads, not 200: the emulator (s3s-fs) stores objects slowly
//! under many concurrent writers (20 spilled 1.5 MiB tails took 11 s, 200 took 90 s), and a
//! stalled upload is answered only after its bytes are stored. It also fails some of those
//! concurrent PutObject calls with InternalError; a spill that fails keeps its bytes in memory,
//! so on the emulator the test checks that stalled uploads are dropped and resumable, and
//! prints the memory without holding it to a figure.
//!
//! The in-memory driver is not measured: it stores what the uploads sent in the process, by
//! design.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::raw::HeldRequest;
use common::{Driver, bytes};

const STALLED: usize = 200;
const SENT: usize = 1536 * 1024;
const DECLARED: usize = 64 * 1024 * 1024;
/// What the reference registry (CNCF Distribution 2.8) held for the same load, in MiB.
const REFERENCE_MIB: u64 = 91;
const BODY_TIMEOUT_SECS: u64 = 4;
/// What the cloud drivers' HTTP clients keep for their connection pools, in MiB.
const CLOUD_POOL_MIB: u64 = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem() {
    stalled_uploads(Driver::Filesystem).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3() {
    if Driver::S3.available() {
        stalled_uploads(Driver::S3).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure() {
    if Driver::Azure.available() {
        stalled_uploads(Driver::Azure).await;
    }
}

/// The registry binary, killed when dropped.
struct Registry {
    child: Child,
    authority: String,
    _dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    async fn start(driver: Driver) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let storage = match driver {
            Driver::Filesystem => format!(
                "filesystem:\n    rootdirectory: {}",
                dir.path().join("root").display()
            ),
            cloud => cloud.cloud_yaml().expect("the emulator's settings"),
        };
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let authority = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: {authority}\n  timeouts:\n    body: {BODY_TIMEOUT_SECS}s\n"
        );
        let path = dir.path().join("config.yml");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_registry"))
            .arg("serve")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the registry binary");
        let registry = Registry {
            child,
            authority,
            _dir: dir,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let url = format!("http://{}/v2/", registry.authority);
            if client
                .get(&url)
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return registry;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Resident memory in MiB; a platform without /proc fails the test rather than pass it.
    fn resident_mib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/<pid>/status, to measure the registry's memory");
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib / 1024
    }

    async fn start_upload(&self, client: &reqwest::Client) -> String {
        let url = format!("http://{}/v2/stall/repo/blobs/uploads/", self.authority);
        let response = client.post(&url).send().await.unwrap();
        assert_eq!(response.status(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        common::path_of(&location)
    }
}

async fn stalled_uploads(driver: Driver) {
    let registry = Registry::start(driver).await;
    let client = reqwest::Client::new();
    let idle = registry.resident_mib();
    let body = bytes(1, SENT);
    let mut held = Vec::new();
    let mut uploads = Vec::new();
    let stalled_count = if driver == Driver::S3 { 50 } else { STALLED };
    for _ in 0..stalled_count {
        let path = registry.start_upload(&client).await;
        let request = HeldRequest::open(
            &registry.authority,
            "PATCH",
            &path,
            &[("Content-Type", "application/octet-stream")],
            DECLARED,
            &body,
        )
        .await;
        held.push(request);
        uploads.push(path);
    }
    let stalled_at = Instant::now();
    // Past the moment a stalled body's bytes leave memory (half a second without data).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stalled = registry.resident_mib();
    eprintln!(
        "{driver:?}: resident memory {idle} MiB idle, {stalled} MiB with {stalled_count} stalled \
         uploads of 1.5 MiB each (the reference, 200 on its filesystem driver: {REFERENCE_MIB} MiB)"
    );
    if driver == Driver::S3 {
        // Not held to a figure: under this many concurrent writers the emulator answers some
        // PutObject calls with InternalError, and a spill that fails keeps its bytes in
        // memory (by design: the upload goes on). Measured: 52-124 MiB with 50 stalled.
        eprintln!("S3: memory not asserted on the emulator (see the module docs)");
    } else if driver == Driver::Filesystem {
        assert!(
            stalled <= REFERENCE_MIB,
            "{STALLED} stalled uploads took the registry to {stalled} MiB"
        );
    } else {
        // Half of what each stalled client sent, and a fixed allowance for the SDK's
        // connection pool to the backend (about 20 MiB measured with 50 and with 200).
        let sent_mib = (stalled_count * SENT / (1024 * 1024)) as u64;
        assert!(
            stalled.saturating_sub(idle) <= CLOUD_POOL_MIB + sent_mib / 2,
            "{stalled_count} stalled uploads took the registry from {idle} to {stalled} MiB"
        );
    }

    // Every stalled request is answered (and its connection closed) once the timeout passes.
    let answers = futures::future::join_all(held.into_iter().map(HeldRequest::response)).await;
    let waited = stalled_at.elapsed();
    for answer in &answers {
        assert_eq!(answer.status, 400, "{}", answer.text());
        assert!(
            answer.text().contains("BLOB_UPLOAD_INVALID"),
            "{}",
            answer.text()
        );
    }
    assert!(
        waited < Duration::from_secs(BODY_TIMEOUT_SECS + 40),
        "the stalled uploads were answered after {waited:?}"
    );
    eprintln!(
        "{driver:?}: all {stalled_count} stalled uploads dropped {:.1} s after they stalled; \
         {} MiB resident afterwards",
        waited.as_secs_f64(),
        registry.resident_mib()
    );
    // What each had sent is kept: the client can resume.
    for path in uploads.iter().step_by(50) {
        let url = format!("http://{}{path}", registry.authority);
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 204);
        let range = format!("0-{}", SENT - 1);
        assert_eq!(response.headers()["range"].to_str().unwrap(), range);
    }
}
