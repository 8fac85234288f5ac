//! Upload purging (`storage.maintenance.uploadpurging`): removes uploads that nobody has
//! touched for longer than an age, with what their writers left in the backend.
//!
//! The reference (`registry/storage/purgeuploads.go`) walks `_uploads` of every repository and
//! deletes an upload's directory when its `startedat` is older than the cutoff. Here an
//! upload lives on across many requests (see the registry's uploads module), so its age is
//! that of its newest sign of life: `startedat`, or the newest entry (a chunk, its record, a
//! lease), whichever is later. An upload whose lease has not expired is being written right
//! now and is never removed, whatever its age.
//!
//! Backend leftovers: an upload's chunks are written through storage writers. A writer that
//! was closed keeps its progress where `delete` of the upload's directory finds it (on S3 the
//! record naming its multipart upload, which `delete` aborts; on Azure a committed staging
//! blob below the directory). A writer whose process died mid-request leaves state that no
//! listing shows; the driver reports it through
//! [`pending_writes`](crate::storage::StorageDriver::pending_writes), and it goes with its
//! upload, or, when its upload is gone already (cancelled, completed or purged before), once
//! it is older than the cutoff.
//!
//! Why several instances may purge at once: each step is idempotent (a delete of what another
//! purger removed is a `NotFound`, which counts as done), and an upload is judged from
//! storage alone. Why a purge does not hurt a client: an upload is removed only after a second
//! listing, just before the delete, still shows it idle; a client that comes back to an upload
//! idle for longer than the age finds it unknown, as with the reference.

mod scan;

#[cfg(feature = "contract-tests")]
pub mod contract;

use std::collections::HashSet;
use std::time::SystemTime;

use crate::registry::lease_expiry;
use crate::storage::{PendingWrite, Storage, StorageError};
use scan::{FoundUpload, find_uploads, upload_id_of};

/// The name of an upload's start time, as the reference writes it.
const STARTED_AT: &str = "startedat";

/// One purge run's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeOptions {
    /// Uploads idle since before this are removed: `now - age`. It must lie in the past: a
    /// writer that started after it is taken as running.
    pub older_than: SystemTime,
    /// Only log what would be removed.
    pub dry_run: bool,
}

/// What one run did (or, in a dry run, would have done).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeReport {
    /// Upload directories found.
    pub uploads_seen: usize,
    /// Uploads removed (would be, in a dry run).
    pub uploads_purged: usize,
    /// Bytes stored in the removed uploads' directories.
    pub bytes_purged: u64,
    /// Uploads kept because they are young or a request holds their lease.
    pub uploads_kept: usize,
    /// Unfinished writers' backend state removed (multipart uploads, staging blobs).
    pub pending_writes_removed: usize,
    /// What failed; the run went on with the next upload.
    pub errors: Vec<String>,
}

/// Removes the uploads below `repositories` (normally [`crate::layout::repositories_root`])
/// idle since before `options.older_than`, with their backend leftovers.
pub async fn purge_uploads(
    storage: &Storage,
    repositories: &str,
    options: PurgeOptions,
) -> PurgeReport {
    let mut report = PurgeReport::default();
    let uploads = match find_uploads(storage, repositories).await {
        Ok(uploads) => uploads,
        Err(e) => {
            report.errors.push(format!("walking {repositories}: {e}"));
            return report;
        }
    };
    report.uploads_seen = uploads.len();
    let mut kept = HashSet::new();
    for upload in &uploads {
        match judge(storage, upload, options.older_than).await {
            Ok(Verdict::Keep) => {
                report.uploads_kept += 1;
                kept.insert(upload.id.clone());
            }
            Ok(Verdict::Gone) => {}
            Ok(Verdict::Purge { idle_since }) => {
                let outcome = purge_one(storage, upload, idle_since, options, &mut report).await;
                if let Err(e) = outcome {
                    // Not removed: never treat its writers as orphans in this run.
                    kept.insert(upload.id.clone());
                    report.errors.push(format!("{}: {e}", upload.dir));
                }
            }
            Err(e) => {
                kept.insert(upload.id.clone());
                report.errors.push(format!("{}: {e}", upload.dir));
            }
        }
    }
    sweep_orphans(storage, repositories, &kept, options, &mut report).await;
    report
}

