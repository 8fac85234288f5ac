//! What requests cost in storage operations, counted by a recording driver over the in-memory
//! one (`common::counting`): requests a client controls must cost what they return, not what
//! the registry holds or how often the client repeats itself.

mod common;

use bytes::Bytes;
use common::counting::{Counting, Op};
use common::*;
use registry_core::domain::{Digest, Reference, RepositoryName, Tag};
use registry_core::layout;
use registry_core::registry::{Registry, RegistryError, RegistrySettings};
use registry_core::storage::Storage;

fn name(s: &str) -> RepositoryName {
    s.parse().expect("repository name")
}

async fn put(storage: &Storage, path: &str, content: &[u8]) {
    storage
        .put_content(path, Bytes::copy_from_slice(content))
        .await
        .expect("put_content");
}

/// Lays out a repository the way pushes leave it: `layers` blob links, a tagged manifest
/// revision, and `uploads` unfinished uploads.
async fn repository(storage: &Storage, repo: &str, layers: u64, uploads: u64) {
    let repo = name(repo);
    for i in 0..layers {
        let digest = Digest::sha256_of(format!("{repo} layer {i}").as_bytes());
        put(
            storage,
            &layout::layer_link(&repo, &digest),
            digest.as_str().as_bytes(),
        )
        .await;
    }
    let manifest = Digest::sha256_of(repo.as_str().as_bytes());
    put(
        storage,
        &layout::revision_link(&repo, &manifest),
        manifest.as_str().as_bytes(),
    )
    .await;
    let tag: Tag = "latest".parse().unwrap();
    put(
        storage,
        &layout::tag_current_link(&repo, &tag),
        manifest.as_str().as_bytes(),
    )
    .await;
    for i in 0..uploads {
        let id = format!("upload-{i}");
        put(
            storage,
            &layout::upload_entry(&repo, &id, "data-0123456789abcdef"),
            b"partial",
        )
        .await;
        put(
            storage,
            &layout::upload_started_at(&repo, &id),
            b"2026-01-01T00:00:00Z",
        )
        .await;
    }
}

fn registry(storage: Storage) -> Registry {
    Registry::new(storage, RegistrySettings::default())
}

/// The first repositories in catalog order, in both registries of [`small_and_large`].
const FRONT: [&str; 6] = ["aa/one", "aa/one/sub", "bb", "cc", "dd/r000", "dd/r001"];

/// A registry with a few small repositories, and one with many large ones, under the same
/// names at the front (so that pages near the start hold the same names in both).
async fn small_and_large() -> ((Registry, Counting), (Registry, Counting)) {
    let (small, small_log) = Counting::storage();
    for repo in FRONT {
        repository(&small, repo, 1, 0).await;
    }
    let (large, large_log) = Counting::storage();
    for repo in FRONT {
        repository(&large, repo, 60, 30).await;
    }
    for i in 0..300 {
        if i >= 2 {
            repository(&large, &format!("dd/r{i:03}"), 5, 3).await;
        }
        repository(&large, &format!("r{i:03}"), 5, 3).await;
    }
    small_log.take();
    large_log.take();
    ((registry(small), small_log), (registry(large), large_log))
}

