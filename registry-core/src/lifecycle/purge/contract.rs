//! Upload purging against a real driver, run by each driver crate with
//! [`upload_purge_tests!`](crate::upload_purge_tests) beside the storage contract suite (and
//! with its harness, so every case works below its own prefix and leaves nothing behind).
//!
//! Uploads are laid out by hand below `<prefix>/repos`, as the registry stores them (a
//! `startedat`, chunks with their records, leases), so that their times can be set: the
//! purge's cutoff is a parameter, and "old" is "started before the cutoff" or "the cutoff lies
//! after everything was written".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{PurgeOptions, PurgeReport, purge_uploads};
use crate::storage::Storage;
use crate::storage::contract::Ctx;

const HOUR: Duration = Duration::from_secs(3600);

/// More than S3's minimum part size, so that an S3 writer holds a multipart upload, and a
/// whole Azure block once flushed.
const LARGE: usize = 6 * 1024 * 1024;

fn repos(ctx: &Ctx) -> String {
    ctx.path("repos")
}

fn nonce() -> String {
    let mut simple = uuid::Uuid::new_v4().simple().to_string();
    simple.truncate(16);
    simple
}

/// An upload of repository `repo` that started at `started`, with one chunk per item of
/// `chunks` (its data and its record, written now). Returns its directory.
async fn upload(ctx: &Ctx, repo: &str, started: SystemTime, chunks: &[&[u8]]) -> String {
    let dir = format!(
        "{}/{repo}/_uploads/{}",
        repos(ctx),
        uuid::Uuid::new_v4().hyphenated()
    );
    let stamp = humantime::format_rfc3339_nanos(started).to_string();
    put(&ctx.storage, &format!("{dir}/startedat"), stamp.as_bytes()).await;
    let (mut offset, mut parent) = (0, "root".to_owned());
    for chunk in chunks {
        let nonce = nonce();
        put(&ctx.storage, &format!("{dir}/data-{nonce}"), chunk).await;
        let end = offset + chunk.len();
        let record = format!("{dir}/chunk-{offset}-{end}-{nonce}-{parent}");
        put(&ctx.storage, &record, b"hash state").await;
        (offset, parent) = (end, nonce);
    }
    dir
}

async fn put(storage: &Storage, path: &str, content: &[u8]) {
    storage
        .put_content(path, Bytes::copy_from_slice(content))
        .await
        .unwrap_or_else(|e| panic!("put_content({path}): {e}"));
}

/// A lease on the upload at `dir` that expires at `expires`.
async fn lease(ctx: &Ctx, dir: &str, expires: SystemTime) {
    let ms = expires.duration_since(UNIX_EPOCH).unwrap().as_millis();
    put(&ctx.storage, &format!("{dir}/lock-{ms}-{}", nonce()), b"").await;
}

/// A writer into the upload at `dir` that was closed before being committed: its progress is
/// kept by the driver (on S3 a multipart upload and the record naming it).
async fn closed_writer(ctx: &Ctx, dir: &str) {
    let path = format!("{dir}/data-{}", nonce());
    let mut writer = ctx.storage.writer(&path, false).await.unwrap();
    writer.write(Bytes::from(vec![1u8; LARGE])).await.unwrap();
    writer.close().await.unwrap();
}

/// A writer into the upload at `dir` whose process died mid-request: neither committed,
/// closed nor cancelled, with what it flushed left in the backend.
async fn crashed_writer(ctx: &Ctx, dir: &str) -> String {
    let path = format!("{dir}/data-{}", nonce());
    let mut writer = ctx.storage.writer(&path, false).await.unwrap();
    writer.write(Bytes::from(vec![2u8; LARGE])).await.unwrap();
    writer.flush().await.unwrap();
    std::mem::forget(writer);
    path
}

async fn purge(storage: &Storage, ctx: &Ctx, older_than: SystemTime, dry_run: bool) -> PurgeReport {
    let options = PurgeOptions {
        older_than,
        dry_run,
    };
    let report = purge_uploads(storage, &repos(ctx), options).await;
    assert!(
        report.errors.is_empty(),
        "purge errors: {:?}",
        report.errors
    );
    report
}

async fn exists(storage: &Storage, path: &str) -> bool {
    match storage.stat(path).await {
        Ok(_) => true,
        Err(e) if e.is_not_found() => false,
        Err(e) => panic!("stat({path}): {e}"),
    }
}

