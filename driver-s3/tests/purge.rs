//! Upload purging on S3: the multipart upload of an idle upload's closed writer is aborted
//! (the server no longer takes parts for it), and its record goes; what the contract's purge
//! cases cannot see from the storage API.

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use registry_core::lifecycle::purge::{PurgeOptions, purge_uploads};
use serde_json::json;

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purging_aborts_the_multipart_uploads_of_idle_uploads() {
    let Some(opener) = common::Opener::new(json!({ "chunksize": 5 * MIB })).await else {
        return;
    };
    let (storage, raw) = (opener.storage(), opener.raw());
    // Short names: s3s-fs refuses long keys (see the emulator notes).
    let prefix = format!("/p{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let repos = format!("{prefix}/r");
    let started = "2020-01-02T03:04:05Z"; // long ago
    let mut uploads = Vec::new();
    for repo in ["idle", "young"] {
        let dir = format!("{repos}/{repo}/_uploads/{}", uuid::Uuid::new_v4());
        storage
            .put_content(&format!("{dir}/startedat"), started.to_string())
            .await
            .expect("startedat");
        // A chunk writer closed before commit: a multipart upload with one whole part (no
        // tail), recorded.
        let path = format!("{dir}/data-0123456789abcdef");
        let mut writer = storage.writer(&path, false).await.expect("writer");
        writer
            .write(Bytes::from(common::random_bytes(5 * MIB)))
            .await
            .expect("write");
        writer.close().await.expect("close");
        let record = raw.record(&path).await.expect("a record");
        let upload_id = record["upload_id"].as_str().expect("an upload").to_owned();
        assert!(raw.upload_alive(&raw.key(&path), &upload_id).await);
        uploads.push((dir, path, upload_id));
    }
    // The young upload got a chunk record just now: it is active, and keeps its upload.
    let young = &uploads[1];
    storage
        .put_content(
            &format!("{}/chunk-0-1-0123456789abcdef-root", young.0),
            &b"h"[..],
        )
        .await
        .expect("record");

    let options = PurgeOptions {
        older_than: SystemTime::now() - Duration::from_secs(3600),
        dry_run: false,
    };
    let report = purge_uploads(&storage, &repos, options).await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(
        (report.uploads_purged, report.uploads_kept),
        (1, 1),
        "{report:?}"
    );

    let (idle_dir, idle_path, idle_upload) = &uploads[0];
    assert!(
        storage
            .stat(idle_dir)
            .await
            .is_err_and(|e| e.is_not_found())
    );
    assert!(
        !raw.upload_alive(&raw.key(idle_path), idle_upload).await,
        "the idle upload's multipart upload was not aborted"
    );
    assert!(raw.record(idle_path).await.is_none(), "its record is left");
    let (_, young_path, young_upload) = young;
    assert!(raw.upload_alive(&raw.key(young_path), young_upload).await);
    let resumed = storage.writer(young_path, true).await.expect("resume");
    assert_eq!(resumed.size(), 5 * MIB as u64);
    resumed.cancel().await.expect("cancel");

    storage.delete(&prefix).await.expect("cleanup");
}
