//! The storage consistency check on the in-memory driver: a registry built through the
//! `Registry` API reports nothing; each kind of damage, made behind the registry's back, is
//! reported exactly.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use driver_inmemory::InMemoryDriver;
use registry_core::domain::media_types::{OCI_INDEX, OCI_MANIFEST};
use registry_core::domain::{Algorithm, Digest, Reference, RepositoryName, Tag};
use registry_core::layout;
use registry_core::registry::consistency::{self, LinkKind, Problem, Report};
use registry_core::registry::{Registry, RegistrySettings};
use registry_core::storage::Storage;

fn name(s: &str) -> RepositoryName {
    s.parse().expect("test repository name")
}

fn tag(s: &str) -> Tag {
    s.parse().expect("test tag")
}

fn body(data: &[u8]) -> futures::stream::Iter<std::vec::IntoIter<Result<Bytes, Infallible>>> {
    futures::stream::iter(vec![Ok(Bytes::copy_from_slice(data))])
}

/// What a healthy registry holds, for the tests to break.
struct Fixture {
    registry: Registry,
    repo: RepositoryName,
    layer: Digest,
    config: Digest,
    image: Digest,
    index: Digest,
}

impl Fixture {
    fn storage(&self) -> &Storage {
        self.registry.storage()
    }

    async fn check(&self) -> Report {
        consistency::check(self.storage())
            .await
            .expect("the check reads storage")
    }
}

async fn push_blob(registry: &Registry, repo: &RepositoryName, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    registry
        .upload_monolithic(repo, &digest, body(data))
        .await
        .expect("blob upload");
    digest
}

fn image_manifest(config: &Digest, config_size: usize, layers: &[(&Digest, usize)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(d, size)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": d.as_str(),
                "size": size,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.as_str(),
            "size": config_size,
        },
        "layers": layers,
    }))
    .expect("JSON")
}

/// A registry with two repositories: blobs pushed monolithically and in chunks, a sha512 blob,
/// a mount, an image under two tags (one moved), an index pushed by digest and tagged.
async fn healthy() -> Fixture {
    let storage = Storage::new(Arc::new(InMemoryDriver::new()));
    let settings = RegistrySettings {
        delete_enabled: true,
        ..RegistrySettings::default()
    };
    let registry = Registry::new(storage, settings);
    let repo = name("library/app");

    let layer_data = vec![7u8; 300_000];
    let layer = push_blob(&registry, &repo, &layer_data).await;
    let config_data = br#"{"architecture":"amd64","os":"linux"}"#;
    let config = push_blob(&registry, &repo, config_data).await;

    // A chunked upload of a sha512 blob.
    let chunked = b"chunk one, chunk two";
    let status = registry.start_upload(&repo).await.expect("start upload");
    registry
        .append_upload(&repo, &status.id, Some(0), body(&chunked[..10]))
        .await
        .expect("first chunk");
    let sha512 = Digest::of(Algorithm::Sha512, chunked);
    registry
        .complete_upload(&repo, &status.id, &sha512, Some(10), body(&chunked[10..]))
        .await
        .expect("last chunk");

    let image_body = image_manifest(
        &config,
        config_data.len(),
        &[(&layer, layer_data.len()), (&sha512, chunked.len())],
    );
    let put = |reference: Reference, media_type: &'static str, body: Vec<u8>| {
        let registry = registry.clone();
        let repo = repo.clone();
        async move {
            registry
                .put_manifest(&repo, &reference, Some(media_type), Bytes::from(body))
                .await
                .expect("manifest push")
                .digest
        }
    };
    let image_size = image_body.len();
    let image = put(Reference::Tag(tag("v1")), OCI_MANIFEST, image_body.clone()).await;
    put(Reference::Tag(tag("latest")), OCI_MANIFEST, image_body).await;

    let index_body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": image.as_str(), "size": image_size}],
    }))
    .expect("JSON");
    let index_digest = Digest::sha256_of(&index_body);
    let index = put(
        Reference::Digest(index_digest),
        OCI_INDEX,
        index_body.clone(),
    )
    .await;
    // `latest` moves to the index: its tag index then holds two entries.
    put(Reference::Tag(tag("latest")), OCI_INDEX, index_body).await;

    let other = name("other");
    assert!(
        registry
            .mount_blob(&other, &layer, &repo)
            .await
            .expect("mount")
    );
    // An upload left open: working state, which the check does not judge.
    registry.start_upload(&other).await.expect("open upload");

    Fixture {
        registry,
        repo,
        layer,
        config,
        image,
        index,
    }
}

