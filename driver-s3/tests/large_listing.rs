//! Listings past ListObjectsV2's 1000-key pages: list, walk and delete of a directory with more
//! than 1000 entries, files and subdirectories interleaved across page boundaries.

mod common;

use std::cmp::Ordering;

use futures::{StreamExt, TryStreamExt};
use registry_core::storage::walk::walk_order;
use registry_core::storage::{StorageError, StoragePath, WalkControl};
use serde_json::json;

const FILES: usize = 1010;
const SUBDIRS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_1000_entries_are_listed_walked_and_deleted() {
    let Some(opener) = common::Opener::new(json!({})).await else {
        return;
    };
    let storage = opener.storage();
    let prefix = common::unique_prefix("many");
    let dir = format!("{prefix}/dir");

    // Files `f-0000..` and subdirectories `d-0000/leaf`: names chosen so that files and
    // common prefixes share listing pages.
    let mut paths: Vec<String> = (0..FILES).map(|i| format!("{dir}/f-{i:04}")).collect();
    paths.extend((0..SUBDIRS).map(|i| format!("{dir}/d-{:04}/leaf", i * 37)));
    futures::stream::iter(paths.iter().cloned())
        .map(|path| {
            let storage = storage.clone();
            async move { storage.put_content(&path, path.clone().into_bytes()).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("put");

    // list: every direct child once, subdirectories as directories.
    let mut listed: Vec<String> = storage
        .list(&dir)
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.to_string())
        .collect();
    listed.sort();
    let mut expected: Vec<String> = (0..FILES).map(|i| format!("{dir}/f-{i:04}")).collect();
    expected.extend((0..SUBDIRS).map(|i| format!("{dir}/d-{:04}", i * 37)));
    expected.sort();
    assert_eq!(listed.len(), FILES + SUBDIRS);
    assert_eq!(listed, expected);

    // walk: everything, in walk order, files with their sizes.
    let mut walked = Vec::new();
    storage
        .walk(&prefix, None, &mut |info| {
            if !info.is_dir {
                assert_eq!(info.size, info.path.as_str().len() as u64, "{}", info.path);
            }
            walked.push(info.path.clone());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk");
    // `dir`, its files and subdirectories, and each subdirectory's leaf.
    assert_eq!(walked.len(), 1 + FILES + 2 * SUBDIRS);
    assert!(
        walked
            .windows(2)
            .all(|w| walk_order(&w[0], &w[1]) == Ordering::Less),
        "walk out of order"
    );
    assert_eq!(walked[0], StoragePath::parse(&dir).unwrap());

    // walk with start_after, past the first listing page.
    let start = format!("{dir}/f-1005");
    let mut after = Vec::new();
    storage
        .walk(&prefix, Some(&start), &mut |info| {
            after.push(info.path.to_string());
            Ok(WalkControl::Continue)
        })
        .await
        .expect("walk after");
    let expected_after: Vec<String> = (1006..FILES).map(|i| format!("{dir}/f-{i:04}")).collect();
    assert_eq!(after, expected_after);

    // delete: more than one DeleteObjects batch.
    storage.delete(&prefix).await.expect("delete");
    assert!(matches!(
        storage.stat(&prefix).await,
        Err(StorageError::PathNotFound { .. })
    ));
    assert!(matches!(
        storage.list(&dir).await,
        Err(StorageError::PathNotFound { .. })
    ));
}
