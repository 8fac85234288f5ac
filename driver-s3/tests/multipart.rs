//! Multipart behaviour the contract suite cannot see: part copies above the copy threshold,
//! resuming after a persisted tail smaller than S3's minimum part, and the cleanup of uploads
//! by cancel and delete.

mod common;

use bytes::Bytes;
use common::{random_bytes, read_all};
use registry_core::storage::{Storage, StorageError};
use serde_json::json;

const MIB: usize = 1024 * 1024;

/// Small thresholds so that a few MiB exercise every multipart path.
fn small_parts() -> serde_json::Value {
    json!({
        "chunksize": 5 * MIB,
        "multipartcopythresholdsize": 6 * MIB,
        "multipartcopychunksize": 5 * MIB,
        "multipartcopymaxconcurrency": 3,
    })
}

async fn write_all(storage: &Storage, path: &str, content: &[u8], piece: usize) {
    let mut writer = storage.writer(path, false).await.expect("writer");
    for chunk in content.chunks(piece) {
        writer
            .write(Bytes::copy_from_slice(chunk))
            .await
            .expect("write");
    }
    writer.commit().await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_above_the_threshold_copies_parts() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let (storage, raw) = (opener.storage(), opener.raw());
    let prefix = common::unique_prefix("move");

    // 12 MiB + 3 bytes in 5 MiB copy parts: 5 + 5 + 2 MiB + 3.
    let large = random_bytes(12 * MIB + 3);
    let (source, dest) = (format!("{prefix}/large"), format!("{prefix}/moved/large"));
    write_all(&storage, &source, &large, MIB).await;
    storage.move_to(&source, &dest).await.expect("move");
    assert_eq!(read_all(&storage, &dest, 0).await.expect("read"), large);
    assert!(matches!(
        storage.stat(&source).await,
        Err(StorageError::PathNotFound { .. })
    ));
    let etag = raw.etag(&raw.key(&dest)).await;
    assert!(etag.ends_with("-3"), "not a 3-part copy: ETag {etag}");

    // At the threshold: one CopyObject, so a plain ETag.
    let small = random_bytes(6 * MIB);
    let (source, dest) = (format!("{prefix}/small"), format!("{prefix}/moved/small"));
    storage
        .put_content(&source, small.clone())
        .await
        .expect("put");
    storage.move_to(&source, &dest).await.expect("move");
    assert_eq!(read_all(&storage, &dest, 0).await.expect("read"), small);
    let etag = raw.etag(&raw.key(&dest)).await;
    assert!(!etag.contains('-'), "expected a single copy: ETag {etag}");

    // Onto itself: nothing changes (and nothing is lost), below and above the threshold.
    let moved_large = format!("{prefix}/moved/large");
    for path in [&dest, &moved_large] {
        storage.move_to(path, path).await.expect("move onto itself");
    }
    assert_eq!(read_all(&storage, &dest, 0).await.expect("read"), small);
    assert_eq!(
        read_all(&storage, &moved_large, 0).await.expect("read"),
        large
    );

    storage.delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_tail_smaller_than_a_part() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let raw = opener.raw();
    let prefix = common::unique_prefix("resume");
    let path = format!("{prefix}/upload/data");
    let first = random_bytes(7 * MIB); // One 5 MiB part and a 2 MiB tail.
    let second = random_bytes(4 * MIB); // Tail + this: a part, and 1 MiB left.
    let third = random_bytes(100);

    let mut writer = opener.storage().writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(first.clone()))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let record = raw.record(&path).await.expect("a record after close");
    assert_eq!(record["parts"].as_array().map(Vec::len), Some(1));
    assert_eq!(record["tail"]["size"], json!(2 * MIB));

    // Another process resumes, with the tail read back.
    let mut writer = opener.storage().writer(&path, true).await.expect("resume");
    assert_eq!(writer.size(), first.len() as u64);
    writer
        .write(Bytes::from(second.clone()))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let record = raw
        .record(&path)
        .await
        .expect("a record after the second close");
    assert_eq!(record["parts"].as_array().map(Vec::len), Some(2));
    assert_eq!(record["tail"]["size"], json!(MIB));

    // A third process finishes it.
    let mut writer = opener.storage().writer(&path, true).await.expect("resume");
    assert_eq!(writer.size(), (first.len() + second.len()) as u64);
    writer
        .write(Bytes::from(third.clone()))
        .await
        .expect("write");
    writer.commit().await.expect("commit");

    let read = read_all(&opener.storage(), &path, 0).await.expect("read");
    assert!(read == [first, second, third].concat(), "content differs");
    let etag = raw.etag(&raw.key(&path)).await;
    assert!(
        etag.ends_with("-3"),
        "expected parts 5 + 5 + 1 MiB: ETag {etag}"
    );
    // Nothing of the writer is left behind.
    let pending = raw.keys(&raw.key(&format!("~writers{prefix}/"))).await;
    assert!(pending.is_empty(), "left behind: {pending:?}");

    opener.storage().delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_extends_committed_content_larger_than_a_part() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let storage = opener.storage();
    let prefix = common::unique_prefix("extend");
    let path = format!("{prefix}/data");
    let committed = random_bytes(11 * MIB + 1); // Copied back as parts of 5 and 6 MiB + 1.
    write_all(&storage, &path, &committed, 4 * MIB).await;

    let mut writer = storage.writer(&path, true).await.expect("append");
    assert_eq!(writer.size(), committed.len() as u64);
    let more = random_bytes(MIB);
    writer
        .write(Bytes::from(more.clone()))
        .await
        .expect("write");
    // Until the commit, the committed content stays as it was.
    assert_eq!(
        storage.stat(&path).await.expect("stat").size,
        committed.len() as u64
    );
    writer.commit().await.expect("commit");
    let read = read_all(&storage, &path, 0).await.expect("read");
    assert!(read == [committed, more].concat(), "content differs");

    storage.delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_and_delete_abort_recorded_uploads() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let raw = opener.raw();
    let prefix = common::unique_prefix("abort");

    // Cancel of a resumed writer aborts the recorded upload.
    let path = format!("{prefix}/cancelled");
    let mut writer = opener.storage().writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(random_bytes(6 * MIB)))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let record = raw.record(&path).await.expect("record");
    let upload_id = record["upload_id"].as_str().expect("an upload").to_owned();
    // The probe itself works: a live upload takes a part.
    assert!(
        raw.upload_alive(&raw.key(&path), &upload_id).await,
        "probe on a live upload"
    );
    let writer = opener.storage().writer(&path, true).await.expect("resume");
    writer.cancel().await.expect("cancel");
    assert!(
        !raw.upload_alive(&raw.key(&path), &upload_id).await,
        "upload survived cancel"
    );
    assert!(raw.record(&path).await.is_none(), "record survived cancel");

    // Delete of a prefix aborts the uploads of writers closed below it, and removes their
    // records and tails.
    let path = format!("{prefix}/dir/closed");
    opener
        .storage()
        .put_content(&format!("{prefix}/dir/other"), &b"x"[..])
        .await
        .expect("put");
    let mut writer = opener.storage().writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(random_bytes(6 * MIB)))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let record = raw.record(&path).await.expect("record");
    let upload_id = record["upload_id"].as_str().expect("an upload").to_owned();
    assert!(record["tail"].is_object(), "expected a tail");
    opener.storage().delete(&prefix).await.expect("delete");
    assert!(
        !raw.upload_alive(&raw.key(&path), &upload_id).await,
        "upload survived delete"
    );
    let pending = raw.keys(&raw.key(&format!("~writers{prefix}/"))).await;
    assert!(pending.is_empty(), "left behind: {pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_close_wins() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let raw = opener.raw();
    let prefix = common::unique_prefix("last-close");
    let path = format!("{prefix}/data");

    let mut first = opener.storage().writer(&path, false).await.expect("writer");
    first
        .write(Bytes::from(random_bytes(6 * MIB)))
        .await
        .expect("write");
    first.close().await.expect("close");
    let first_upload = raw.record(&path).await.expect("record")["upload_id"]
        .as_str()
        .expect("upload")
        .to_owned();

    // A second writer (not resuming) closes at the same path: its progress replaces the first,
    // whose upload is abandoned.
    let content = random_bytes(6 * MIB);
    let mut second = opener.storage().writer(&path, false).await.expect("writer");
    second
        .write(Bytes::from(content.clone()))
        .await
        .expect("write");
    second.close().await.expect("close");
    assert!(!raw.upload_alive(&raw.key(&path), &first_upload).await);

    let writer = opener.storage().writer(&path, true).await.expect("resume");
    assert_eq!(writer.size(), content.len() as u64);
    writer.commit().await.expect("commit");
    assert!(read_all(&opener.storage(), &path, 0).await.expect("read") == content);

    opener.storage().delete(&prefix).await.expect("cleanup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_opened_for_its_size_changes_nothing() {
    let Some(opener) = common::Opener::new(small_parts()).await else {
        return;
    };
    let raw = opener.raw();
    let prefix = common::unique_prefix("status");
    let path = format!("{prefix}/data");
    let content = random_bytes(6 * MIB + 10); // A part and a tail.
    let mut writer = opener.storage().writer(&path, false).await.expect("writer");
    writer
        .write(Bytes::from(content.clone()))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let record = raw.record(&path).await.expect("record");
    let tail_key = record["tail"]["key"].as_str().expect("a tail").to_owned();

    // As an upload-status request does: open, read the size, drop. The tail is not needed
    // for that, so it is not read: with it gone, the size is still right.
    let stash = raw
        .client
        .get_object()
        .bucket(&raw.bucket)
        .key(&tail_key)
        .send()
        .await
        .expect("tail")
        .body
        .collect()
        .await
        .expect("tail body")
        .into_bytes();
    raw.client
        .delete_object()
        .bucket(&raw.bucket)
        .key(&tail_key)
        .send()
        .await
        .expect("hide the tail");
    for _ in 0..2 {
        let writer = opener.storage().writer(&path, true).await.expect("resume");
        assert_eq!(writer.size(), content.len() as u64);
        drop(writer);
    }
    // A writer that needs the missing tail says so, and leaves the record alone.
    let mut writer = opener.storage().writer(&path, true).await.expect("resume");
    let result = writer.write(Bytes::from_static(b"more")).await;
    assert!(
        matches!(result, Err(StorageError::Backend { .. })),
        "{result:?}"
    );
    drop(writer);
    assert_eq!(raw.record(&path).await.expect("record"), record);

    // Put back, the upload goes on where it was.
    raw.client
        .put_object()
        .bucket(&raw.bucket)
        .key(&tail_key)
        .body(stash.into())
        .send()
        .await
        .expect("restore the tail");
    let writer = opener.storage().writer(&path, true).await.expect("resume");
    writer.commit().await.expect("commit");
    assert!(read_all(&opener.storage(), &path, 0).await.expect("read") == content);

    opener.storage().delete(&prefix).await.expect("cleanup");
}
