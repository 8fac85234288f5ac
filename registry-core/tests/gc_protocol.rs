//! The request side of the garbage collector's protocol (`lifecycle::protocol`): the fast
//! path, a revival that holds, and content deleted during the wait (a manifest PUT is refused,
//! a mount becomes an upload).

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use registry_core::domain::{Digest, RepositoryName};
use registry_core::layout;
use registry_core::lifecycle::protocol::{Target, Timing, rely_on};
use registry_core::registry::{Registry, RegistryError, RegistrySettings};
use registry_core::storage::Storage;

fn timing() -> Timing {
    Timing {
        reliance_window: Duration::from_millis(400),
        revive_wait: Duration::from_millis(300),
    }
}

fn storage() -> Storage {
    Storage::new(Arc::new(driver_inmemory::InMemoryDriver::new()))
}

/// Pretends a collector holds the lease and doomed `target`.
async fn doom(storage: &Storage, target: &Target) {
    let lock = format!("{}/lock-99999999999999-test", layout::gc_lease_dir());
    storage.put_content(&lock, Bytes::new()).await.unwrap();
    storage
        .put_content(&target.doomed_marker(), Bytes::from_static(b"cycle-1"))
        .await
        .unwrap();
}

#[tokio::test]
async fn fast_path_without_a_collector() {
    let storage = storage();
    let target = Target::Blob(Digest::sha256_of(b"x"));
    let started = Instant::now();
    let reliance = rely_on(&storage, &timing(), vec![target.clone()])
        .await
        .unwrap();
    assert!(reliance.gone.is_empty());
    assert!(started.elapsed() < timing().revive_wait);
    assert!(storage.stat(&target.revived_marker()).await.is_err());
}

#[tokio::test]
async fn doomed_content_is_revived_when_it_survives_the_wait() {
    let storage = storage();
    let digest = Digest::sha256_of(b"x");
    storage
        .put_content(&layout::blob_data(&digest), Bytes::from_static(b"x"))
        .await
        .unwrap();
    let target = Target::Blob(digest);
    doom(&storage, &target).await;
    let started = Instant::now();
    let reliance = rely_on(&storage, &timing(), vec![target.clone()])
        .await
        .unwrap();
    assert!(reliance.gone.is_empty());
    assert!(started.elapsed() >= timing().revive_wait);
    assert_eq!(
        storage.get_content(&target.revived_marker()).await.unwrap(),
        Bytes::from_static(b"cycle-1")
    );
}

#[tokio::test]
async fn content_deleted_during_the_wait_is_gone_and_a_manifest_naming_it_is_refused() {
    let storage = storage();
    let registry = Registry::new(
        storage.clone(),
        RegistrySettings {
            gc_timing: timing(),
            ..RegistrySettings::default()
        },
    );
    let repo: RepositoryName = "app".parse().unwrap();
    let layer = b"layer";
    let config = br#"{"os":"linux"}"#;
    for data in [&layer[..], &config[..]] {
        let digest = Digest::sha256_of(data);
        let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
        registry
            .upload_monolithic(&repo, &digest, body)
            .await
            .unwrap();
    }
    let layer_digest = Digest::sha256_of(layer);
    let target = Target::Blob(layer_digest.clone());
    doom(&storage, &target).await;
    // The collector's delete lands during the request's wait.
    let deleter = {
        let storage = storage.clone();
        let path = layout::blob_data(&layer_digest);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            storage.delete(&path).await.unwrap();
        })
    };
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": registry_core::domain::media_types::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": Digest::sha256_of(config).as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.as_str(), "size": layer.len()}],
    });
    let outcome = registry
        .put_manifest(
            &repo,
            &"latest".parse().unwrap(),
            Some(registry_core::domain::media_types::OCI_MANIFEST),
            Bytes::from(serde_json::to_vec(&manifest).unwrap()),
        )
        .await;
    deleter.await.unwrap();
    match outcome {
        Err(RegistryError::ManifestBlobUnknown(d)) => assert_eq!(d, layer_digest),
        other => panic!("expected MANIFEST_BLOB_UNKNOWN, got {other:?}"),
    }
    // Nothing was linked: the tag does not exist.
    assert!(
        storage
            .stat(&layout::tag_current_link(&repo, &"latest".parse().unwrap()))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_mount_of_a_deleted_blob_becomes_an_upload() {
    let storage = storage();
    let registry = Registry::new(
        storage.clone(),
        RegistrySettings {
            gc_timing: timing(),
            ..RegistrySettings::default()
        },
    );
    let (from, to): (RepositoryName, RepositoryName) = ("a".parse().unwrap(), "b".parse().unwrap());
    let digest = Digest::sha256_of(b"blob");
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"blob"))]);
    registry
        .upload_monolithic(&from, &digest, body)
        .await
        .unwrap();
    let target = Target::Blob(digest.clone());
    doom(&storage, &target).await;
    let path = layout::blob_data(&digest);
    let deleter = {
        let storage = storage.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            storage.delete(&path).await.unwrap();
        })
    };
    assert!(!registry.mount_blob(&to, &digest, &from).await.unwrap());
    deleter.await.unwrap();
    assert!(
        storage
            .stat(&layout::layer_link(&to, &digest))
            .await
            .is_err()
    );
}

/// A pull-through cache storing a blob whose older, unreferenced copy a collector doomed and
/// deletes meanwhile: the cache's copy is written after that delete, so the blob it links
/// stays readable.
#[tokio::test]
async fn a_fetched_blob_outlives_the_delete_of_its_doomed_older_copy() {
    let storage = storage();
    let registry = Registry::new(
        storage.clone(),
        RegistrySettings {
            gc_timing: timing(),
            ..RegistrySettings::default()
        },
    );
    let repo: RepositoryName = "mirror/app".parse().unwrap();
    let data = Bytes::from_static(b"fetched layer");
    let digest = Digest::sha256_of(&data);
    let path = layout::blob_data(&digest);
    storage.put_content(&path, data.clone()).await.unwrap();
    let target = Target::Blob(digest.clone());
    doom(&storage, &target).await;
    let deleter = {
        let storage = storage.clone();
        let path = path.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            storage.delete(&path).await.unwrap();
        })
    };
    let mut incoming = registry.receive_blob(&digest).await.unwrap();
    incoming.write(data.clone()).await.unwrap();
    let started = Instant::now();
    incoming
        .finish(&repo, Some(data.len() as u64))
        .await
        .unwrap();
    deleter.await.unwrap();
    assert!(
        started.elapsed() >= timing().revive_wait,
        "the doomed blob was written without waiting for the collector"
    );
    assert_eq!(storage.get_content(&path).await.unwrap(), data);
    assert!(registry.holds_blob(&repo, &digest).await.unwrap());
}
