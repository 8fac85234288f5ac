//! The online collector: one cycle every `gc.interval`, in the background of `registry serve`.
//! Several instances may run it over one storage; the GC lease lets one cycle run at a time
//! and the others skip their turn.
//!
//! The schedule lives in storage, not in the process: a completed cycle rewrites
//! `_gc/last-cycle`, and an instance runs a cycle only once that file is `interval` old. So a
//! fleet runs about one cycle per interval however many instances it has, and instances that
//! restart more often than `interval` (deploys, autoscaling) still collect: a fresh instance
//! looks at the schedule shortly after it starts, not one interval later.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use registry_core::layout;
use registry_core::lifecycle::gc::{self, GcError};
use registry_core::storage::Storage;

use crate::config::Config;

/// Starts the collector (on the current Tokio runtime) if the configuration asks for it and
/// allows it; says at startup what it does, and why it does nothing when it does nothing.
pub fn start(config: &Config, storage: Storage) -> Option<tokio::task::JoinHandle<()>> {
    let gc = &config.gc;
    if !gc.enabled {
        if config.retention.is_some() {
            tracing::warn!(
                "retention policies are configured but gc.enabled is false: they apply only \
                 through `registry garbage-collect --retention`"
            );
        }
        return None;
    }
    if config.storage.read_only {
        tracing::warn!(
            "online garbage collection is off: the registry is read-only \
             (storage.maintenance.readonly.enabled)"
        );
        return None;
    }
    if !config.storage.delete_enabled {
        tracing::warn!(
            "online garbage collection is off: deletes are disabled (storage.delete.enabled: false)"
        );
        return None;
    }
    let options = super::gc_options(config);
    tracing::info!(
        interval = ?gc.interval,
        delay = ?gc.delay,
        delete_untagged = gc.delete_untagged,
        retention_policies = options.retention.as_ref().map_or(0, |r| r.policies.len()),
        retention_dry_run = options.retention.as_ref().is_some_and(|r| r.dry_run),
        "online garbage collector started"
    );
    let interval = gc.interval;
    Some(tokio::spawn(async move {
        // Instances started together (a rollout) look at the schedule at different times.
        tokio::time::sleep(jitter(interval)).await;
        loop {
            let wait = until_due(&storage, interval).await;
            if !wait.is_zero() {
                tracing::debug!(?wait, "next garbage collection cycle is not due yet");
                tokio::time::sleep(wait + jitter(interval)).await;
                continue;
            }
            run_cycle(&storage, &options).await;
            // After a cycle, or a turn skipped because another instance's cycle ran, the
            // schedule says when to look again; a failed cycle is retried after one interval.
            if until_due(&storage, interval).await.is_zero() {
                tokio::time::sleep(interval).await;
            }
        }
    }))
}

/// Up to a minute (or a tenth of the interval, when shorter) at random.
fn jitter(interval: Duration) -> Duration {
    let bound = (interval / 10).min(Duration::from_secs(60));
    bound.mul_f64(rand::random::<f64>())
}

/// How long until the next cycle is due: zero when no cycle completed within `interval` (or
/// the schedule cannot be read, which a cycle will then report).
async fn until_due(storage: &Storage, interval: Duration) -> Duration {
    match storage.stat(&layout::gc_last_cycle()).await {
        Ok(info) => {
            let age = SystemTime::now()
                .duration_since(info.mod_time)
                .unwrap_or_default();
            interval.saturating_sub(age)
        }
        Err(_) => Duration::ZERO,
    }
}

async fn run_cycle(storage: &Storage, options: &gc::Options) {
    match gc::collect(storage, options, &()).await {
        Ok(report) => {
            for item in &report.retention_would_remove {
                tracing::info!(item, "retention (dry run) would remove");
            }
            tracing::info!(
                repositories = report.repositories,
                manifests_marked = report.manifests_marked,
                blobs_marked = report.blobs_marked,
                tags_removed = report.tags_removed,
                manifests_removed = report.manifests_removed,
                blobs_removed = report.blobs_removed,
                bytes_freed = report.bytes_freed,
                candidates_kept = report.candidates_kept,
                "garbage collection cycle done"
            );
            let stamp = Bytes::from(schedule_stamp());
            if let Err(e) = storage.put_content(&layout::gc_last_cycle(), stamp).await {
                tracing::warn!(error = %e, "could not record the garbage collection schedule");
            }
        }
        Err(GcError::Busy) => {
            tracing::debug!("garbage collection skipped: another cycle holds the lease");
        }
        Err(e) => tracing::error!(error = %e, "garbage collection cycle failed"),
    }
}

/// The file's content, for a person looking at the bucket; its modification time is what
/// counts.
fn schedule_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("last garbage collection cycle completed at {secs} (seconds since the epoch)\n")
}