/// Waits until the driver reports a pending write for `path` (block uploads of a crashed
/// writer may still be landing), if the driver reports any.
async fn await_pending(ctx: &Ctx, below: &str, path: &str) {
    if !ctx.reports_pending_writes() {
        return;
    }
    for _ in 0..100 {
        let pending = ctx.storage.pending_writes(below).await.unwrap();
        if pending.iter().any(|w| w.path.as_str() == path) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the driver never reported the crashed writer of {path}");
}

/// Old uploads go, young ones stay; a second run finds nothing more to do.
pub async fn purge_removes_idle_uploads_only(ctx: Ctx) {
    let now = SystemTime::now();
    let old = upload(&ctx, "a/b", now - 300 * HOUR, &[]).await;
    let old_with_chunk = upload(&ctx, "c", now - 200 * HOUR, &[b"abc"]).await;
    let young = upload(&ctx, "a/b", now - HOUR, &[]).await;
    // An upload the reference started (Go's RFC 3339, no fraction) long ago.
    let reference = upload(&ctx, "d", now, &[]).await;
    put(
        &ctx.storage,
        &format!("{reference}/startedat"),
        b"2020-01-02T03:04:05Z",
    )
    .await;

    let report = purge(&ctx.storage, &ctx, now - 168 * HOUR, false).await;
    assert_eq!(report.uploads_seen, 4, "{report:?}");
    // The chunk written just now keeps `old_with_chunk` although it started long ago.
    assert_eq!(report.uploads_purged, 2, "{report:?}");
    assert_eq!(report.uploads_kept, 2, "{report:?}");
    assert!(!exists(&ctx.storage, &old).await);
    assert!(!exists(&ctx.storage, &reference).await);
    assert!(exists(&ctx.storage, &old_with_chunk).await);
    assert!(exists(&ctx.storage, &young).await);
    // Only the upload directories go, not the repositories' other content.
    assert!(exists(&ctx.storage, &format!("{young}/startedat")).await);

    let again = purge(&ctx.storage, &ctx, now - 168 * HOUR, false).await;
    assert_eq!(again.uploads_purged, 0, "{again:?}");
}

/// The newest chunk, not only `startedat`, decides the age; bytes are counted.
pub async fn purge_judges_by_the_newest_chunk(ctx: Ctx) {
    let now = SystemTime::now();
    let dir = upload(&ctx, "r", now - 300 * HOUR, &[b"12345", b"678"]).await;
    let kept = purge(&ctx.storage, &ctx, now - HOUR, false).await;
    assert_eq!((kept.uploads_purged, kept.uploads_kept), (0, 1), "{kept:?}");
    assert!(exists(&ctx.storage, &dir).await);

    // Once the chunks are older than the cutoff too, the upload goes.
    let later = SystemTime::now() + HOUR;
    let purged = purge(&ctx.storage, &ctx, later, false).await;
    assert_eq!(purged.uploads_purged, 1, "{purged:?}");
    assert!(purged.bytes_purged >= 8, "{purged:?}");
    assert!(!exists(&ctx.storage, &dir).await);
}

/// An upload whose lease has not expired is being written: never removed, however old.
pub async fn purge_keeps_leased_uploads(ctx: Ctx) {
    let now = SystemTime::now();
    let leased = upload(&ctx, "r", now - 300 * HOUR, &[b"x"]).await;
    lease(&ctx, &leased, now + Duration::from_secs(60)).await;
    let expired = upload(&ctx, "r", now - 300 * HOUR, &[b"y"]).await;
    lease(&ctx, &expired, now - 200 * HOUR).await;

    let report = purge(&ctx.storage, &ctx, now + HOUR, false).await;
    assert_eq!(
        (report.uploads_purged, report.uploads_kept),
        (1, 1),
        "{report:?}"
    );
    assert!(exists(&ctx.storage, &leased).await);
    assert!(!exists(&ctx.storage, &expired).await);
}

/// A dry run reports what it would remove and removes nothing.
pub async fn purge_dry_run_removes_nothing(ctx: Ctx) {
    let now = SystemTime::now();
    let dir = upload(&ctx, "r", now - 300 * HOUR, &[b"abc"]).await;
    closed_writer(&ctx, &dir).await;
    let crashed = crashed_writer(&ctx, &dir).await;
    await_pending(&ctx, &dir, &crashed).await;
    let listed_before = ctx.storage.list(&dir).await.unwrap();
    let pending_before = ctx.storage.pending_writes(&repos(&ctx)).await.unwrap();

    let report = purge(&ctx.storage, &ctx, now + HOUR, true).await;
    assert_eq!(report.uploads_purged, 1, "{report:?}");
    assert!(report.bytes_purged >= 3, "{report:?}");
    assert_eq!(ctx.storage.list(&dir).await.unwrap(), listed_before);
    let pending_after = ctx.storage.pending_writes(&repos(&ctx)).await.unwrap();
    assert_eq!(pending_after.len(), pending_before.len());

    let real = purge(&ctx.storage, &ctx, now + HOUR, false).await;
    assert_eq!(real.uploads_purged, 1, "{real:?}");
    assert!(!exists(&ctx.storage, &dir).await);
}

/// An idle upload goes with what its writers left in the backend: a closed writer's progress
/// and a crashed writer's state; so do crashed writers of uploads removed otherwise.
pub async fn purge_removes_backend_leftovers(ctx: Ctx) {
    let now = SystemTime::now();
    let idle = upload(&ctx, "r", now - 300 * HOUR, &[b"abc"]).await;
    closed_writer(&ctx, &idle).await;
    let crashed = crashed_writer(&ctx, &idle).await;
    await_pending(&ctx, &idle, &crashed).await;
    // An upload cancelled by its client while a writer's process was dying.
    let cancelled = upload(&ctx, "s", now - 300 * HOUR, &[]).await;
    let orphan = crashed_writer(&ctx, &cancelled).await;
    await_pending(&ctx, &cancelled, &orphan).await;
    ctx.storage.delete(&cancelled).await.unwrap();

    let report = purge(&ctx.storage, &ctx, now + HOUR, false).await;
    assert_eq!(report.uploads_purged, 1, "{report:?}");
    assert!(!exists(&ctx.storage, &idle).await);
    let left = ctx.storage.pending_writes(&repos(&ctx)).await.unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
    if ctx.reports_pending_writes() {
        assert!(report.pending_writes_removed >= 2, "{report:?}");
    }
    // Writing to the purged upload's paths starts afresh: nothing of the old progress is
    // resumed.
    let resumed = ctx.storage.writer(&crashed, true).await;
    assert!(matches!(resumed, Err(e) if e.is_not_found()));
}

/// Two purgers over the same storage at once: every idle upload goes exactly as with one, and
/// neither reports an error.
pub async fn purge_twice_at_once(ctx: Ctx) {
    let now = SystemTime::now();
    let mut dirs = Vec::new();
    for i in 0..6 {
        dirs.push(upload(&ctx, &format!("r{}", i % 2), now - 300 * HOUR, &[b"abc"]).await);
    }
    let young = upload(&ctx, "r0", SystemTime::now() + 2 * HOUR, &[]).await;
    let other = ctx.fresh_instance();
    let cutoff = SystemTime::now() + HOUR;
    let (a, b) = tokio::join!(
        purge(&ctx.storage, &ctx, cutoff, false),
        purge(&other, &ctx, cutoff, false)
    );
    for dir in &dirs {
        assert!(!exists(&ctx.storage, dir).await, "{dir} left");
    }
    assert!(exists(&ctx.storage, &young).await);
    let purged = a.uploads_purged + b.uploads_purged;
    assert!((6..=12).contains(&purged), "{a:?} {b:?}");
}

/// Expands to one `#[tokio::test]` per upload-purging case, with the storage contract suite's
/// harness (`$open` as for [`storage_contract_tests!`](crate::storage_contract_tests)).
#[macro_export]
macro_rules! upload_purge_tests {
    ($open:path) => {
        $crate::upload_purge_tests!(@cases $open;
            purge_removes_idle_uploads_only, purge_judges_by_the_newest_chunk,
            purge_keeps_leased_uploads, purge_dry_run_removes_nothing,
            purge_removes_backend_leftovers, purge_twice_at_once
        );
    };
    (@cases $open:path; $($case:ident),+ $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(harness) = $open().await {
                    $crate::storage::contract::run(
                        harness,
                        $crate::lifecycle::purge::contract::$case,
                    )
                    .await;
                }
            }
        )+
    };
}