#[tokio::test]
async fn a_registry_built_through_the_api_is_consistent() {
    let f = healthy().await;
    let report = f.check().await;
    assert_eq!(report.problems, Vec::new());
    // layer, config, sha512 blob, image, index.
    assert_eq!(report.blobs_checked, 5);
    // library/app: 3 layers + 2 revisions + 2 current + 3 index; other: 1 layer.
    assert_eq!(report.links_checked, 11);
    assert!(report.is_consistent());
}

#[tokio::test]
async fn empty_storage_is_consistent() {
    let storage = Storage::new(Arc::new(InMemoryDriver::new()));
    let report = consistency::check(&storage).await.expect("check");
    assert_eq!(report, Report::default());
}

#[tokio::test]
async fn a_link_holding_no_digest() {
    let f = healthy().await;
    let path = layout::layer_link(&f.repo, &f.config);
    f.storage()
        .put_content(&path, Bytes::from_static(b"sha256:not-a-digest\n"))
        .await
        .unwrap();
    let current = layout::tag_current_link(&f.repo, &tag("v1"));
    f.storage()
        .put_content(&current, Bytes::from_static(&[0xff, 0xfe]))
        .await
        .unwrap();
    assert_eq!(
        f.check().await.problems,
        vec![
            Problem::InvalidLink {
                path,
                kind: LinkKind::Layer,
                content: "sha256:not-a-digest\n".into(),
            },
            Problem::InvalidLink {
                path: current,
                kind: LinkKind::TagCurrent,
                content: "\u{FFFD}\u{FFFD}".into(),
            },
        ]
    );
}

#[tokio::test]
async fn a_link_naming_another_digest_than_its_path() {
    let f = healthy().await;
    let path = layout::revision_link(&f.repo, &f.image);
    f.storage()
        .put_content(&path, Bytes::from(f.layer.to_string()))
        .await
        .unwrap();
    let problems = f.check().await.problems;
    assert_eq!(
        problems[0],
        Problem::MismatchedLink {
            path,
            kind: LinkKind::Revision,
            expected: f.image.clone(),
            found: f.layer.clone(),
        }
    );
    // The image's tag then has no revision to stand on.
    assert_eq!(
        problems[1..],
        [Problem::TagWithoutRevision {
            repository: "library/app".into(),
            tag: "v1".into(),
            digest: f.image.clone(),
        }]
    );
}

#[tokio::test]
async fn links_to_a_blob_that_is_gone() {
    let f = healthy().await;
    f.storage()
        .delete(&layout::blob_data(&f.layer))
        .await
        .unwrap();
    let dangling = |path: String| Problem::DanglingLink {
        path,
        kind: LinkKind::Layer,
        digest: f.layer.clone(),
    };
    // Walk order: library/app before other.
    assert_eq!(
        f.check().await.problems,
        vec![
            dangling(layout::layer_link(&f.repo, &f.layer)),
            dangling(layout::layer_link(&name("other"), &f.layer)),
        ]
    );
}

