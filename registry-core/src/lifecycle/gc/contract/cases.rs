//! The GC contract cases. Each builds a registry below its own prefix, collects, and checks
//! what stayed and what went, then that a second collection removes nothing.

use std::time::Duration;

use super::fixture::{Fixture, name};
use crate::layout;
use crate::lifecycle::gc::{Options, collect};
use crate::lifecycle::retention::{Policies, Policy};
use crate::storage::contract::Ctx;

/// A second collection with the same options finds nothing more.
async fn assert_second_run_removes_nothing(fx: &Fixture, options: &Options) {
    let again = fx.gc(options).await;
    assert_eq!(
        (
            again.manifests_removed,
            again.blobs_removed,
            again.tags_removed
        ),
        (0, 0, 0),
        "a second run removed something: {again:?}"
    );
}

pub async fn gc_removes_unreferenced_blobs_and_keeps_images(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let image = fx
        .image("app", "latest", "a", &[b"layer one", b"layer two"], false)
        .await;
    let stray = fx.blob("app", b"uploaded, never referenced").await;
    let stray_elsewhere = fx.blob("other", b"another stray blob").await;
    let options = fx.options(false);
    let report = fx.gc(&options).await;
    assert_eq!(report.blobs_removed, 2, "{report:?}");
    assert_eq!(report.manifests_removed, 0);
    assert_eq!(
        report.bytes_freed,
        (b"uploaded, never referenced".len() + b"another stray blob".len()) as u64
    );
    assert!(!fx.blob_exists(&stray).await);
    assert!(!fx.blob_exists(&stray_elsewhere).await);
    for blob in &image.blobs {
        assert!(fx.blob_exists(blob).await);
    }
    fx.assert_pulls("app", "latest").await;
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
    // No markers or locks are left behind.
    assert!(
        fx.storage
            .list(&layout::gc_root())
            .await
            .map_or(true, |l| l.is_empty())
            || {
                let leftovers = fx.snapshot().await;
                !leftovers.iter().any(|(p, _)| p.contains("/_gc/"))
            }
    );
}

pub async fn gc_dry_run_changes_nothing(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    fx.image("app", "v1", "a", &[b"shared", b"first"], false)
        .await;
    let old = fx
        .image("app", "v1", "b", &[b"shared", b"second"], false)
        .await;
    let stray = fx.blob("app", b"stray").await;
    let before = fx.snapshot().await;
    let mut options = fx.options(true);
    options.dry_run = true;
    let report = fx.gc(&options).await;
    assert!(report.dry_run);
    assert_eq!(report.manifests_removed, 1, "{report:?}");
    assert!(report.removed_blobs.contains(&stray.to_string()));
    // The overwritten image's manifest, config and unique layer would go with it.
    assert_eq!(report.blobs_removed, 4, "{report:?}");
    assert_eq!(fx.snapshot().await, before, "a dry run changed storage");
    assert!(
        old.blobs
            .iter()
            .all(|b| !report.removed_blobs.contains(&b.to_string()))
    );
}

pub async fn gc_overwritten_tags_and_untagged_manifests(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let first = fx
        .image("app", "latest", "first", &[b"base", b"first only"], false)
        .await;
    let second = fx
        .image("app", "latest", "second", &[b"base", b"second only"], false)
        .await;
    let by_digest = fx
        .image("app", "-", "untagged", &[b"untagged only"], false)
        .await;

    // Without --delete-untagged every revision stays.
    let keep_all = fx.options(false);
    let report = fx.gc(&keep_all).await;
    assert_eq!(
        (report.manifests_removed, report.blobs_removed),
        (0, 0),
        "{report:?}"
    );
    fx.assert_pulls("app", &first.digest.to_string()).await;

    let options = fx.options(true);
    let report = fx.gc(&options).await;
    assert_eq!(report.manifests_removed, 2, "{report:?}");
    assert!(!fx.revision_exists("app", &first.digest).await);
    assert!(!fx.revision_exists("app", &by_digest.digest).await);
    // Their manifests, configs and unique layers are gone; the shared base stays.
    for gone in [
        &first.digest,
        &first.blobs[0],
        &first.blobs[2],
        &by_digest.digest,
        &by_digest.blobs[1],
    ] {
        assert!(!fx.blob_exists(gone).await, "{gone} should be gone");
    }
    assert!(
        fx.blob_exists(&first.blobs[1]).await,
        "the shared layer stays"
    );
    fx.assert_pulls("app", "latest").await;
    fx.assert_pulls("app", &second.digest.to_string()).await;
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
}

