//! The blob-descriptor cache (`storage.cache.blobdescriptor`): a [`StorageDriver`] decorator
//! that answers some reads from a cache (Redis, shared by every instance; or this process's
//! memory), so that blob HEAD/GET and manifest PUT validation skip storage stats and manifest
//! GET by digest skips two storage reads. It wraps what it caches: the registry logic, the
//! garbage collector and every other user of storage go through it unaware, and every delete
//! they make invalidates.
//!
//! # What is cached
//! Positive answers only, for paths whose answer cannot change while the path exists:
//! - `stat` of blob data (`blobs/<alg>/<2>/<hex>/data`): a blob's size. Content-addressed.
//! - `get_content` of layer links (`_layers/<alg>/<hex>/link`) and revision links
//!   (`_manifests/revisions/<alg>/<hex>/link`): a repository's membership of a blob or a
//!   manifest. Their content is the digest in their own path.
//! - `get_content` of blob data up to [`MAX_BODY`] bytes: manifest bodies by digest.
//!
//! Never cached: tags (`_manifests/tags/`, which move), uploads (`_uploads/`), referrers,
//! listings, and any "not found" (a blob pushed through another instance is seen at once).
//!
//! # Why it stays correct: generation tokens per path prefix
//! Every path prefix `p` (`/`, `/docker`, ..., the path itself) has a token `gen:p`, a random
//! value. A cache entry for path `x` records the tokens of all of `x`'s prefixes as they were
//! *before* storage was read, and a lookup fetches the entry and the current tokens in one
//! round trip: the entry counts only if every token is unchanged.
//!
//! A delete of `d` (a file, or a directory with everything below it) first deletes in storage,
//! then replaces `gen:d` with a fresh random value, and only then answers. Take any fill of an
//! entry below `d` (or of `d` itself):
//! - it read the tokens before the replacement: it recorded the old `gen:d`, so its entry is
//!   invalid from the replacement on, whenever it is written;
//! - it read the tokens after the replacement: its storage read came after the storage delete,
//!   so it found nothing (and nothing is cached), or found content written again after the
//!   delete, which is then the truth.
//!
//! So once a delete has answered, no instance serves what it deleted from the cache. No scan
//! is needed for directory deletes. Writes to a cached path (a link written again, blob data
//! committed) replace its token the same way.
//!
//! A missing token is never trusted: before a fill, missing tokens are created (`SET NX`), and
//! an entry whose recorded token is now missing is invalid. So Redis evicting keys
//! (`allkeys-lru`, as the reference asks for), a `FLUSHALL`, or a Redis restart without
//! persistence only turn hits into misses. (A Redis restored from an old snapshot could bring
//! back entries together with the tokens of their time; entries expire after [`ENTRY_TTL`]
//! to bound that, and Redis persistence is not needed by this cache.)
//!
//! # When Redis fails
//! Every call has a timeout (`redis.readtimeout` + `redis.writetimeout`; connecting is bounded
//! by `redis.dialtimeout`). A failing call falls back to storage; the state (healthy, failing)
//! is logged once per change, and while failing Redis is tried again at most once a second
//! ([`health`]). A delete whose token replacement fails still answers
//! (storage is the truth), but the cache is then not used by this instance until it has
//! replaced the root token `gen:/`, which invalidates every entry.

mod driver;
mod entry;
pub mod health;
mod keys;
mod memory;
mod redis_store;
mod store;

use std::sync::Arc;

pub use driver::CachedDriver;
pub use health::{CacheCount, CacheCounters};
pub use store::{CacheError, CacheStore};

use crate::config::{CacheConfig, StorageConfig};

pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// Largest manifest body kept in the cache.
pub const MAX_BODY: usize = 1024 * 1024;

/// How long an entry lives in Redis (tokens have no expiry).
pub const ENTRY_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The cache's operator-facing side: a health probe and hit/miss counts, for `/debug/health`
/// and metrics.
pub struct DescriptorCache {
    /// Key prefix of this storage location (see [`keys::namespace`]).
    pub(crate) namespace: String,
    pub(crate) store: Arc<dyn CacheStore>,
    pub(crate) health: health::Health,
    pub(crate) counters: CacheCounters,
}

impl DescriptorCache {
    /// A cache over `store`, for the storage location `namespace` names.
    pub fn new(store: Arc<dyn CacheStore>, namespace: String) -> Arc<Self> {
        Self::counted(store, namespace, CacheCounters::default())
    }

    /// Like [`DescriptorCache::new`], counting hits and misses in `counters`.
    pub fn counted(
        store: Arc<dyn CacheStore>,
        namespace: String,
        counters: CacheCounters,
    ) -> Arc<Self> {
        Arc::new(DescriptorCache {
            namespace,
            health: health::Health::new(store.name()),
            store,
            counters,
        })
    }

    /// Opens the configured cache (a Redis cache connects lazily: a Redis that is down at
    /// startup does not stop the registry).
    pub fn open(
        config: &CacheConfig,
        storage: &StorageConfig,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Arc<Self>, crate::config::ConfigError> {
        let store: Arc<dyn CacheStore> = match config {
            CacheConfig::InMemory { entries } => Arc::new(memory::MemoryStore::new(*entries)),
            CacheConfig::Redis(redis) => Arc::new(redis_store::RedisStore::open(redis)?),
        };
        Ok(Self::counted(
            store,
            namespace_of(storage),
            CacheCounters::registered(metrics),
        ))
    }

    /// `inmemory` or `redis`.
    pub fn kind(&self) -> &'static str {
        self.store.name()
    }

    /// A cheap health probe (a Redis `PING` within the read timeout).
    pub async fn check(&self) -> Result<(), String> {
        let result = self.store.ping().await.map_err(|e| e.to_string());
        match &result {
            Ok(()) => self.health.succeeded(),
            Err(e) => self.health.failed(e),
        }
        result
    }

    /// Hits and misses by cache name.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// Whether the last call to the cache's store failed.
    pub fn is_failing(&self) -> bool {
        self.health.is_failing()
    }
}

/// The key prefix for the configured storage location. The in-memory driver's data lives in
/// one process, so its namespace is that process's own.
pub fn namespace_of(storage: &StorageConfig) -> String {
    let params = &storage.parameters;
    let get = |key: &'static str| (key, params.string(key).ok().flatten());
    let location: Vec<(&str, Option<String>)> = match storage.driver.as_str() {
        "s3" => vec![
            get("regionendpoint"),
            get("region"),
            get("bucket"),
            get("rootdirectory"),
        ],
        "azure" => vec![
            get("serviceurl"),
            get("realm"),
            get("accountname"),
            get("container"),
            get("rootdirectory"),
        ],
        "filesystem" => vec![get("rootdirectory")],
        _ => vec![(
            "process",
            Some(format!("{}-{}", std::process::id(), rand::random::<u64>())),
        )],
    };
    keys::namespace(&storage.driver, &location)
}
