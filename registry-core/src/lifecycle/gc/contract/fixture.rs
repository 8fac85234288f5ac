//! A registry over one GC case's own storage root, with pushes and checks the cases share.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::prefixed::Prefixed;
use crate::domain::media_types::{DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST};
use crate::domain::{Digest, Reference, RepositoryName};
use crate::layout;
use crate::lifecycle::gc::mark::refs_of;
use crate::lifecycle::gc::{Options, Report, collect};
use crate::lifecycle::protocol::Timing;
use crate::registry::{Registry, RegistrySettings};
use crate::storage::contract::Ctx;
use crate::storage::{Storage, WalkControl};

/// Small protocol bounds, so that a cycle takes a fraction of a second. The collector's
/// delete bound (`Δ/4`, 500 ms) must cover two storage calls on a busy emulator.
pub fn test_timing() -> Timing {
    Timing {
        reliance_window: Duration::from_millis(300),
        revive_wait: Duration::from_secs(2),
    }
}

pub struct Fixture {
    pub registry: Registry,
    pub storage: Storage,
}

/// A pushed manifest.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub size: usize,
    /// Blobs it names (config and layers).
    pub blobs: Vec<Digest>,
}

pub fn name(s: &str) -> RepositoryName {
    s.parse().expect("repository name")
}

impl Fixture {
    pub fn new(ctx: &Ctx) -> Fixture {
        Self::over(Storage::new(Arc::new(Prefixed::new(
            ctx.storage.clone(),
            ctx.prefix(),
        ))))
    }

    /// Another registry instance over the same root.
    pub fn over(storage: Storage) -> Fixture {
        let settings = RegistrySettings {
            delete_enabled: true,
            gc_timing: test_timing(),
            ..RegistrySettings::default()
        };
        Fixture {
            registry: Registry::new(storage.clone(), settings),
            storage,
        }
    }

    pub fn options(&self, delete_untagged: bool) -> Options {
        Options {
            delete_untagged,
            delay: Duration::ZERO,
            timing: test_timing(),
            // Tiny runs, so that every case exercises spilling and merging.
            chunk_records: 3,
            ..Options::default()
        }
    }

    pub async fn gc(&self, options: &Options) -> Report {
        collect(&self.storage, options, &())
            .await
            .unwrap_or_else(|e| panic!("garbage collection failed: {e}"))
    }

