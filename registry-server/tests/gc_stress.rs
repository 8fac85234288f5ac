//! The garbage collector under load: while the online collector runs with a grace window of
//! two seconds (a cycle every second), several clients on two instances push images that reuse
//! the layers of deleted and overwritten images (checking with HEAD first and skipping the
//! upload when the blob is there, as real clients do), overwrite tags, mount across
//! repositories and delete manifests and tags. Afterwards every image whose push succeeded and
//! that was not deleted pulls and verifies, no manifest revision in storage names a missing
//! blob, and the collector did remove the garbage it was given.
//!
//! Runs on the filesystem driver, and on S3 with the emulator (`cargo xtask test`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use registry_core::domain::Digest;
use registry_core::layout;
use registry_core::lifecycle::gc::mark;
use registry_server::config::Config;
use reqwest::{Method, StatusCode};
use tokio::sync::Mutex;

/// The collector's settings, shared by both instances and the collector. The collector gives
/// up a delete that it cannot start within `revivewait / 4` of its last look for a revival
/// record; an S3 request beside the whole test run takes 100-250 ms, so on S3 the protocol's
/// times are longer, or every delete would be given up.
fn gc_section(driver: Driver) -> &'static str {
    match driver {
        Driver::S3 => {
            "gc:\n  enabled: true\n  interval: 1s\n  delay: 2s\n  reliancewindow: 2s\n  revivewait: 4s\n"
        }
        _ => {
            "gc:\n  enabled: true\n  interval: 1s\n  delay: 2s\n  reliancewindow: 1s\n  revivewait: 500ms\n"
        }
    }
}
/// How long the clients push: on S3 (the emulator, beside the rest of the test run) a write
/// takes tens of times longer than on a local filesystem, so the same load needs longer to
/// push enough images to mean anything.
fn load(driver: Driver) -> Duration {
    match driver {
        Driver::S3 => Duration::from_secs(35),
        _ => Duration::from_secs(12),
    }
}
/// How long the collector may take, after the load, to remove the deleted images' garbage.
fn collection_bound(driver: Driver) -> Duration {
    match driver {
        Driver::S3 => Duration::from_secs(240),
        _ => Duration::from_secs(30),
    }
}
const CLIENTS: u64 = 4;
const REPOS: &[&str] = &["stress/a", "stress/b", "stress/c"];
const POOL: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filesystem() {
    stress(Driver::Filesystem).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3() {
    if Driver::S3.available() {
        stress(Driver::S3).await;
    }
}

/// A pushed image the test expects to pull afterwards.
#[derive(Clone)]
struct Pushed {
    repo: &'static str,
    manifest: Manifest,
    blobs: Vec<(Digest, Vec<u8>)>,
}

#[derive(Default)]
struct Ledger {
    kept: Vec<Pushed>,
    /// Config digests of deleted images: unique garbage the collector must remove.
    deleted_configs: Vec<Digest>,
    /// Layers of deleted images (no other image named them): the next pushes reuse them,
    /// whether the collector took them already or is about to.
    orphans: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Counts {
    pushes: AtomicU64,
    retried_pushes: AtomicU64,
    mounts: AtomicU64,
    deletes: AtomicU64,
    tag_deletes: AtomicU64,
}

/// xorshift: reproducible per client, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn pool_layer(i: u64) -> Vec<u8> {
    bytes(900_000 + i, 2048 + i as usize * 31)
}

fn options(driver: Driver) -> Options {
    Options {
        sections: Some(gc_section(driver).to_owned()),
        ..Options::default()
    }
}

async fn stress(driver: Driver) {
    let a = Arc::new(TestServer::start_with(driver, options(driver)).await);
    let b = Arc::new(a.sibling(options(driver)).await);
    let config = Config::from_yaml(
        &format!(
            "storage:\n  inmemory: {{}}\n  delete:\n    enabled: true\n{}",
            gc_section(driver)
        ),
        Vec::new(),
    )
    .expect("collector configuration");
    // Server errors (the 500s this test fails on) and the collector's cycles, on stderr.
    registry_server::logging::init(&registry_server::config::LogConfig {
        level: "info".into(),
        format: registry_server::config::LogFormat::Text,
    });
    let collector = registry_server::maintenance::collector::start(&config, a.storage().clone())
        .expect("the collector starts");

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + load(driver);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (a, b, ledger, counts) = (a.clone(), b.clone(), ledger.clone(), counts.clone());
            tokio::spawn(async move {
                run_client(client, [&*a, &*b], &ledger, &counts, deadline).await;
            })
        })
        .collect();
    for client in clients {
        client.await.expect("client panicked");
    }
    let ledger = ledger.lock().await;
    // Let the collector finish with what the load left: a cycle that starts after the load
    // (and after the grace window) removes the deleted images' configs. On the S3 emulator
    // beside the rest of the test run one cycle can take a minute, so wait for its effect,
    // within a bound, rather than for a fixed time.
    let settle = Instant::now() + collection_bound(driver);
    let mut collected = count_gone(a.storage(), &ledger.deleted_configs).await;
    while collected == 0 && !ledger.deleted_configs.is_empty() && Instant::now() < settle {
        tokio::time::sleep(Duration::from_secs(1)).await;
        collected = count_gone(a.storage(), &ledger.deleted_configs).await;
    }
    collector.abort();
    println!(
        "{driver:?}: {} pushes ({} retried after MANIFEST_BLOB_UNKNOWN), {} mounts, {} deletes, {} tag deletes; {} images kept",
        counts.pushes.load(Ordering::Relaxed),
        counts.retried_pushes.load(Ordering::Relaxed),
        counts.mounts.load(Ordering::Relaxed),
        counts.deletes.load(Ordering::Relaxed),
        counts.tag_deletes.load(Ordering::Relaxed),
        ledger.kept.len()
    );
    assert!(
        ledger.kept.len() > 10,
        "the load pushed too little to mean anything"
    );
    for image in &ledger.kept {
        let server = &a;
        let response = server
            .get(&format!(
                "/v2/{}/manifests/{}",
                image.repo,
                image.manifest.digest()
            ))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{}@{} is lost",
            image.repo,
            image.manifest.digest()
        );
        assert_eq!(
            response.bytes().await.unwrap().as_ref(),
            &image.manifest.body[..]
        );
        for (digest, data) in &image.blobs {
            let response = server
                .get(&format!("/v2/{}/blobs/{digest}", image.repo))
                .await;
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "{}: blob {digest} of {} is lost",
                image.repo,
                image.manifest.digest()
            );
            assert_eq!(response.bytes().await.unwrap().as_ref(), &data[..]);
        }
    }
    let missing = revisions_naming_missing_blobs(a.storage()).await;
    assert!(
        missing.is_empty(),
        "kept manifests name missing blobs: {missing:#?}"
    );
    let collected = count_gone(a.storage(), &ledger.deleted_configs).await;
    println!(
        "{driver:?}: {collected} of {} deleted images' configs collected",
        ledger.deleted_configs.len()
    );
    assert!(
        collected > 0,
        "the online collector removed none of the deleted images' blobs"
    );
    assert_blobs_intact(a.storage()).await;
    drop(ledger);
    if let (Ok(a), Ok(b)) = (Arc::try_unwrap(a), Arc::try_unwrap(b)) {
        b.stop().await;
        a.stop().await;
    }
}

