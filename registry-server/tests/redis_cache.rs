//! The blob-descriptor cache against a real Redis (`cargo xtask test` starts Debian's
//! `redis-server`; under plain `cargo test` without it these tests print why and return):
//! cached answers equal storage's, a delete through one instance is seen by the others at
//! once, and a Redis that is down, slow, locked, flushed or restarted never makes an answer
//! wrong, only slower.

mod common;
#[allow(dead_code)]
#[path = "tls/pki.rs"]
mod pki;

use std::net::TcpListener;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use common::counting::Counting;
use common::*;
use registry_core::layout::ROOT;
use registry_core::storage::Storage;
use registry_core::storage::contract::emulator_env;
use registry_server::cache::{
    CacheError, CacheStore, CachedDriver, DescriptorCache, MemoryStore, RedisStore,
};
use registry_server::config::{Config, RedisConfig};
use reqwest::StatusCode;

/// `REGISTRY_TEST_REDIS_ADDR` (a Redis without a password) and the `redis-server` binary.
fn redis_env() -> Option<(String, String)> {
    let v = emulator_env(
        "redis",
        &["REGISTRY_TEST_REDIS_ADDR", "REGISTRY_TEST_REDIS_SERVER"],
    )?;
    Some((v[0].clone(), v[1].clone()))
}

/// A `redis` section as an operator writes it, with short timeouts.
fn redis_config(addr: &str, password: Option<&str>) -> RedisConfig {
    let password = password
        .map(|p| format!("  password: {p}\n"))
        .unwrap_or_default();
    let yaml = format!(
        "storage: {{inmemory: {{}}}}\nredis:\n  addr: '{addr}'\n  dialtimeout: 300ms\n  readtimeout: 300ms\n  writetimeout: 300ms\n{password}"
    );
    Config::from_yaml(&yaml, Vec::new())
        .expect("redis config")
        .redis
        .expect("a redis section")
}

fn redis_cache(config: &RedisConfig, namespace: &str) -> Arc<DescriptorCache> {
    DescriptorCache::new(
        Arc::new(RedisStore::open(config).expect("redis store")),
        namespace.to_owned(),
    )
}

fn fresh_namespace() -> String {
    format!("test:{}", uuid::Uuid::new_v4().simple())
}

/// The paths of one blob, its layer link in repository `r`, a revision link and a tag link.
struct Paths {
    data: String,
    blob_dir: String,
    layer: String,
    revision: String,
    tag: String,
    repo: String,
}

fn paths(seed: &str) -> Paths {
    let digest = registry_core::domain::Digest::sha256_of(seed.as_bytes());
    let hex = digest.hex().to_owned();
    let repo = format!("{ROOT}/repositories/r{}", &hex[..6]);
    Paths {
        data: format!("{ROOT}/blobs/sha256/{}/{hex}/data", &hex[..2]),
        blob_dir: format!("{ROOT}/blobs/sha256/{}/{hex}", &hex[..2]),
        layer: format!("{repo}/_layers/sha256/{hex}/link"),
        revision: format!("{repo}/_manifests/revisions/sha256/{hex}/link"),
        tag: format!("{repo}/_manifests/tags/latest/current/link"),
        repo,
    }
}

async fn store_all(storage: &Storage, p: &Paths, body: &str) {
    storage.put_content(&p.data, body.to_owned()).await.unwrap();
    let digest = format!("sha256:{}", p.data.rsplit('/').nth(1).unwrap());
    for link in [&p.layer, &p.revision, &p.tag] {
        storage.put_content(link, digest.clone()).await.unwrap();
    }
}