enum Verdict {
    Keep,
    /// Removed by someone else meanwhile.
    Gone,
    Purge {
        idle_since: SystemTime,
    },
}

/// Whether `upload` is idle since before `older_than`, from the walk's view and its
/// `startedat`.
async fn judge(
    storage: &Storage,
    upload: &FoundUpload,
    older_than: SystemTime,
) -> Result<Verdict, StorageError> {
    if holds_live_lease(upload.entries.iter().map(|e| e.name.as_str())) {
        return Ok(Verdict::Keep);
    }
    let touched = upload
        .entries
        .iter()
        .filter(|e| e.name != STARTED_AT)
        .map(|e| e.modified)
        .max();
    if touched.is_some_and(|t| t >= older_than) {
        return Ok(Verdict::Keep);
    }
    let started = match upload.entries.iter().find(|e| e.name == STARTED_AT) {
        None => None,
        Some(entry) => {
            let path = format!("{}/{STARTED_AT}", upload.dir);
            match storage.get_content(&path).await {
                Ok(content) => Some(
                    parse_started_at(&content)
                        // Unreadable: the file's own time is the best there is.
                        .unwrap_or(entry.modified),
                ),
                Err(e) if e.is_not_found() => return Ok(Verdict::Gone),
                Err(e) => return Err(e),
            }
        }
    };
    let idle_since = touched.max(started).unwrap_or(SystemTime::UNIX_EPOCH);
    if idle_since >= older_than {
        return Ok(Verdict::Keep);
    }
    Ok(Verdict::Purge { idle_since })
}

/// Removes one idle upload (or, in a dry run, only says so), then its writers' leftovers.
async fn purge_one(
    storage: &Storage,
    upload: &FoundUpload,
    idle_since: SystemTime,
    options: PurgeOptions,
    report: &mut PurgeReport,
) -> Result<(), StorageError> {
    let idle = humantime::format_rfc3339_seconds(idle_since);
    if options.dry_run {
        tracing::info!(upload = %upload.dir, idle_since = %idle, bytes = upload.bytes(), "dry run: would purge an idle upload");
        report.uploads_purged += 1;
        report.bytes_purged += upload.bytes();
        let pending = storage.pending_writes(&upload.dir).await?;
        report.pending_writes_removed += pending.len();
        return Ok(());
    }
    // A client may have come back since the walk: look again just before deleting.
    match storage.list(&upload.dir).await {
        Ok(now) => {
            let seen: HashSet<&str> = upload.entries.iter().map(|e| e.name.as_str()).collect();
            let names: Vec<&str> = now
                .iter()
                .filter_map(|p| p.as_str().rsplit('/').next())
                .collect();
            // Deeper entries (the reference's `hashstates/`) list as their first component.
            let new_entry = names.iter().any(|n| {
                !seen.contains(n) && !seen.iter().any(|s| s.starts_with(&format!("{n}/")))
            });
            if holds_live_lease(names.iter().copied()) || new_entry {
                tracing::info!(upload = %upload.dir, "an idle upload came back to life; kept");
                report.uploads_kept += 1;
                return Ok(());
            }
        }
        Err(e) if e.is_not_found() => return Ok(()),
        Err(e) => return Err(e),
    }
    match storage.delete(&upload.dir).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(()), // another purger was first
        Err(e) => return Err(e),
    }
    tracing::info!(upload = %upload.dir, idle_since = %idle, bytes = upload.bytes(), "purged an idle upload");
    report.uploads_purged += 1;
    report.bytes_purged += upload.bytes();
    // The upload is gone, so none of its writers can still be running usefully.
    for write in storage.pending_writes(&upload.dir).await? {
        remove_pending(storage, &write, report).await;
    }
    Ok(())
}

