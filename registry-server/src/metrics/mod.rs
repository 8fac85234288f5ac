//! The registry's Prometheus metrics: one [`Metrics`] per server (no process-wide globals, so
//! that several servers in one process, as in the tests, count apart), exposed in the
//! OpenMetrics text format on the debug listener (and, when configured, the main one).
//!
//! Hot paths never take a lock shared by all requests: counters and gauges are atomics,
//! storage-operation series are resolved once per driver operation and outcome
//! ([`driver`]), and HTTP series are looked up under a read lock of their family.
//!
//! Every metric is listed in the README's "Metrics" table; keep the two in step.

pub mod driver;
pub mod http;

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

pub use driver::MeteredDriver;

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets from 1 ms to about 33 s (doubling): a manifest GET from a page-cached
/// filesystem and a multi-GB blob PUT both fall inside.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub route: &'static str,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteMethodLabels {
    pub route: &'static str,
    pub method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StorageOpLabels {
    pub driver: &'static str,
    pub operation: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StorageLatencyLabels {
    pub driver: &'static str,
    pub operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of one server.
pub struct Metrics {
    registry: Registry,
    pub(crate) requests: Family<RequestLabels, Counter>,
    pub(crate) request_duration: HistogramFamily<RouteMethodLabels>,
    pub(crate) in_flight: Gauge,
    pub(crate) received_bytes: Family<RouteLabels, Counter>,
    pub(crate) sent_bytes: Family<RouteLabels, Counter>,
    pub(crate) storage_operations: Family<StorageOpLabels, Counter>,
    pub(crate) storage_duration: HistogramFamily<StorageLatencyLabels>,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    health_checks: Family<CheckLabels, Gauge>,
    uploads_started: Counter,
    uploads_completed: Counter,
    uploads_cancelled: Counter,
    blob_bytes_served: Counter,
    blob_redirects: Counter,
    multi_range_requests: Counter,
    multi_range_parts: Counter,
    multi_range_bytes: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "registry_http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let request_duration: HistogramFamily<RouteMethodLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "registry_http_request_duration",
            "Time from a request's arrival until its response body was sent, by route template and method",
            Unit::Seconds,
            request_duration.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "registry_http_requests_in_flight",
            "Requests being served (until their response body is sent)",
            in_flight.clone(),
        );
        let received_bytes = Family::<RouteLabels, Counter>::default();
        registry.register_with_unit(
            "registry_http_received",
            "Request body bytes read, by route template",
            Unit::Bytes,
            received_bytes.clone(),
        );
        let sent_bytes = Family::<RouteLabels, Counter>::default();
        registry.register_with_unit(
            "registry_http_sent",
            "Response body bytes sent, by route template",
            Unit::Bytes,
            sent_bytes.clone(),
        );
        let storage_operations = Family::<StorageOpLabels, Counter>::default();
        registry.register(
            "registry_storage_operations",
            "Storage driver operations, by driver, operation and outcome (ok, not_found, error)",
            storage_operations.clone(),
        );
        let storage_duration: HistogramFamily<StorageLatencyLabels> =
            Family::new_with_constructor(latency_histogram);
        registry.register_with_unit(
            "registry_storage_operation_duration",
            "Storage driver operation latency (for readers: until the stream is open), by driver and operation",
            Unit::Seconds,
            storage_duration.clone(),
        );
        let cache_hits = Family::<CacheLabels, Counter>::default();
        registry.register(
            "registry_cache_hits",
            "Lookups answered by a cache, by cache",
            cache_hits.clone(),
        );
        let cache_misses = Family::<CacheLabels, Counter>::default();
        registry.register(
            "registry_cache_misses",
            "Lookups a cache could not answer (storage was asked), by cache",
            cache_misses.clone(),
        );
        let health_checks = Family::<CheckLabels, Gauge>::default();
        registry.register(
            "registry_health_check_up",
            "1 while a health check passes (or has failed fewer times in a row than its threshold), 0 while it reports a failure",
            health_checks.clone(),
        );
        let mut counter = |name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let uploads_started = counter(
            "registry_uploads_started",
            "Blob uploads started (a POST that opened an upload session, or a monolithic POST)",
        );
        let uploads_completed = counter(
            "registry_uploads_completed",
            "Blob uploads completed with a verified digest (closing PUT or monolithic POST)",
        );
        let uploads_cancelled = counter(
            "registry_uploads_cancelled",
            "Blob uploads cancelled by the client (DELETE)",
        );
        let blob_bytes_served = counter(
            "registry_blob_bytes_served",
            "Blob bytes sent by the registry itself",
        );
        let blob_redirects = counter(
            "registry_blob_redirects",
            "Blob requests answered with a redirect to storage",
        );
        let multi_range_requests = counter(
            "registry_blob_multirange_requests",
            "Blob GETs answered with several ranges (multipart/byteranges)",
        );
        let multi_range_parts = counter(
            "registry_blob_multirange_ranges",
            "Ranges (parts) sent in multi-range answers",
        );
        let multi_range_bytes = counter(
            "registry_blob_multirange_bytes",
            "Blob bytes sent in the parts of multi-range answers",
        );
        Metrics {
            registry,
            requests,
            request_duration,
            in_flight,
            received_bytes,
            sent_bytes,
            storage_operations,
            storage_duration,
            cache_hits,
            cache_misses,
            health_checks,
            uploads_started,
            uploads_completed,
            uploads_cancelled,
            blob_bytes_served,
            blob_redirects,
            multi_range_requests,
            multi_range_parts,
            multi_range_bytes,
        }
    }

    /// Wraps a storage driver so that its operations are counted and timed here.
    pub fn meter_driver(
        self: &Arc<Self>,
        driver: Arc<dyn registry_core::storage::StorageDriver>,
    ) -> Arc<dyn registry_core::storage::StorageDriver> {
        Arc::new(MeteredDriver::new(driver, self))
    }

    /// A lookup answered by `cache` (e.g. `"redis"`, `"inmemory"`).
    pub fn cache_hit(&self, cache: &str) {
        self.cache_counter(&self.cache_hits, cache).inc();
    }

    /// A lookup `cache` could not answer.
    pub fn cache_miss(&self, cache: &str) {
        self.cache_counter(&self.cache_misses, cache).inc();
    }

    fn cache_counter(&self, family: &Family<CacheLabels, Counter>, cache: &str) -> Counter {
        // The label is owned, so each call allocates once: a cache on a hot path keeps the
        // handles from `cache_counters` instead.
        family.get_or_create_owned(&CacheLabels {
            cache: cache.to_owned(),
        })
    }

    /// The hit and miss counters of `cache`, resolved once, for a cache that counts on a hot
    /// path: `let (hits, misses) = metrics.cache_counters("redis"); hits.inc();`.
    pub fn cache_counters(&self, cache: &str) -> (Counter, Counter) {
        (
            self.cache_counter(&self.cache_hits, cache),
            self.cache_counter(&self.cache_misses, cache),
        )
    }

    /// The `registry_health_check_up` gauge of one check.
    pub(crate) fn health_check_gauge(&self, check: &str) -> Gauge {
        self.health_checks.get_or_create_owned(&CheckLabels {
            check: check.to_owned(),
        })
    }

    pub fn upload_started(&self) {
        self.uploads_started.inc();
    }

    pub fn upload_completed(&self) {
        self.uploads_completed.inc();
    }

    pub fn upload_cancelled(&self) {
        self.uploads_cancelled.inc();
    }

    pub fn add_blob_bytes(&self, n: u64) {
        self.blob_bytes_served.inc_by(n);
    }

    pub fn add_redirect(&self) {
        self.blob_redirects.inc();
    }

    /// A multi-range answer of `parts` parts begins.
    pub fn add_multi_range(&self, parts: usize) {
        self.multi_range_requests.inc();
        self.multi_range_parts.inc_by(parts as u64);
    }

    /// Blob bytes sent in the parts of multi-range answers (also counted as blob bytes).
    pub fn add_multi_range_bytes(&self, n: u64) {
        self.multi_range_bytes.inc_by(n);
        self.add_blob_bytes(n);
    }

    pub fn blob_bytes_served(&self) -> u64 {
        self.blob_bytes_served.get()
    }

    pub fn blob_redirects(&self) -> u64 {
        self.blob_redirects.get()
    }

    /// The OpenMetrics text exposition of every metric.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would be a bug in a label.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        text
    }
}