    pub async fn blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256_of(data);
        let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
        self.registry
            .upload_monolithic(&name(repo), &digest, body)
            .await
            .unwrap_or_else(|e| panic!("upload to {repo}: {e}"));
        digest
    }

    pub async fn put(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Digest {
        let reference: Reference = reference.parse().expect("reference");
        self.registry
            .put_manifest(
                &name(repo),
                &reference,
                Some(media_type),
                Bytes::copy_from_slice(body),
            )
            .await
            .unwrap_or_else(|e| panic!("manifest PUT {repo}:{reference}: {e}"))
            .digest
    }

    /// An image of `layers` (uploaded to `repo`), under `reference` (a tag, or `-` for its
    /// digest). `docker` gives a Docker schema 2 manifest.
    pub async fn image(
        &self,
        repo: &str,
        reference: &str,
        seed: &str,
        layers: &[&[u8]],
        docker: bool,
    ) -> Pushed {
        let config_data = format!(r#"{{"architecture":"amd64","os":"linux","seed":"{seed}"}}"#);
        let config = self.blob(repo, config_data.as_bytes()).await;
        let mut blobs = vec![config.clone()];
        let mut layer_descriptors = Vec::new();
        for data in layers {
            let digest = self.blob(repo, data).await;
            layer_descriptors.push(json!({
                "mediaType": if docker { "application/vnd.docker.image.rootfs.diff.tar.gzip" } else { "application/vnd.oci.image.layer.v1.tar+gzip" },
                "digest": digest.as_str(),
                "size": data.len(),
            }));
            blobs.push(digest);
        }
        let media_type = if docker {
            DOCKER_MANIFEST
        } else {
            OCI_MANIFEST
        };
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": if docker { "application/vnd.docker.container.image.v1+json" } else { "application/vnd.oci.image.config.v1+json" },
                "digest": config.as_str(),
                "size": config_data.len(),
            },
            "layers": layer_descriptors,
        }))
        .expect("JSON");
        self.push_body(repo, reference, media_type, &body, blobs)
            .await
    }

    async fn push_body(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
        blobs: Vec<Digest>,
    ) -> Pushed {
        let digest = Digest::sha256_of(body);
        let reference = if reference == "-" {
            digest.to_string()
        } else {
            reference.to_owned()
        };
        assert_eq!(self.put(repo, &reference, media_type, body).await, digest);
        Pushed {
            digest,
            size: body.len(),
            blobs,
        }
    }

    /// An index (OCI, or a Docker manifest list) of `children`.
    pub async fn index(
        &self,
        repo: &str,
        reference: &str,
        children: &[&Pushed],
        docker: bool,
    ) -> Pushed {
        let (media_type, child_type) = if docker {
            (DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)
        } else {
            (OCI_INDEX, OCI_MANIFEST)
        };
        let manifests: Vec<serde_json::Value> = children
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "mediaType": child_type,
                    "digest": c.digest.as_str(),
                    "size": c.size,
                    "platform": {"architecture": format!("arch{i}"), "os": "linux"},
                })
            })
            .collect();
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": manifests,
        }))
        .expect("JSON");
        self.push_body(repo, reference, media_type, &body, Vec::new())
            .await
    }

    /// A referrer (an artifact manifest with one layer) of `subject`, pushed by digest.
    pub async fn referrer(&self, repo: &str, subject: &Pushed, seed: &str) -> Pushed {
        let empty = self.blob(repo, b"{}").await;
        let payload = format!("signature {seed}");
        let layer = self.blob(repo, payload.as_bytes()).await;
        let body = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty.as_str(), "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": layer.as_str(), "size": payload.len()}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest.as_str(), "size": subject.size},
        }))
        .expect("JSON");
        self.push_body(repo, "-", OCI_MANIFEST, &body, vec![empty, layer])
            .await
    }

    pub async fn blob_exists(&self, digest: &Digest) -> bool {
        match self.storage.stat(&layout::blob_data(digest)).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => panic!("stat {digest}: {e}"),
        }
    }

    pub async fn revision_exists(&self, repo: &str, digest: &Digest) -> bool {
        match self
            .storage
            .stat(&layout::revision_link(&name(repo), digest))
            .await
        {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => panic!("stat revision {digest}: {e}"),
        }
    }

    /// Pulls `reference` and everything it names (children of an index too), checking every
    /// blob's size and digest. Panics with what is missing.
    pub async fn assert_pulls(&self, repo: &str, reference: &str) {
        let mut pending = vec![reference.to_owned()];
        while let Some(reference) = pending.pop() {
            let parsed: Reference = reference.parse().expect("reference");
            let manifest = self
                .registry
                .get_manifest(&name(repo), &parsed)
                .await
                .unwrap_or_else(|e| panic!("pull {repo}:{reference}: {e}"));
            let refs = refs_of(&manifest.body);
            for blob in refs.blobs {
                let data = read_all(&self.storage, &layout::blob_data(&blob))
                    .await
                    .unwrap_or_else(|e| panic!("{repo}:{reference}: blob {blob}: {e}"));
                assert_eq!(
                    Digest::sha256_of(&data),
                    blob,
                    "{repo}:{reference}: blob content"
                );
                self.registry
                    .blob_size(&name(repo), &blob)
                    .await
                    .unwrap_or_else(|e| panic!("{repo}:{reference}: blob {blob} not served: {e}"));
            }
            pending.extend(refs.children.iter().map(|d| d.to_string()));
        }
    }

    /// Every object with its size: what a dry run must leave exactly as it was.
    pub async fn snapshot(&self) -> Vec<(String, u64)> {
        let mut files = Vec::new();
        self.storage
            .walk("/", None, &mut |info| {
                if !info.is_dir {
                    files.push((info.path.to_string(), info.size));
                }
                Ok(WalkControl::Continue)
            })
            .await
            .expect("walk");
        files
    }

    /// The storage holds together after a collection: no link other than a layer link (which
    /// the reference also leaves behind) points to missing content.
    pub async fn assert_consistent(&self) {
        let report = crate::registry::consistency::check(&self.storage)
            .await
            .expect("consistency check");
        let problems: Vec<String> = report
            .problems
            .iter()
            .filter(|p| {
                !matches!(
                    p,
                    crate::registry::consistency::Problem::DanglingLink {
                        kind: crate::registry::consistency::LinkKind::Layer,
                        ..
                    }
                )
            })
            .map(|p| p.to_string())
            .collect();
        assert!(problems.is_empty(), "inconsistent after GC: {problems:#?}");
    }
}

async fn read_all(storage: &Storage, path: &str) -> crate::storage::Result<Vec<u8>> {
    use futures::StreamExt;
    let mut stream = storage.reader(path, 0).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}