/// Leftovers of writers whose upload no longer exists (cancelled, completed, purged in an
/// earlier run while a writer's process was dying) and that are older than the cutoff.
async fn sweep_orphans(
    storage: &Storage,
    repositories: &str,
    kept: &HashSet<String>,
    options: PurgeOptions,
    report: &mut PurgeReport,
) {
    let pending = match storage.pending_writes(repositories).await {
        Ok(pending) => pending,
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            report
                .errors
                .push(format!("listing pending writes below {repositories}: {e}"));
            return;
        }
    };
    for write in pending {
        let Some(id) = upload_id_of(write.path.as_str()) else {
            continue; // not an upload's: not this purger's business
        };
        if kept.contains(id) || write.started >= options.older_than {
            continue;
        }
        if options.dry_run {
            tracing::info!(path = %write.path, id = %write.id, "dry run: would remove an abandoned write");
            report.pending_writes_removed += 1;
        } else {
            remove_pending(storage, &write, report).await;
        }
    }
}

async fn remove_pending(storage: &Storage, write: &PendingWrite, report: &mut PurgeReport) {
    match storage.remove_pending_write(write).await {
        Ok(()) => {
            tracing::info!(path = %write.path, id = %write.id, "removed an abandoned write");
            report.pending_writes_removed += 1;
        }
        Err(e) if e.is_not_found() => {}
        Err(e) => report.errors.push(format!(
            "removing the abandoned write {} of {}: {e}",
            write.id, write.path
        )),
    }
}

/// True when an entry name is a lease that has not expired by this machine's clock.
fn holds_live_lease<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    let now = SystemTime::now();
    names
        .into_iter()
        .filter_map(lease_expiry)
        .any(|expiry| expiry > now)
}

/// `startedat` as written by this registry (RFC 3339 with nanoseconds, UTC) or by the
/// reference (Go's RFC 3339, with a `Z` or a numeric offset).
fn parse_started_at(content: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(content).ok()?.trim();
    if let Ok(time) = humantime::parse_rfc3339_weak(text) {
        return Some(time);
    }
    parse_with_offset(text)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]±HH:MM`, which humantime does not read.
fn parse_with_offset(text: &str) -> Option<SystemTime> {
    let split = text.len().checked_sub(6)?;
    let (local, offset) = text.split_at(split);
    let sign = match offset.as_bytes().first()? {
        b'+' => 1i64,
        b'-' => -1i64,
        _ => return None,
    };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let offset_secs =
        sign * (hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60);
    let utc = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = std::time::Duration::from_secs(offset_secs.unsigned_abs());
    // Local time = UTC + offset, so UTC = local - offset.
    if offset_secs >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn started_at_in_both_registries_spellings() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ours = humantime::format_rfc3339_nanos(t).to_string();
        assert_eq!(parse_started_at(ours.as_bytes()), Some(t));
        assert_eq!(parse_started_at(b"2023-11-14T22:13:20Z"), Some(t));
        assert_eq!(parse_started_at(b"2023-11-14T23:13:20+01:00"), Some(t));
        assert_eq!(parse_started_at(b"2023-11-14T21:13:20-01:00\n"), Some(t));
        assert_eq!(parse_started_at(b"yesterday"), None);
        assert_eq!(parse_started_at(&[0xff, 0xfe]), None);
    }

    #[test]
    fn only_unexpired_leases_count() {
        let future = SystemTime::now() + Duration::from_secs(60);
        let ms = future.duration_since(UNIX_EPOCH).unwrap().as_millis();
        let live = format!("lock-{ms}-aaaaaaaaaaaaaaaa");
        assert!(holds_live_lease(["startedat", live.as_str()]));
        assert!(!holds_live_lease(["startedat", "lock-5-aaaaaaaaaaaaaaaa"]));
        assert!(!holds_live_lease(["data-aaaaaaaaaaaaaaaa"]));
    }
}