async fn run_client(
    client: u64,
    servers: [&TestServer; 2],
    ledger: &Mutex<Ledger>,
    counts: &Counts,
    deadline: Instant,
) {
    let mut rng = Rng(0x9E37_79B9 + client * 7919);
    let mut mine: Vec<Pushed> = Vec::new();
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let server = servers[rng.next(2) as usize];
        let repo = REPOS[rng.next(REPOS.len() as u64) as usize];
        match rng.next(10) {
            0..=5 => {
                let seed = client * 1_000_000 + n;
                let mut layers = vec![bytes(seed, 1500), pool_layer(rng.next(POOL))];
                {
                    let ledger = ledger.lock().await;
                    if !ledger.orphans.is_empty() && rng.next(3) > 0 {
                        let i = rng.next(ledger.orphans.len() as u64) as usize;
                        layers.push(ledger.orphans[i].clone());
                    }
                }
                let tag = format!("t{}", rng.next(3));
                if let Some(pushed) = push_image(server, repo, seed, layers, &tag, counts).await {
                    mine.push(pushed.clone());
                    ledger.lock().await.kept.push(pushed);
                }
            }
            6 => {
                let layer = Digest::sha256_of(&pool_layer(rng.next(POOL)));
                let from = REPOS[rng.next(REPOS.len() as u64) as usize];
                let response = server
                    .send(server.request(
                        Method::POST,
                        &format!("/v2/{repo}/blobs/uploads/?mount={layer}&from={from}"),
                    ))
                    .await;
                match response.status() {
                    StatusCode::CREATED => {
                        counts.mounts.fetch_add(1, Ordering::Relaxed);
                    }
                    StatusCode::ACCEPTED => {
                        let upload = location(&response);
                        server.delete(&upload).await;
                    }
                    other => panic!("mount answered {other}"),
                }
            }
            7 | 8 if !mine.is_empty() => {
                let victim = mine.swap_remove(rng.next(mine.len() as u64) as usize);
                let response = server
                    .delete(&format!(
                        "/v2/{}/manifests/{}",
                        victim.repo,
                        victim.manifest.digest()
                    ))
                    .await;
                assert_eq!(response.status(), StatusCode::ACCEPTED, "delete by digest");
                counts.deletes.fetch_add(1, Ordering::Relaxed);
                let mut ledger = ledger.lock().await;
                ledger
                    .kept
                    .retain(|p| p.manifest.digest() != victim.manifest.digest());
                ledger.deleted_configs.push(victim.blobs[0].0.clone());
                // Its own layer (named by no other image unless reused meanwhile).
                ledger.orphans.push(victim.blobs[1].1.clone());
                if ledger.orphans.len() > 64 {
                    ledger.orphans.remove(0);
                }
            }
            _ => {
                let tag = format!("t{}", rng.next(3));
                let response = server.delete(&format!("/v2/{repo}/manifests/{tag}")).await;
                assert!(
                    matches!(
                        response.status(),
                        StatusCode::ACCEPTED | StatusCode::NOT_FOUND
                    ),
                    "tag delete answered {}",
                    response.status()
                );
                counts.tag_deletes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Pushes an image the way clients do: HEAD each blob, upload only the missing ones, PUT the
/// manifest; on `MANIFEST_BLOB_UNKNOWN` (a blob collected meanwhile), upload everything again
/// and retry once.
async fn push_image(
    server: &TestServer,
    repo: &'static str,
    seed: u64,
    layers: Vec<Vec<u8>>,
    tag: &str,
    counts: &Counts,
) -> Option<Pushed> {
    let config = config_blob(seed);
    let mut blobs: Vec<(Digest, Vec<u8>)> = vec![(Digest::sha256_of(&config), config)];
    for data in layers {
        if !blobs.iter().any(|(d, _)| d == &Digest::sha256_of(&data)) {
            blobs.push((Digest::sha256_of(&data), data));
        }
    }
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&blobs[0].0, blobs[0].1.len() as u64),
        &blobs[1..]
            .iter()
            .map(|(d, data)| (d.clone(), data.len() as u64))
            .collect::<Vec<_>>(),
        None,
    );
    for attempt in 0..2 {
        for (digest, data) in &blobs {
            let present = attempt == 0
                && server
                    .head(&format!("/v2/{repo}/blobs/{digest}"))
                    .await
                    .status()
                    == StatusCode::OK;
            if !present {
                server.push_blob(repo, data).await;
            }
        }
        let response = server
            .put_manifest(repo, tag, &manifest.media_type, &manifest.body)
            .await;
        match response.status() {
            StatusCode::CREATED => {
                counts.pushes.fetch_add(1, Ordering::Relaxed);
                return Some(Pushed {
                    repo,
                    manifest,
                    blobs,
                });
            }
            StatusCode::BAD_REQUEST => {
                let text = response.text().await.unwrap_or_default();
                assert!(text.contains("MANIFEST_BLOB_UNKNOWN"), "{text}");
                counts.retried_pushes.fetch_add(1, Ordering::Relaxed);
            }
            other => panic!("manifest PUT answered {other}"),
        }
    }
    None
}

/// Every `repo@digest` revision in storage with a blob it names that is gone.
async fn revisions_naming_missing_blobs(storage: &registry_core::storage::Storage) -> Vec<String> {
    let mut missing = Vec::new();
    for repo in mark::repositories(storage).await.expect("repositories") {
        let dir = format!("{}/revisions", layout::manifests_dir(&repo));
        for (digest, _) in mark::links_below(storage, &dir).await.expect("revisions") {
            let refs = mark::manifest_refs(storage, &digest)
                .await
                .expect("manifest");
            for blob in refs.blobs.iter().chain(&refs.children).chain([&digest]) {
                if storage.stat(&layout::blob_data(blob)).await.is_err() {
                    missing.push(format!("{repo}@{digest} names {blob}"));
                }
            }
        }
    }
    missing
}

async fn count_gone(storage: &registry_core::storage::Storage, digests: &[Digest]) -> usize {
    let mut gone = 0;
    for digest in digests {
        if storage.stat(&layout::blob_data(digest)).await.is_err() {
            gone += 1;
        }
    }
    gone
}
