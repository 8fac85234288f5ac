//! Whether the cache store answers, logged once per change, and the hit/miss counters that
//! metrics read.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::keys::Kind;

/// After a failure, how long requests go straight to storage before Redis is tried again.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

pub struct Health {
    store: &'static str,
    /// When the store started failing; `None` while healthy.
    failing: Mutex<Option<Failing>>,
    /// An invalidation failed: the root token must be replaced before the cache is trusted
    /// again (see the module docs).
    needs_flush: AtomicBool,
}

struct Failing {
    since: Instant,
    next_try: Instant,
}

impl Health {
    pub fn new(store: &'static str) -> Self {
        Health {
            store,
            failing: Mutex::new(None),
            needs_flush: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Failing>> {
        self.failing.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether to call the store now: always while healthy; while failing, one caller per
    /// [`RETRY_AFTER`].
    pub fn may_try(&self) -> bool {
        let mut failing = self.lock();
        match failing.as_mut() {
            None => true,
            Some(f) => {
                let now = Instant::now();
                if now >= f.next_try {
                    f.next_try = now + RETRY_AFTER;
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn succeeded(&self) {
        let mut failing = self.lock();
        if let Some(f) = failing.take() {
            tracing::warn!(
                cache = self.store,
                failed_for_ms = f.since.elapsed().as_millis() as u64,
                "blob descriptor cache answers again; using it"
            );
        }
    }

    pub fn failed(&self, error: &str) {
        let mut failing = self.lock();
        if failing.is_none() {
            tracing::error!(
                cache = self.store,
                error,
                "blob descriptor cache failing; answering from storage until it recovers"
            );
            let now = Instant::now();
            *failing = Some(Failing {
                since: now,
                next_try: now + RETRY_AFTER,
            });
        }
    }

    pub fn is_failing(&self) -> bool {
        self.lock().is_some()
    }

    pub fn needs_flush(&self) -> bool {
        self.needs_flush.load(Ordering::Acquire)
    }

    pub fn set_needs_flush(&self, value: bool) {
        self.needs_flush.store(value, Ordering::Release);
    }
}

#[derive(Default)]
struct HitMiss {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Hits and misses by cache name (`blobdescriptor`, `repositorymembership`,
/// `manifestbody`). A lookup the store could not answer counts as a miss.
#[derive(Default)]
pub struct CacheCounters {
    blob: HitMiss,
    link: HitMiss,
    body: HitMiss,
}

/// One cache's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheCount {
    pub name: &'static str,
    pub hits: u64,
    pub misses: u64,
}

impl CacheCounters {
    fn of(&self, kind: Kind) -> &HitMiss {
        match kind {
            Kind::BlobStat => &self.blob,
            Kind::Link => &self.link,
            Kind::Body => &self.body,
        }
    }

    pub(crate) fn hit(&self, kind: Kind) {
        self.of(kind).hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self, kind: Kind) {
        self.of(kind).misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<CacheCount> {
        [Kind::BlobStat, Kind::Link, Kind::Body]
            .into_iter()
            .map(|kind| CacheCount {
                name: kind.name(),
                hits: self.of(kind).hits.load(Ordering::Relaxed),
                misses: self.of(kind).misses.load(Ordering::Relaxed),
            })
            .collect()
    }
}