#[tokio::test]
async fn tag_links_to_a_manifest_that_is_gone() {
    let f = healthy().await;
    f.storage()
        .delete(&layout::blob_data(&f.index))
        .await
        .unwrap();
    let latest = tag("latest");
    let problem = |path: String, kind| Problem::DanglingLink {
        path,
        kind,
        digest: f.index.clone(),
    };
    assert_eq!(
        f.check().await.problems,
        vec![
            problem(layout::revision_link(&f.repo, &f.index), LinkKind::Revision),
            problem(
                layout::tag_current_link(&f.repo, &latest),
                LinkKind::TagCurrent
            ),
            problem(
                layout::tag_index_link(&f.repo, &latest, &f.index),
                LinkKind::TagIndex
            ),
        ]
    );
}

#[tokio::test]
async fn a_blob_whose_content_does_not_match_its_digest() {
    let f = healthy().await;
    let path = layout::blob_data(&f.config);
    let tampered = b"{\"architecture\":\"arm64\",\"os\":\"linux\"}";
    f.storage()
        .put_content(&path, Bytes::from_static(tampered))
        .await
        .unwrap();
    let problems = f.check().await.problems;
    assert_eq!(
        problems[0],
        Problem::CorruptBlob {
            path,
            expected: f.config.clone(),
            actual: Digest::sha256_of(tampered),
        }
    );
    // A corrupt blob is no blob: the link to it dangles too.
    assert_eq!(
        problems[1..],
        [Problem::DanglingLink {
            path: layout::layer_link(&f.repo, &f.config),
            kind: LinkKind::Layer,
            digest: f.config.clone(),
        }]
    );
}

#[tokio::test]
async fn files_under_blobs_that_are_no_blob() {
    let f = healthy().await;
    let hex = f.layer.hex();
    let root = layout::blobs_root();
    let misplaced = [
        // Under the wrong two-digit prefix.
        format!("{root}/sha256/00/{hex}/data"),
        format!("{root}/sha256/{}/{}/data", &hex[..2], &hex[..10]),
        format!("{root}/md5/ab/abcd/data"),
        format!("{root}/sha256/{}/{hex}/data.tmp", &hex[..2]),
    ];
    for path in &misplaced {
        f.storage()
            .put_content(path, Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let mut expected: Vec<Problem> = misplaced
        .iter()
        .map(|path| Problem::MisplacedBlob { path: path.clone() })
        .collect();
    let mut problems = f.check().await.problems;
    let order = |p: &Problem| format!("{p:?}");
    problems.sort_by_key(order);
    expected.sort_by_key(order);
    assert_eq!(problems, expected);
}

#[tokio::test]
async fn a_tag_whose_manifest_has_no_revision_link() {
    let f = healthy().await;
    f.storage()
        .delete(&layout::revision_link(&f.repo, &f.image))
        .await
        .unwrap();
    assert_eq!(
        f.check().await.problems,
        vec![Problem::TagWithoutRevision {
            repository: "library/app".into(),
            tag: "v1".into(),
            digest: f.image.clone(),
        }]
    );
}

#[tokio::test]
async fn every_problem_is_reported_in_one_pass() {
    let f = healthy().await;
    f.storage()
        .delete(&layout::blob_data(&f.layer))
        .await
        .unwrap();
    f.storage()
        .put_content(
            &layout::layer_link(&f.repo, &f.config),
            Bytes::from_static(b"garbage"),
        )
        .await
        .unwrap();
    f.storage()
        .delete(&layout::revision_link(&f.repo, &f.image))
        .await
        .unwrap();
    let report = f.check().await;
    let mut kinds: Vec<&str> = report
        .problems
        .iter()
        .map(|p| match p {
            Problem::InvalidLink { .. } => "invalid",
            Problem::DanglingLink { .. } => "dangling",
            Problem::TagWithoutRevision { .. } => "no revision",
            _ => "other",
        })
        .collect();
    kinds.sort_unstable();
    // Dangling: the layer's links in both repositories.
    assert_eq!(
        kinds,
        ["dangling", "dangling", "invalid", "no revision"],
        "{:#?}",
        report.problems
    );
    assert!(!report.is_consistent());
    // Each problem reads as one line naming where it is.
    for problem in &report.problems {
        let line = problem.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains("library/app") || line.contains("/other/"),
            "{line}"
        );
    }
}