fn count(ops: &[(&'static str, String)], op: &str, path: &str) -> usize {
    ops.iter().filter(|(o, p)| *o == op && p == path).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_reads_skip_storage_and_match_it() {
    let Some((addr, _)) = redis_env() else { return };
    let (raw, counting) = Counting::storage();
    let cache = redis_cache(&redis_config(&addr, None), &fresh_namespace());
    let storage = CachedDriver::wrap(&raw, cache.clone());
    let p = paths("match");
    store_all(&storage, &p, "{\"manifest\":1}").await;
    counting.take();

    for _ in 0..3 {
        assert_eq!(
            storage.stat(&p.data).await.unwrap(),
            raw.stat(&p.data).await.unwrap()
        );
        for path in [&p.data, &p.layer, &p.revision, &p.tag] {
            assert_eq!(
                storage.get_content(path).await.unwrap(),
                raw.get_content(path).await.unwrap()
            );
        }
    }
    let ops = counting.take();
    // Each cached read reached storage once through the cache (the fill), plus the three
    // direct comparisons; the tag link every time.
    assert_eq!(count(&ops, "stat", &p.data), 1 + 3, "{ops:?}");
    assert_eq!(count(&ops, "get_content", &p.data), 1 + 3, "{ops:?}");
    assert_eq!(count(&ops, "get_content", &p.layer), 1 + 3, "{ops:?}");
    assert_eq!(count(&ops, "get_content", &p.revision), 1 + 3, "{ops:?}");
    assert_eq!(
        count(&ops, "get_content", &p.tag),
        3 + 3,
        "tags are never cached"
    );
    let counts = cache.counters().snapshot();
    let hits: u64 = counts.iter().map(|c| c.hits).sum();
    assert_eq!(hits, 2 + 2 + 4, "{counts:?}");
    assert!(cache.check().await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_through_one_instance_is_seen_by_another_at_once() {
    let Some((addr, _)) = redis_env() else { return };
    let config = redis_config(&addr, None);
    let ns = fresh_namespace();
    let (raw, _counting) = Counting::storage();
    let a = CachedDriver::wrap(&raw, redis_cache(&config, &ns));
    let b = CachedDriver::wrap(&raw, redis_cache(&config, &ns));
    let p = paths("delete");
    store_all(&a, &p, "body").await;
    let warm = |s: Storage| {
        let p = paths("delete");
        async move {
            s.stat(&p.data).await.unwrap();
            s.get_content(&p.data).await.unwrap();
            s.get_content(&p.layer).await.unwrap();
            s.get_content(&p.revision).await.unwrap();
        }
    };
    warm(b.clone()).await;
    warm(b.clone()).await;

    // A file: the layer link (a blob unlinked from the repository).
    a.delete(&p.layer).await.unwrap();
    assert!(b.get_content(&p.layer).await.unwrap_err().is_not_found());
    assert!(b.get_content(&p.revision).await.is_ok());
    // A directory: the blob's (as the garbage collector removes it).
    a.delete(&p.blob_dir).await.unwrap();
    assert!(b.stat(&p.data).await.unwrap_err().is_not_found());
    assert!(b.get_content(&p.data).await.unwrap_err().is_not_found());
    // A whole repository: the revision link below it.
    a.delete(&p.repo).await.unwrap();
    assert!(b.get_content(&p.revision).await.unwrap_err().is_not_found());

    // Written again, it is served again (and cached again).
    store_all(&a, &p, "body").await;
    warm(b.clone()).await;
    assert_eq!(b.get_content(&p.data).await.unwrap(), Bytes::from("body"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_never_cached() {
    let Some((addr, _)) = redis_env() else { return };
    let (raw, _counting) = Counting::storage();
    let storage = CachedDriver::wrap(
        &raw,
        redis_cache(&redis_config(&addr, None), &fresh_namespace()),
    );
    let p = paths("negative");
    assert!(storage.stat(&p.data).await.unwrap_err().is_not_found());
    assert!(
        storage
            .get_content(&p.layer)
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Another instance (here: storage directly) writes them.
    store_all(&raw, &p, "x").await;
    assert_eq!(storage.stat(&p.data).await.unwrap().size, 1);
    assert!(storage.get_content(&p.layer).await.is_ok());
}

/// Reads through `storage` give storage's answers (found, or not found), whatever the cache
/// does.
async fn assert_correct(storage: &Storage, raw: &Storage, p: &Paths) {
    let not_found = |e: registry_core::storage::StorageError| {
        assert!(e.is_not_found(), "{e}");
    };
    assert_eq!(
        storage.stat(&p.data).await.map_err(not_found),
        raw.stat(&p.data).await.map_err(not_found)
    );
    for path in [&p.data, &p.layer, &p.revision] {
        assert_eq!(
            storage.get_content(path).await.map_err(not_found),
            raw.get_content(path).await.map_err(not_found),
            "{path}"
        );
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_falls_back_to_storage() {
    if redis_env().is_none() {
        return;
    }
    // Nothing listens there.
    let config = redis_config(&format!("127.0.0.1:{}", free_port()), None);
    let (raw, _counting) = Counting::storage();
    let cache = redis_cache(&config, &fresh_namespace());
    let storage = CachedDriver::wrap(&raw, cache.clone());
    let p = paths("down");
    let started = Instant::now();
    store_all(&storage, &p, "body").await;
    for _ in 0..20 {
        assert_correct(&storage, &raw, &p).await;
    }
    storage.delete(&p.layer).await.unwrap();
    assert!(
        storage
            .get_content(&p.layer)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead Redis made requests wait: {:?}",
        started.elapsed()
    );
    assert!(cache.check().await.is_err());
    assert!(cache.is_failing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_falls_back_to_storage() {
    let Some(v) = emulator_env(
        "redis",
        &[
            "REGISTRY_TEST_REDIS_AUTH_ADDR",
            "REGISTRY_TEST_REDIS_PASSWORD",
        ],
    ) else {
        return;
    };
    let (raw, _counting) = Counting::storage();
    let p = paths("password");
    let wrong = redis_cache(
        &redis_config(&v[0], Some("not-the-password")),
        &fresh_namespace(),
    );
    let storage = CachedDriver::wrap(&raw, wrong.clone());
    store_all(&storage, &p, "body").await;
    for _ in 0..5 {
        assert_correct(&storage, &raw, &p).await;
    }
    let error = wrong.check().await.unwrap_err();
    assert!(!error.contains("not-the-password"), "{error}");

    let right = redis_cache(&redis_config(&v[0], Some(&v[1])), &fresh_namespace());
    let storage = CachedDriver::wrap(&raw, right.clone());
    for _ in 0..3 {
        assert_correct(&storage, &raw, &p).await;
    }
    assert!(right.check().await.is_ok());
    let hits: u64 = right.counters().snapshot().iter().map(|c| c.hits).sum();
    assert!(hits > 0, "the right password reaches the cache");
}

/// A private `redis-server` the test can stall, stop and restart.
struct OwnRedis {
    binary: String,
    port: u16,
    /// Further `redis-server` arguments (TLS).
    extra: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(binary: &str) -> OwnRedis {
        Self::start_with(binary, Vec::new())
    }

    fn start_with(binary: &str, extra: Vec<String>) -> OwnRedis {
        let mut redis = OwnRedis {
            binary: binary.to_owned(),
            port: free_port(),
            extra,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let port = self.port.to_string();
        let plain: &[&str] = if self.extra.is_empty() {
            &["--port", &port]
        } else {
            &["--port", "0", "--tls-port", &port]
        };
        let child = Command::new(&self.binary)
            .args(plain)
            .args(["--bind", "127.0.0.1"])
            .args(&self.extra)
            .stdout(std::process::Stdio::null())
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .arg("--dir")
            .arg(self.dir.path())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(self.addr()).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    async fn command(&self, args: &[&str]) {
        let client = redis::Client::open(format!("redis://{}/", self.addr())).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut command = redis::cmd(args[0]);
        for arg in &args[1..] {
            command.arg(*arg);
        }
        command
            .query_async::<redis::Value>(&mut connection)
            .await
            .unwrap();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_redis_only_costs_misses() {
    let Some((_, binary)) = redis_env() else {
        return;
    };
    let redis = OwnRedis::start(&binary);
    let config = redis_config(&redis.addr(), None);
    let ns = fresh_namespace();
    let (raw, _counting) = Counting::storage();
    let a = CachedDriver::wrap(&raw, redis_cache(&config, &ns));
    let b = CachedDriver::wrap(&raw, redis_cache(&config, &ns));
    let p = paths("flush");
    store_all(&a, &p, "body").await;
    assert_correct(&b, &raw, &p).await;
    assert_correct(&b, &raw, &p).await;
    redis.command(&["FLUSHALL"]).await;
    assert_correct(&b, &raw, &p).await;
    assert_correct(&b, &raw, &p).await;
    a.delete(&p.layer).await.unwrap();
    assert!(b.get_content(&p.layer).await.unwrap_err().is_not_found());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_is_timed_out() {
    let Some((_, binary)) = redis_env() else {
        return;
    };
    let redis = OwnRedis::start(&binary);
    let (raw, _counting) = Counting::storage();
    let cache = redis_cache(&redis_config(&redis.addr(), None), &fresh_namespace());
    let storage = CachedDriver::wrap(&raw, cache.clone());
    let p = paths("slow");
    store_all(&storage, &p, "body").await;
    assert_correct(&storage, &raw, &p).await;
    // Every client of this Redis waits 4 seconds.
    redis.command(&["CLIENT", "PAUSE", "4000", "ALL"]).await;
    let started = Instant::now();
    for _ in 0..10 {
        assert_correct(&storage, &raw, &p).await;
    }
    storage.delete(&p.revision).await.unwrap();
    assert!(
        storage
            .get_content(&p.revision)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "requests waited for a stalled Redis: {:?}",
        started.elapsed()
    );
    assert!(cache.is_failing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_redis_is_used_again_and_nothing_is_stale() {
    let Some((_, binary)) = redis_env() else {
        return;
    };
    let mut redis = OwnRedis::start(&binary);
    let config = redis_config(&redis.addr(), None);
    let ns = fresh_namespace();
    let (raw, _counting) = Counting::storage();
    let cache = redis_cache(&config, &ns);
    let storage = CachedDriver::wrap(&raw, cache.clone());
    let p = paths("restart");
    store_all(&storage, &p, "body").await;
    assert_correct(&storage, &raw, &p).await;
    redis.kill();
    assert_correct(&storage, &raw, &p).await;
    // A delete while Redis is down.
    storage.delete(&p.layer).await.unwrap();
    assert!(
        storage
            .get_content(&p.layer)
            .await
            .unwrap_err()
            .is_not_found()
    );
    redis.restart();
    // Within a few retry intervals the cache is used again; answers stay right meanwhile.
    let before: u64 = cache.counters().snapshot().iter().map(|c| c.hits).sum();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert_correct(&storage, &raw, &p).await;
        assert!(
            storage
                .get_content(&p.layer)
                .await
                .unwrap_err()
                .is_not_found()
        );
        let after: u64 = cache.counters().snapshot().iter().map(|c| c.hits).sum();
        if after > before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted Redis serves no hits"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!cache.is_failing());
    assert!(cache.check().await.is_ok());
}

/// A store that refuses token writes while `broken` is set: an instance that cannot reach
/// Redis for one invalidation while the others can.
struct Flaky {
    inner: Arc<MemoryStore>,
    broken: AtomicBool,
}

#[async_trait]
impl CacheStore for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.inner.get(keys).await
    }
    async fn put(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        self.inner.put(key, value).await
    }
    async fn init_tokens(
        &self,
        keys: &[String],
        fresh: &[String],
    ) -> Result<Vec<Option<Bytes>>, CacheError> {
        self.inner.init_tokens(keys, fresh).await
    }
    async fn set_token(&self, key: &str, value: &str) -> Result<(), CacheError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(CacheError::Timeout("flaky"));
        }
        self.inner.set_token(key, value).await
    }
    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// Needs no Redis: the recovery logic over a shared in-memory store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_invalidation_invalidates_everything_on_recovery() {
    let shared = Arc::new(MemoryStore::new(1000));
    let flaky = Arc::new(Flaky {
        inner: shared.clone(),
        broken: AtomicBool::new(false),
    });
    let (raw, _counting) = Counting::storage();
    let a_cache = DescriptorCache::new(flaky.clone(), "ns".into());
    let a = CachedDriver::wrap(&raw, a_cache.clone());
    let b = CachedDriver::wrap(&raw, DescriptorCache::new(shared, "ns".into()));
    let p = paths("flaky");
    store_all(&a, &p, "body").await;
    assert_correct(&b, &raw, &p).await;
    assert_correct(&a, &raw, &p).await;
    flaky.broken.store(true, Ordering::SeqCst);
    a.delete(&p.layer).await.unwrap();
    // A does not trust the cache meanwhile.
    assert!(a.get_content(&p.layer).await.unwrap_err().is_not_found());
    flaky.broken.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // A's first use after recovery replaces the root token: B's entries are all invalid.
    assert!(a.get_content(&p.layer).await.unwrap_err().is_not_found());
    assert!(!a_cache.is_failing());
    assert!(b.get_content(&p.layer).await.unwrap_err().is_not_found());
}

/// The cache in a registry's `config.yml`, through the HTTP API: two instances over one
/// filesystem root and one Redis, and one without a cache to compare with.
fn cached_options(addr: &str) -> Options {
    Options {
        // `storage.cache` sits beside `storage.redirect`, which this option writes.
        redirect: Some("    disable: true\n  cache:\n    blobdescriptor: redis\n".into()),
        sections: Some(format!(
            "redis:\n  addr: '{addr}'\n  readtimeout: 300ms\n  writetimeout: 300ms\n"
        )),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_over_one_redis_answer_as_one() {
    let Some((addr, _)) = redis_env() else { return };
    let a = TestServer::start_with(Driver::Filesystem, cached_options(&addr)).await;
    let b = a.sibling(cached_options(&addr)).await;
    let plain = a.sibling(Options::default()).await;
    let image = a.image("cached", 7, 2).await;
    a.push_manifest("cached", "v1", &image).await;
    let blob = a.push_blob("cached", b"a blob of its own").await;
    let blob_path = format!("/v2/cached/blobs/{blob}");
    let manifest_path = format!("/v2/cached/manifests/{}", image.digest());

    for _ in 0..3 {
        for path in [&blob_path, &manifest_path] {
            let expected = plain.get(path).await;
            let expected_headers = (
                header(&expected, "Content-Length"),
                header(&expected, "Docker-Content-Digest"),
                header(&expected, "Content-Type"),
            );
            let expected_body = expected.bytes().await.unwrap();
            for server in [&a, &b] {
                let got = server.get(path).await;
                assert_eq!(got.status(), StatusCode::OK, "{path}");
                assert_eq!(
                    (
                        header(&got, "Content-Length"),
                        header(&got, "Docker-Content-Digest"),
                        header(&got, "Content-Type"),
                    ),
                    expected_headers,
                    "{path}"
                );
                assert_eq!(got.bytes().await.unwrap(), expected_body, "{path}");
                assert_eq!(server.head(path).await.status(), StatusCode::OK);
            }
        }
    }

    // Deletes through A are seen by B on its next request.
    assert_eq!(a.delete(&blob_path).await.status(), StatusCode::ACCEPTED);
    assert_eq!(b.head(&blob_path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.get(&blob_path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        a.delete(&manifest_path).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(b.get(&manifest_path).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(b.head(&manifest_path).await.status(), StatusCode::NOT_FOUND);

    // Pushed again through B, A sees it at once.
    let again = b.push_blob("cached", b"a blob of its own").await;
    assert_eq!(again, blob);
    assert_eq!(a.head(&blob_path).await.status(), StatusCode::OK);
    b.push_manifest("cached", "v1", &image).await;
    assert_eq!(a.get(&manifest_path).await.status(), StatusCode::OK);

    plain.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_starts_and_serves_with_redis_down() {
    if redis_env().is_none() {
        return;
    }
    let dead = format!("127.0.0.1:{}", free_port());
    let a = TestServer::start_with(Driver::Filesystem, cached_options(&dead)).await;
    let image = a.image("nocache", 3, 1).await;
    a.push_manifest("nocache", "v1", &image).await;
    for _ in 0..3 {
        let response = a
            .get(&format!("/v2/nocache/manifests/{}", image.digest()))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    a.stop().await;
}

/// Storage operations per request, with and without the cache, for the requests the cache is
/// for: blob HEAD (and the size check of a GET), manifest GET by digest, and a manifest PUT
/// whose blobs are checked. Printed as figures; the cached ones must be zero for the reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_operations_per_request_with_and_without_the_cache() {
    use registry_core::domain::{Digest, Reference, RepositoryName};
    use registry_core::layout;
    use registry_core::registry::{Registry, RegistrySettings};

    let Some((addr, _)) = redis_env() else { return };
    let repo: RepositoryName = "cost/app".parse().unwrap();
    let config = config_blob(1);
    let layer = bytes(2, 1000);
    let (config_digest, layer_digest) = (Digest::sha256_of(&config), Digest::sha256_of(&layer));
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &[(layer_digest.clone(), layer.len() as u64)],
        None,
    );
    let reference = Reference::Digest(manifest.digest());

    let mut figures = Vec::new();
    for cached in [false, true] {
        let (raw, counting) = Counting::storage();
        let storage = if cached {
            CachedDriver::wrap(
                &raw,
                redis_cache(&redis_config(&addr, None), &fresh_namespace()),
            )
        } else {
            raw.clone()
        };
        for (digest, data) in [(&config_digest, &config), (&layer_digest, &layer)] {
            raw.put_content(&layout::blob_data(digest), data.clone())
                .await
                .unwrap();
            raw.put_content(
                &layout::layer_link(&repo, digest),
                digest.as_str().to_owned(),
            )
            .await
            .unwrap();
        }
        // A fresh registry per request kind: its own in-process manifest cache starts empty.
        let put = |tag: &'static str| {
            let registry = Registry::new(storage.clone(), RegistrySettings::default());
            let repo = repo.clone();
            let body = Bytes::from(manifest.body.clone());
            let media_type = manifest.media_type.clone();
            async move {
                registry
                    .put_manifest(
                        &repo,
                        &Reference::Tag(tag.parse().unwrap()),
                        Some(&media_type),
                        body,
                    )
                    .await
                    .unwrap();
            }
        };
        put("warm").await;
        counting.take();
        put("v1").await;
        let put_ops = counting.take().len();

        let registry = Registry::new(storage.clone(), RegistrySettings::default());
        registry.blob_size(&repo, &layer_digest).await.unwrap();
        counting.take();
        for _ in 0..10 {
            registry.blob_size(&repo, &layer_digest).await.unwrap();
        }
        let head_ops = counting.take().len() as f64 / 10.0;

        // The push wrote the manifest (which replaces what may be cached of it): one read fills.
        Registry::new(storage.clone(), RegistrySettings::default())
            .get_manifest(&repo, &reference)
            .await
            .unwrap();
        let mut get_ops = 0.0;
        for _ in 0..10 {
            // Each time a new process, as another instance would be.
            let registry = Registry::new(storage.clone(), RegistrySettings::default());
            counting.take();
            let got = registry.get_manifest(&repo, &reference).await.unwrap();
            assert_eq!(got.body, Bytes::from(manifest.body.clone()));
            get_ops += counting.take().len() as f64 / 10.0;
        }
        if cached {
            assert_eq!(head_ops, 0.0, "a cached blob HEAD reads no storage");
            assert_eq!(
                get_ops, 0.0,
                "a cached manifest GET by digest reads no storage"
            );
        }
        figures.push(format!(
            "{}: blob HEAD {head_ops:.1} storage ops, manifest GET by digest {get_ops:.1}, manifest PUT {put_ops}",
            if cached { "with the Redis cache" } else { "without a cache" }
        ));
    }
    for line in figures {
        println!("FIGURE {line}");
    }
}

/// Redis over mutual TLS (`tls.certificate`, `tls.key`, `tls.rootcas`, the 3.x form): the
/// cache connects, verifies the server against the given CA, and serves hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_mutual_tls() {
    let Some((_, binary)) = redis_env() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ca = pki::Ca::new("redis test CA");
    let server = ca.server("redis", 2);
    let client = ca.client("registry");
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_file = file("ca.pem", &ca.pem());
    let redis = OwnRedis::start_with(
        &binary,
        vec![
            "--tls-cert-file".into(),
            file("server.pem", &server.chain_pem),
            "--tls-key-file".into(),
            file("server.key", &server.key_pem),
            "--tls-ca-cert-file".into(),
            ca_file.clone(),
            "--tls-auth-clients".into(),
            "yes".into(),
        ],
    );
    let yaml = format!(
        "storage: {{inmemory: {{}}}}\nredis:\n  addrs: ['localhost:{}']\n  readtimeout: 2s\n  tls:\n    certificate: {}\n    key: {}\n    rootcas: [{ca_file}]\n",
        redis.port,
        file("client.pem", &client.chain_pem),
        file("client.key", &client.key_pem),
    );
    let config = Config::from_yaml(&yaml, Vec::new()).unwrap().redis.unwrap();
    let cache = redis_cache(&config, &fresh_namespace());
    cache.check().await.expect("a TLS connection to Redis");
    let (raw, _counting) = Counting::storage();
    let storage = CachedDriver::wrap(&raw, cache.clone());
    let p = paths("tls");
    store_all(&storage, &p, "body").await;
    assert_correct(&storage, &raw, &p).await;
    assert_correct(&storage, &raw, &p).await;
    let hits: u64 = cache.counters().snapshot().iter().map(|c| c.hits).sum();
    assert!(hits > 0, "no hits over TLS");

    // Without the client certificate Redis refuses the handshake: storage answers.
    let yaml = format!(
        "storage: {{inmemory: {{}}}}\nredis:\n  addr: 'localhost:{}'\n  readtimeout: 2s\n  tls:\n    rootcas: [{ca_file}]\n",
        redis.port
    );
    let config = Config::from_yaml(&yaml, Vec::new()).unwrap().redis.unwrap();
    let refused = redis_cache(&config, &fresh_namespace());
    assert!(refused.check().await.is_err());
    assert_correct(&CachedDriver::wrap(&raw, refused), &raw, &p).await;
}
