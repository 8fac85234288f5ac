//! What the web view's pages cost in storage operations, counted by a recording driver over
//! the in-memory one: bounded by the page's size, never by what else the registry holds.

mod common;

use bytes::Bytes;
use common::counting::{Counting, Op};
use registry_core::domain::{Digest, Reference, RepositoryName, Tag};
use registry_core::layout;
use registry_core::registry::{Registry, RegistrySettings};
use registry_core::storage::Storage;
use registry_server::ui::model;
use serde_json::json;

fn name(s: &str) -> RepositoryName {
    s.parse().expect("repository name")
}

async fn put(storage: &Storage, path: &str, content: &[u8]) {
    storage
        .put_content(path, Bytes::copy_from_slice(content))
        .await
        .expect("put_content");
}

/// Stores `body` as a manifest revision of `repo` and returns its digest.
async fn manifest(storage: &Storage, repo: &RepositoryName, body: &[u8]) -> Digest {
    let digest = Digest::sha256_of(body);
    put(storage, &layout::blob_data(&digest), body).await;
    put(
        storage,
        &layout::revision_link(repo, &digest),
        digest.as_str().as_bytes(),
    )
    .await;
    digest
}

/// An image manifest whose config (a small image config) is stored and linked.
async fn image(storage: &Storage, repo: &RepositoryName, seed: u32) -> Digest {
    let config = format!(r#"{{"os":"linux","architecture":"amd64","seed":{seed}}}"#);
    let config_digest = Digest::sha256_of(config.as_bytes());
    put(
        storage,
        &layout::blob_data(&config_digest),
        config.as_bytes(),
    )
    .await;
    put(
        storage,
        &layout::layer_link(repo, &config_digest),
        config_digest.as_str().as_bytes(),
    )
    .await;
    let layer = Digest::sha256_of(format!("layer {seed}").as_bytes());
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer.as_str(), "size": 1000 + seed}],
    }))
    .unwrap();
    manifest(storage, repo, &body).await
}

async fn tag(storage: &Storage, repo: &RepositoryName, tag: &str, digest: &Digest) {
    let tag: Tag = tag.parse().unwrap();
    put(
        storage,
        &layout::tag_current_link(repo, &tag),
        digest.as_str().as_bytes(),
    )
    .await;
}

/// A registry whose `app` repository has `tags` tags over 10 images.
async fn with_tags(tags: usize) -> (Registry, Counting) {
    let (storage, log) = Counting::storage();
    let repo = name("app");
    let mut images = Vec::new();
    for seed in 0..10 {
        images.push(image(&storage, &repo, seed).await);
    }
    for i in 0..tags {
        tag(&storage, &repo, &format!("t{i:05}"), &images[i % 10]).await;
    }
    log.take();
    (Registry::new(storage, RegistrySettings::default()), log)
}

fn count(ops: &[Op], op: &str) -> usize {
    ops.iter().filter(|(o, _)| *o == op).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_1000_tags_costs_what_its_tags_cost() {
    let repo = name("app");
    let mut costs = Vec::new();
    for total in [1000, 3000] {
        let (registry, log) = with_tags(total).await;
        let page = model::tags::load(&registry, &repo, 1000, None)
            .await
            .expect("tags page");
        assert_eq!(page.rows.len(), 1000);
        assert_eq!(page.next_last.is_some(), total > 1000);
        assert!(
            page.rows
                .iter()
                .all(|r| r.summary.is_some() && r.pushed.is_some())
        );
        let ops = log.take();
        // One listing; per tag one read of its link that also gives its time; per distinct
        // manifest (10) its revision link and content.
        assert_eq!(count(&ops, "list"), 1, "{total}");
        assert_eq!(count(&ops, "get_content_timed"), 1000, "{total}");
        assert_eq!(count(&ops, "stat"), 0, "{total}");
        assert_eq!(count(&ops, "get_content"), 2 * 10, "{total}");
        assert_eq!(ops.len(), 1 + 1000 + 20, "{total}: nothing else");
        costs.push(ops.len());
    }
    println!("tags page of 1000: {costs:?} storage operations (1000 and 3000 tags held)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositories_page_costs_one_catalog_page() {
    let (storage, log) = Counting::storage();
    for i in 0..300 {
        let repo = name(&format!("team{}/r{i:03}", i % 3));
        let digest = image(&storage, &repo, i).await;
        tag(&storage, &repo, "latest", &digest).await;
    }
    log.take();
    let registry = Registry::new(storage, RegistrySettings::default());
    let everyone = |_: &str| true;
    for (n, last) in [(100, None), (50, Some("team1/r100"))] {
        let page = model::repositories::load(&registry, &everyone, "", n, last)
            .await
            .unwrap();
        assert_eq!(page.names.len(), n);
        let ui_ops = log.take();
        registry.catalog(Some(n), last).await.unwrap();
        let api_ops = log.take();
        assert_eq!(
            ui_ops, api_ops,
            "n={n} last={last:?}: the API's catalog cost"
        );
    }
    // A filter reads catalog pages until the page fills or the scan budget is spent.
    let page = model::repositories::load(&registry, &everyone, "r29", 100, None)
        .await
        .unwrap();
    assert_eq!(page.names.len(), 10, "{:?}", page.names);
    assert!(page.next_last.is_none());
    let ops = log.take();
    assert!(ops.iter().all(|(op, _)| *op == "list"));
    assert!(ops.len() <= 300 + 4 + 10, "{} listings", ops.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_page_costs_a_fixed_number_of_reads_plus_its_referrers() {
    let (storage, log) = Counting::storage();
    let repo = name("app");
    let subject = image(&storage, &repo, 1).await;
    tag(&storage, &repo, "v1", &subject).await;
    let registry = Registry::new(storage.clone(), RegistrySettings::default());
    for i in 0..5 {
        // Referrers as a push records them: an entry per referrer under the subject.
        let body = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/spdx+json","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{subject}","size":1}},"annotations":{{"n":"{i}"}}}}"#,
            Digest::sha256_of(b"{}")
        );
        let digest = manifest(&storage, &repo, body.as_bytes()).await;
        let entry = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "digest": digest.as_str(), "size": body.len(),
                           "artifactType": "application/spdx+json"});
        put(
            &storage,
            &layout::referrer_entry(&repo, &subject, &digest),
            entry.to_string().as_bytes(),
        )
        .await;
    }
    log.take();
    let reference = Reference::Tag("v1".parse().unwrap());
    let view = model::manifest::load(&registry, &repo, &reference)
        .await
        .unwrap();
    assert_eq!(view.referrers.groups.len(), 1);
    assert_eq!(view.referrers.groups[0].1.len(), 5);
    assert!(view.config_summary.is_some());
    let ops = log.take();
    // Tag link, revision link, manifest content; config link, stat, content; the referrers
    // listing and one read per referrer.
    assert_eq!(count(&ops, "list"), 1, "{ops:?}");
    assert_eq!(count(&ops, "stat"), 1, "{ops:?}");
    assert_eq!(count(&ops, "get_content"), 3 + 2 + 5, "{ops:?}");
    assert_eq!(ops.len(), 12, "{ops:?}");
}
