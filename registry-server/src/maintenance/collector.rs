//! The online collector: one cycle every `gc.interval`, in the background of `registry serve`.
//! Several instances may run it over one storage; the GC lease lets one cycle run at a time
//! and the others skip their turn.

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
        loop {
            tokio::time::sleep(interval).await;
            match gc::collect(&storage, &options, &()).await {
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
                }
                Err(GcError::Busy) => {
                    tracing::debug!("garbage collection skipped: another cycle holds the lease");
                }
                Err(e) => tracing::error!(error = %e, "garbage collection cycle failed"),
            }
        }
    }))
}