pub async fn gc_shared_layers_across_repositories(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let a = fx
        .image(
            "team/a",
            "latest",
            "a",
            &[b"common layer", b"a only"],
            false,
        )
        .await;
    // Mounted into b, then used by b's image.
    assert!(
        fx.registry
            .mount_blob(&name("team/b"), &a.blobs[1], &name("team/a"))
            .await
            .expect("mount")
    );
    let b = fx
        .image("team/b", "latest", "b", &[b"common layer"], false)
        .await;
    assert!(b.blobs.contains(&a.blobs[1]));
    // a's image is deleted by a client.
    fx.registry
        .delete_manifest(&name("team/a"), &a.digest.to_string().parse().unwrap())
        .await
        .expect("delete");
    let options = fx.options(false);
    let report = fx.gc(&options).await;
    assert!(
        fx.blob_exists(&a.blobs[1]).await,
        "b still uses the common layer"
    );
    assert!(!fx.blob_exists(&a.blobs[2]).await, "a's own layer goes");
    assert!(!fx.blob_exists(&a.digest).await, "a's manifest goes");
    assert_eq!(report.blobs_removed, 3, "{report:?}");
    fx.assert_pulls("team/b", "latest").await;
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
}

async fn indexes_keep_their_children(ctx: Ctx, docker: bool) {
    let fx = Fixture::new(&ctx);
    let amd = fx
        .image("multi", "-", "amd64", &[b"amd64 layer"], docker)
        .await;
    let arm = fx
        .image("multi", "-", "arm64", &[b"arm64 layer"], docker)
        .await;
    let index = fx.index("multi", "latest", &[&amd, &arm], docker).await;
    // An untagged index with an untagged child: both go.
    let lone = fx
        .image("multi", "-", "lone", &[b"lone layer"], docker)
        .await;
    let old_index = fx.index("multi", "-", &[&lone], docker).await;
    let options = fx.options(true);
    let report = fx.gc(&options).await;
    for child in [&amd, &arm] {
        assert!(
            fx.revision_exists("multi", &child.digest).await,
            "child of a tagged index"
        );
        for blob in &child.blobs {
            assert!(fx.blob_exists(blob).await);
        }
    }
    fx.assert_pulls("multi", "latest").await;
    assert!(fx.revision_exists("multi", &index.digest).await);
    assert!(!fx.revision_exists("multi", &old_index.digest).await);
    assert!(!fx.revision_exists("multi", &lone.digest).await);
    assert!(!fx.blob_exists(&lone.blobs[1]).await);
    assert_eq!(report.manifests_removed, 2, "{report:?}");
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
}

pub async fn gc_oci_index_children_stay(ctx: Ctx) {
    indexes_keep_their_children(ctx, false).await;
}

pub async fn gc_docker_manifest_list_children_stay(ctx: Ctx) {
    indexes_keep_their_children(ctx, true).await;
}

pub async fn gc_referrers_follow_their_subject(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let image = fx
        .image("signed", "latest", "img", &[b"signed layer"], false)
        .await;
    let signature = fx.referrer("signed", &image, "sig").await;
    let sbom_signature = fx.referrer("signed", &signature, "sig-of-sig").await;
    let dropped = fx
        .image("signed", "-", "dropped", &[b"dropped layer"], false)
        .await;
    let dropped_signature = fx.referrer("signed", &dropped, "dropped sig").await;

    let options = fx.options(true);
    let report = fx.gc(&options).await;
    for kept in [&image, &signature, &sbom_signature] {
        assert!(fx.revision_exists("signed", &kept.digest).await, "{kept:?}");
        fx.assert_pulls("signed", &kept.digest.to_string()).await;
    }
    let page = fx
        .registry
        .referrers(&name("signed"), &image.digest, None, None)
        .await
        .expect("referrers");
    assert_eq!(page.count, 1);
    for gone in [&dropped, &dropped_signature] {
        assert!(!fx.revision_exists("signed", &gone.digest).await);
        assert!(!fx.blob_exists(&gone.digest).await);
    }
    let page = fx
        .registry
        .referrers(&name("signed"), &dropped.digest, None, None)
        .await
        .expect("referrers");
    assert_eq!(page.count, 0, "the removed referrer's index entry is gone");
    assert!(
        fx.storage
            .list(&layout::referrers_of(&name("signed"), &dropped.digest))
            .await
            .map_or(true, |l| l.is_empty())
    );
    assert_eq!(report.manifests_removed, 2, "{report:?}");
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
}

/// A manifest PUT that names a doomed blob during the cycle's wait revives it.
pub async fn gc_push_during_the_cycle_revives_a_doomed_blob(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let base = fx
        .image("app", "old", "old", &[b"reused layer"], false)
        .await;
    fx.registry
        .delete_manifest(&name("app"), &"old".parse().unwrap())
        .await
        .expect("untag");
    let mut options = fx.options(true);
    // A long enough wait to push in.
    options.timing.reliance_window = Duration::from_secs(2);
    let storage = fx.storage.clone();
    let cycle = tokio::spawn(async move { collect(&storage, &options, &()).await });
    // Wait until the layer is doomed, then push an image that reuses it.
    let marker = crate::lifecycle::protocol::Target::Blob(base.blobs[1].clone()).doomed_marker();
    let mut doomed = false;
    for _ in 0..200 {
        if fx.storage.stat(&marker).await.is_ok() {
            doomed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(doomed, "the cycle never doomed the old layer");
    let config_data = br#"{"architecture":"amd64","os":"linux","seed":"new"}"#;
    let config = fx.blob("app", config_data).await;
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": crate::domain::media_types::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config.as_str(), "size": config_data.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": base.blobs[1].as_str(), "size": b"reused layer".len()}],
    }))
    .unwrap();
    fx.put(
        "app",
        "new",
        crate::domain::media_types::OCI_MANIFEST,
        &body,
    )
    .await;
    let report = cycle.await.expect("join").expect("collect");
    assert!(fx.blob_exists(&base.blobs[1]).await, "{report:?}");
    fx.assert_pulls("app", "new").await;
    assert!(!fx.revision_exists("app", &base.digest).await, "{report:?}");
    fx.assert_consistent().await;
}

