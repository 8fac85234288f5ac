//! The bucket layout: `rootdirectory` confines every key, and the private tree of closed
//! writers stays out of listings, stats and walks, and goes with `delete`.

mod common;

use bytes::Bytes;
use registry_core::storage::{StorageError, WalkControl};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_directory_and_private_tree() {
    let root = common::unique_prefix("rooted");
    let Some(opener) =
        common::Opener::new(json!({"rootdirectory": format!("{root}/registry")})).await
    else {
        return;
    };
    let (storage, raw) = (opener.storage(), opener.raw());
    let bucket_root = format!("{}/", root.trim_start_matches('/'));

    storage
        .put_content("/x/file", &b"content"[..])
        .await
        .expect("put");
    let mut writer = storage.writer("/x/pending", false).await.expect("writer");
    writer
        .write(Bytes::from_static(b"not committed"))
        .await
        .expect("write");
    writer.close().await.expect("close");
    let mut writer = storage
        .writer("/y/only-pending", false)
        .await
        .expect("writer");
    writer
        .write(Bytes::from_static(b"not committed"))
        .await
        .expect("write");
    writer.close().await.expect("close");

    let mut keys = raw.keys(&bucket_root).await;
    keys.sort();
    assert_eq!(keys.len(), 5, "{keys:?}");
    assert_eq!(keys[0], format!("{bucket_root}registry/x/file"));
    for key in &keys[1..] {
        assert!(
            key.starts_with(&format!("{bucket_root}registry/~writers/")),
            "{key}"
        );
    }

    // Only committed content is visible: `/y` holds nothing but a closed writer.
    let listed: Vec<String> = storage
        .list("/")
        .await
        .expect("list /")
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(listed, vec!["/x".to_owned()]);
    let listed = storage.list("/x").await.expect("list /x");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].as_str(), "/x/file");
    for hidden in ["/x/pending", "/y", "/y/only-pending"] {
        assert!(
            matches!(
                storage.stat(hidden).await,
                Err(StorageError::PathNotFound { .. })
            ),
            "{hidden} is visible"
        );
    }
    let mut walked = Vec::new();
    storage
        .walk("/", None, &mut |info| {
            walked.push(info.path.to_string());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    assert_eq!(walked, vec!["/x".to_owned(), "/x/file".to_owned()]);

    // Closed writers still resume through the private tree.
    let writer = storage
        .writer("/y/only-pending", true)
        .await
        .expect("resume");
    assert_eq!(writer.size(), 13);
    writer.close().await.expect("close");

    // Deleting a directory takes its writers' progress along; a path with only a closed writer
    // is not found, but its progress goes all the same.
    storage.delete("/x").await.expect("delete /x");
    assert!(matches!(
        storage.delete("/y").await,
        Err(StorageError::PathNotFound { .. })
    ));
    let keys = raw.keys(&bucket_root).await;
    assert!(keys.is_empty(), "left behind: {keys:?}");
    assert!(matches!(
        storage.writer("/y/only-pending", true).await.map(|_| ()),
        Err(StorageError::PathNotFound { .. })
    ));
}