fn assert_no_repository_content(ops: &[Op], what: &str) {
    for (op, path) in ops {
        let below_repositories = path
            .strip_prefix(&layout::repositories_root())
            .unwrap_or_default();
        assert!(
            !below_repositories.split('/').any(|c| c.starts_with('_')),
            "{what}: {op} {path} reads inside a repository"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_pages_cost_the_same_whatever_the_registry_holds() {
    let ((small, small_log), (large, large_log)) = small_and_large().await;
    for (n, last) in [
        (1, None),
        (1, Some("aa/one")),
        (2, Some("aa/one")),
        (1, Some("aa/one/sub")),
        (1, Some("bb")),
        (1, Some("cc")),
    ] {
        let what = format!("n={n} last={last:?}");
        let small_page = small.catalog(Some(n), last).await.expect("catalog");
        let large_page = large.catalog(Some(n), last).await.expect("catalog");
        assert_eq!(small_page.items, large_page.items, "{what}");
        assert_eq!(small_page.items.len(), n, "{what}");
        assert!(large_page.next_last.is_some(), "{what}: more follow");
        let (small_ops, large_ops) = (small_log.take(), large_log.take());
        assert_no_repository_content(&large_ops, &what);
        assert!(
            large_ops.iter().all(|(op, _)| *op == "list"),
            "{what}: {large_ops:?}"
        );
        // The same listings, whatever else the registry holds: the root, the directories on
        // the way to `last`, and those of the page's repositories and of the one after.
        assert_eq!(small_ops, large_ops, "{what}");
        let enclosing = last.map_or(0, |l| l.split('/').count());
        assert!(
            large_ops.len() <= 1 + enclosing + 2 * (n + 1),
            "{what}: {large_ops:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_pages_of_a_large_registry_chain_to_every_repository() {
    let (_, (large, log)) = small_and_large().await;
    let all = large.catalog(Some(1000), None).await.expect("catalog");
    assert_eq!(all.items.len(), 604); // FRONT, 298 more below dd/, 300 at the top
    assert_eq!(all.next_last, None);
    log.take();
    let mut seen = Vec::new();
    let mut last: Option<String> = None;
    loop {
        let page = large.catalog(Some(7), last.as_deref()).await.expect("page");
        assert_no_repository_content(&log.take(), "page");
        seen.extend(page.items);
        match page.next_last {
            Some(next) => last = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, all.items);
}

/// A manifest naming one layer 5,000 times (and its config twice) costs one link read and
/// one stat of each distinct blob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_layer_is_looked_up_once() {
    let (storage, log) = Counting::storage();
    let registry = registry(storage.clone());
    let repo = name("repeats");
    let config = config_blob(1);
    let layer = bytes(2, 300);
    let mut digests = Vec::new();
    for content in [&config, &layer] {
        let digest = Digest::sha256_of(content);
        put(&storage, &layout::blob_data(&digest), content).await;
        put(
            &storage,
            &layout::layer_link(&repo, &digest),
            digest.as_str().as_bytes(),
        )
        .await;
        digests.push((digest, content.len() as u64));
    }
    let layers = vec![digests[1].clone(); 5000];
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&digests[0].0, digests[0].1),
        &layers,
        None,
    );
    log.take();
    let reference = Reference::Tag("v1".parse().unwrap());
    registry
        .put_manifest(
            &repo,
            &reference,
            Some(&manifest.media_type),
            Bytes::from(manifest.body),
        )
        .await
        .expect("manifest accepted");
    let ops = log.take();
    for (digest, _) in &digests {
        let link = layout::layer_link(&repo, digest);
        let data = layout::blob_data(digest);
        let reads = |path: &str| ops.iter().filter(|(_, p)| p == path).count();
        assert_eq!(reads(&link), 1, "reads of {link}: {ops:?}");
        assert_eq!(reads(&data), 1, "lookups of {data}: {ops:?}");
    }
    assert!(ops.len() < 12, "{ops:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descriptors_of_one_blob_must_agree_on_its_size() {
    let (storage, log) = Counting::storage();
    let registry = registry(storage.clone());
    let repo = name("disagree");
    let config = config_blob(3);
    let layer = bytes(4, 50);
    let config_digest = Digest::sha256_of(&config);
    let layer_digest = Digest::sha256_of(&layer);
    for (digest, content) in [(&config_digest, &config), (&layer_digest, &layer)] {
        put(&storage, &layout::blob_data(digest), content).await;
        put(
            &storage,
            &layout::layer_link(&repo, digest),
            digest.as_str().as_bytes(),
        )
        .await;
    }
    let layers = [(layer_digest.clone(), 50), (layer_digest, 51)];
    let manifest = image_manifest(
        ImageFormat::Oci,
        (&config_digest, config.len() as u64),
        &layers,
        None,
    );
    log.take();
    let reference = Reference::Tag("v1".parse().unwrap());
    let result = registry
        .put_manifest(
            &repo,
            &reference,
            Some(&manifest.media_type),
            Bytes::from(manifest.body),
        )
        .await;
    assert!(
        matches!(result, Err(RegistryError::ManifestInvalid(_))),
        "{result:?}"
    );
    // Refused before any storage lookup.
    assert_eq!(log.take(), Vec::<Op>::new());
}

/// The default walk (what drivers without their own get) skips what lies before
/// `start_after` without a `stat` per skipped entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_does_not_stat_what_it_skips() {
    let (storage, log) = Counting::storage();
    for i in 0..200 {
        put(&storage, &format!("/w/f{i:03}"), b"x").await;
    }
    log.take();
    let mut visited = Vec::new();
    storage
        .walk("/w", Some("/w/f190"), &mut |info| {
            visited.push(info.path.as_str().to_owned());
            Ok(registry_core::storage::WalkControl::Continue)
        })
        .await
        .expect("walk");
    let expected: Vec<String> = (191..200).map(|i| format!("/w/f{i:03}")).collect();
    assert_eq!(visited, expected);
    let ops = log.take();
    let stats = ops.iter().filter(|(op, _)| *op == "stat").count();
    // Those visited, and `start_after` itself (what lies below it would come after it).
    assert_eq!(stats, expected.len() + 1, "{ops:?}");
}

/// Upload requests that move no bytes cost a few storage operations whatever the upload
/// holds, and never read its data: the status, a PATCH whose range is wrong, a cancel. The
/// hash state is saved with each chunk, so appending or completing never re-reads the data.
#[tokio::test]
async fn upload_requests_cost_what_they_do_not_what_the_upload_holds() {
    let (storage, counting) = Counting::storage();
    let registry = registry(storage);
    let repo = name("cost/upload");
    let body = |data: Vec<u8>| {
        futures::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(data))])
    };
    let mut content = Vec::new();
    let status = registry.start_upload(&repo).await.unwrap();
    let id = status.id.clone();
    for (i, size) in [1_000usize, 300_000, 3_000_000].into_iter().enumerate() {
        let chunk = bytes(i as u64, size);
        content.extend_from_slice(&chunk);
        counting.take();
        registry
            .append_upload(&repo, &id, Some((content.len() - size) as u64), body(chunk))
            .await
            .unwrap();
        let appended = counting.take();
        assert!(
            !appended.iter().any(|(op, _)| *op == "reader"),
            "appending read data back: {appended:?}"
        );

        let status = registry.upload_status(&repo, &id).await.unwrap();
        assert_eq!(status.size, content.len() as u64);
        let ops = counting.take();
        assert_eq!(ops.len(), 1, "status after {} chunks: {ops:?}", i + 1);

        let refused = registry
            .append_upload(&repo, &id, Some(1), body(b"late".to_vec()))
            .await;
        assert!(matches!(
            refused,
            Err(RegistryError::ChunkOutOfOrder { expected }) if expected == content.len() as u64
        ));
        let ops = counting.take();
        assert!(
            ops.len() <= 4 && !ops.iter().any(|(op, _)| *op == "reader" || *op == "writer"),
            "a refused chunk after {} chunks cost {ops:?}",
            i + 1
        );
    }

    // Completing reads the chunks once, to copy them into the blob; it never hashes them again.
    let digest = Digest::sha256_of(&content);
    registry
        .complete_upload(&repo, &id, &digest, None, body(Vec::new()))
        .await
        .unwrap();
    let readers = counting
        .take()
        .into_iter()
        .filter(|(op, _)| *op == "reader")
        .count();
    assert_eq!(readers, 3, "one read per chunk");

    let other = registry.start_upload(&repo).await.unwrap();
    registry
        .append_upload(&repo, &other.id, None, body(bytes(9, 2_000_000)))
        .await
        .unwrap();
    counting.take();
    registry.cancel_upload(&repo, &other.id).await.unwrap();
    let ops = counting.take();
    assert_eq!(ops.len(), 2, "cancel: {ops:?}");
}
