//! Whether the cache store answers, logged once per change, and the hit/miss counters that
//! metrics read.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::metrics::counter::Counter;
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
    hits: Counter,
    misses: Counter,
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
    /// Counters that are the `registry_cache_hits_total` / `registry_cache_misses_total`
    /// series of `metrics`, by cache name.
    pub fn registered(metrics: &crate::metrics::Metrics) -> Self {
        let pair = |kind: Kind| {
            let (hits, misses) = metrics.cache_counters(kind.name());
            HitMiss { hits, misses }
        };
        CacheCounters {
            blob: pair(Kind::BlobStat),
            link: pair(Kind::Link),
            body: pair(Kind::Body),
        }
    }

    fn of(&self, kind: Kind) -> &HitMiss {
        match kind {
            Kind::BlobStat => &self.blob,
            Kind::Link => &self.link,
            Kind::Body => &self.body,
        }
    }

    pub(crate) fn hit(&self, kind: Kind) {
        self.of(kind).hits.inc();
    }

    pub(crate) fn miss(&self, kind: Kind) {
        self.of(kind).misses.inc();
    }

    pub fn snapshot(&self) -> Vec<CacheCount> {
        [Kind::BlobStat, Kind::Link, Kind::Body]
            .into_iter()
            .map(|kind| CacheCount {
                name: kind.name(),
                hits: self.of(kind).hits.get(),
                misses: self.of(kind).misses.get(),
            })
            .collect()
    }
}