pub async fn gc_retention_policies(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let old = fx
        .image("svc/api", "old", "old", &[b"old layer"], false)
        .await;
    fx.image("svc/api", "v1", "v1", &[b"v1 layer"], false).await;
    // Later than the others on every backend's clock resolution.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fx.image("svc/api", "latest", "latest", &[b"latest layer"], false)
        .await;
    let elsewhere = fx
        .image("other", "old", "other", &[b"other layer"], false)
        .await;

    let policy = Policy::new("svc/*", Some(1), Some("v[0-9]+"), Some(Duration::ZERO)).unwrap();
    let mut options = fx.options(false);
    options.retention = Some(Policies {
        policies: vec![policy.clone()],
        dry_run: true,
    });
    let before = fx.snapshot().await;
    let report = fx.gc(&options).await;
    assert_eq!(
        report.retention_would_remove,
        vec!["svc/api:old".to_owned()]
    );
    assert_eq!(
        fx.snapshot().await,
        before,
        "a dry-run policy changed storage"
    );

    options.retention = Some(Policies {
        policies: vec![policy],
        dry_run: false,
    });
    let report = fx.gc(&options).await;
    assert_eq!(
        report.removed_tags,
        vec!["svc/api:old".to_owned()],
        "{report:?}"
    );
    assert!(!fx.revision_exists("svc/api", &old.digest).await);
    assert!(!fx.blob_exists(&old.blobs[1]).await);
    fx.assert_pulls("svc/api", "v1").await;
    fx.assert_pulls("svc/api", "latest").await;
    // Repositories no pattern matches are left alone.
    fx.assert_pulls("other", "old").await;
    assert!(fx.blob_exists(&elsewhere.blobs[1]).await);
    fx.assert_consistent().await;
    assert_second_run_removes_nothing(&fx, &options).await;
}

/// Two collectors at once: one runs, the other is told the lease is held.
///
/// The second starts once the first has doomed the stray blob, which it does only while
/// holding the lease: two collectors that store their locks at nearly the same time may both
/// back off (the lease protocol allows that), so a fixed head start would make this case
/// depend on the backend's latency.
pub async fn gc_one_cycle_at_a_time(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let stray = fx.blob("app", b"stray").await;
    let mut options = fx.options(false);
    options.timing.reliance_window = Duration::from_secs(2);
    let first = {
        let (storage, options) = (fx.storage.clone(), options.clone());
        tokio::spawn(async move { collect(&storage, &options, &()).await })
    };
    let doomed = crate::lifecycle::protocol::Target::Blob(stray).doomed_marker();
    let mut holding = false;
    for _ in 0..1000 {
        if fx.storage.stat(&doomed).await.is_ok() {
            holding = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(holding, "the first cycle never doomed the stray blob");
    let second = collect(&fx.storage, &options, &()).await;
    let first = first.await.expect("join").expect("the first cycle runs");
    assert_eq!(first.blobs_removed, 1);
    assert!(
        matches!(second, Err(crate::lifecycle::gc::GcError::Busy)),
        "{second:?}"
    );
}

/// A revival record stored during the cycle (as a request's slow path stores it) keeps a
/// candidate that the second mark does not reach.
pub async fn gc_revival_record_keeps_a_candidate(ctx: Ctx) {
    let fx = Fixture::new(&ctx);
    let kept = fx.blob("app", b"revived by a request").await;
    let gone = fx.blob("app", b"not revived").await;
    let mut options = fx.options(false);
    options.timing.reliance_window = Duration::from_secs(1);
    let storage = fx.storage.clone();
    let cycle = tokio::spawn(async move { collect(&storage, &options, &()).await });
    let target = crate::lifecycle::protocol::Target::Blob(kept.clone());
    let mut doomed = false;
    for _ in 0..200 {
        if let Ok(cycle_id) = fx.storage.get_content(&target.doomed_marker()).await {
            fx.storage
                .put_content(&target.revived_marker(), cycle_id)
                .await
                .expect("revival record");
            doomed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(doomed, "the cycle never doomed the blob");
    let report = cycle.await.expect("join").expect("collect");
    assert!(fx.blob_exists(&kept).await, "{report:?}");
    assert!(!fx.blob_exists(&gone).await, "{report:?}");
    assert_eq!((report.blobs_removed, report.candidates_kept), (1, 1));
    // The markers went with the cycle.
    assert!(fx.storage.stat(&target.revived_marker()).await.is_err());
    assert!(fx.storage.stat(&target.doomed_marker()).await.is_err());
}
