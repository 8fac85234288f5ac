//! The background upload purger (`storage.maintenance.uploadpurging`): runs
//! [`purge_uploads`] every `interval`, after a random delay, as the reference's
//! `startUploadPurger` does.
//!
//! Why the delay: instances started together (a deployment rollout) would otherwise all walk
//! the storage at the same moment, every interval. Several instances purging at once is
//! harmless (see `registry_core::lifecycle::purge`), only wasteful. The reference waits 0 to
//! 59 minutes; here that is also capped by the interval, so that a short interval (tests, or an
//! operator who wants one) starts within it.

use std::time::{Duration, SystemTime};

use registry_core::layout;
use registry_core::lifecycle::purge::{PurgeOptions, PurgeReport, purge_uploads};
use registry_core::storage::Storage;

use crate::config::UploadPurging;

/// The longest delay before the first run, as the reference's.
const MAX_JITTER: Duration = Duration::from_secs(60 * 60);

/// Starts the purger on the current Tokio runtime, unless the configuration or read-only mode
/// turns it off; says at startup which it is.
pub fn start(
    storage: Storage,
    settings: UploadPurging,
    read_only: bool,
) -> Option<tokio::task::JoinHandle<()>> {
    if !settings.enabled {
        tracing::info!("upload purging disabled (storage.maintenance.uploadpurging.enabled)");
        return None;
    }
    if read_only {
        tracing::info!("upload purging disabled: the registry is read-only");
        return None;
    }
    let jitter = jitter(settings.interval);
    tracing::info!(
        age = %humantime::format_duration(settings.age),
        interval = %humantime::format_duration(settings.interval),
        dry_run = settings.dry_run,
        first_run_in = %humantime::format_duration(jitter),
        "upload purging enabled"
    );
    Some(tokio::spawn(async move {
        tokio::time::sleep(jitter).await;
        let mut ticks = tokio::time::interval(settings.interval);
        // A run that took longer than the interval is not followed by a burst of catch-ups.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            run_once(&storage, settings).await;
        }
    }))
}

/// What the purger will do, in one line for `registry check-config`.
pub fn describe(settings: &UploadPurging, read_only: bool) -> String {
    if !settings.enabled {
        return "off".to_owned();
    }
    if read_only {
        return "off (read-only)".to_owned();
    }
    format!(
        "every {}, uploads idle for {}{}",
        humantime::format_duration(settings.interval),
        humantime::format_duration(settings.age),
        if settings.dry_run { " (dry run)" } else { "" }
    )
}

/// One purge run over the registry's repositories, logged.
pub async fn run_once(storage: &Storage, settings: UploadPurging) -> PurgeReport {
    let older_than = SystemTime::now()
        .checked_sub(settings.age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let options = PurgeOptions {
        older_than,
        dry_run: settings.dry_run,
    };
    let started = std::time::Instant::now();
    let report = purge_uploads(storage, &layout::repositories_root(), options).await;
    for error in &report.errors {
        tracing::warn!(error = error.as_str(), "upload purging");
    }
    tracing::info!(
        dry_run = settings.dry_run,
        uploads = report.uploads_seen,
        purged = report.uploads_purged,
        bytes = report.bytes_purged,
        kept = report.uploads_kept,
        abandoned_writes_removed = report.pending_writes_removed,
        errors = report.errors.len(),
        took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "upload purge finished"
    );
    report
}

/// A random delay below both the reference's hour and the interval.
fn jitter(interval: Duration) -> Duration {
    let cap = MAX_JITTER.min(interval).as_millis().max(1);
    let random = uuid::Uuid::new_v4().as_u128() % cap;
    Duration::from_millis(u64::try_from(random).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        let mut settings = UploadPurging::default();
        assert_eq!(
            describe(&settings, false),
            "every 1day, uploads idle for 7days"
        );
        assert_eq!(describe(&settings, true), "off (read-only)");
        settings.dry_run = true;
        assert!(describe(&settings, false).ends_with(" (dry run)"));
        settings.enabled = false;
        assert_eq!(describe(&settings, false), "off");
    }

    #[test]
    fn jitter_stays_below_the_hour_and_the_interval() {
        for _ in 0..200 {
            assert!(jitter(Duration::from_secs(2)) < Duration::from_secs(2));
            assert!(jitter(Duration::from_secs(24 * 3600)) < MAX_JITTER);
        }
        assert_eq!(jitter(Duration::from_nanos(1)), Duration::ZERO);
    }
}
