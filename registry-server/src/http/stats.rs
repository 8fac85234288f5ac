//! Counters an operator reads to see where blob bytes flow: served by the registry itself, or
//! redirected to the storage backend.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    blob_bytes_served: AtomicU64,
    blob_redirects: AtomicU64,
    multi_range_requests: AtomicU64,
    multi_range_parts: AtomicU64,
    multi_range_bytes: AtomicU64,
}

impl Stats {
    pub fn add_blob_bytes(&self, n: u64) {
        self.blob_bytes_served.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_redirect(&self) {
        self.blob_redirects.fetch_add(1, Ordering::Relaxed);
    }

    /// A multi-range answer of `parts` parts begins.
    pub fn add_multi_range(&self, parts: usize) {
        self.multi_range_requests.fetch_add(1, Ordering::Relaxed);
        self.multi_range_parts
            .fetch_add(parts as u64, Ordering::Relaxed);
    }

    /// Blob bytes sent in the parts of multi-range answers (also counted as blob bytes).
    pub fn add_multi_range_bytes(&self, n: u64) {
        self.multi_range_bytes.fetch_add(n, Ordering::Relaxed);
        self.add_blob_bytes(n);
    }

    pub fn blob_bytes_served(&self) -> u64 {
        self.blob_bytes_served.load(Ordering::Relaxed)
    }

    pub fn blob_redirects(&self) -> u64 {
        self.blob_redirects.load(Ordering::Relaxed)
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        format!(
            "# HELP registry_blob_bytes_served_total Blob bytes sent by the registry itself.\n\
             # TYPE registry_blob_bytes_served_total counter\n\
             registry_blob_bytes_served_total {}\n\
             # HELP registry_blob_redirects_total Blob requests answered with a redirect to storage.\n\
             # TYPE registry_blob_redirects_total counter\n\
             registry_blob_redirects_total {}\n\
             # HELP registry_blob_multirange_requests_total Blob GETs answered with several ranges (multipart/byteranges).\n\
             # TYPE registry_blob_multirange_requests_total counter\n\
             registry_blob_multirange_requests_total {}\n\
             # HELP registry_blob_multirange_ranges_total Ranges (parts) sent in multi-range answers.\n\
             # TYPE registry_blob_multirange_ranges_total counter\n\
             registry_blob_multirange_ranges_total {}\n\
             # HELP registry_blob_multirange_bytes_total Blob bytes sent in the parts of multi-range answers.\n\
             # TYPE registry_blob_multirange_bytes_total counter\n\
             registry_blob_multirange_bytes_total {}\n",
            self.blob_bytes_served(),
            self.blob_redirects(),
            self.multi_range_requests.load(Ordering::Relaxed),
            self.multi_range_parts.load(Ordering::Relaxed),
            self.multi_range_bytes.load(Ordering::Relaxed),
        )
    }
}
