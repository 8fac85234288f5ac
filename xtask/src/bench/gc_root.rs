//! Writes a storage root for the garbage-collection bench straight in the CNCF Distribution
//! layout (`docker/registry/v2/...`, see registry-core/src/layout.rs), without a registry:
//! pushing 100,000 blobs over HTTP would take far longer than the collection measured.
//!
//! Every repository `b/rNNNN` holds [`MANIFESTS_PER_REPOSITORY`] valid OCI image manifests,
//! each with its own config and two layers of its own plus one layer from a pool shared by all
//! repositories. Manifests 0-4 are tagged `t0`-`t4`; manifests 5-7 were `t0`-`t2` before
//! those tags were overwritten (they stay in the tags' index); manifests 8-9 were pushed by
//! digest. On top, unreferenced blobs: half with a `_layers` link in a repository (uploaded,
//! never used by a manifest), half with none. Content is deterministic, a few hundred bytes a
//! blob, so every run of the bench sees the same root, and the generator knows which blobs
//! each collection mode must keep.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::process::Result;

pub const MANIFESTS_PER_REPOSITORY: usize = 10;
/// Manifests 0..TAGGED are what the tags point at now.
const TAGGED: usize = 5;
/// Manifests TAGGED..TAGGED+OVERWRITTEN were tags `t0`.. before they moved.
const OVERWRITTEN: usize = 3;
const BLOB_BYTES: usize = 300;
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// How big a root to write.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub repositories: usize,
    /// Layers shared across repositories.
    pub shared_layers: usize,
    /// Blobs no manifest references.
    pub unreferenced: usize,
}

impl Scale {
    /// 2,000 repositories, 20,000 manifests, 100,000 blobs.
    pub const FULL: Scale = Scale {
        repositories: 2_000,
        shared_layers: 1_000,
        unreferenced: 19_000,
    };
    /// A five-hundredth of [`Scale::FULL`]: the S3 rows (see the bench's docs for why).
    pub const S3_EMULATOR: Scale = Scale {
        repositories: 4,
        shared_layers: 2,
        unreferenced: 38,
    };
    /// A tenth of [`Scale::FULL`].
    pub const QUICK: Scale = Scale {
        repositories: 200,
        shared_layers: 100,
        unreferenced: 1_900,
    };

    pub fn manifests(&self) -> usize {
        self.repositories * MANIFESTS_PER_REPOSITORY
    }

    /// Manifest, config and two layers per manifest, the shared pool and the unreferenced.
    pub fn blobs(&self) -> usize {
        self.manifests() * 4 + self.shared_layers + self.unreferenced
    }
}

/// What was written, and which blobs (hex of their sha256) each collection mode must keep.
pub struct Generated {
    pub files: usize,
    pub keep_all_revisions: BTreeSet<String>,
    pub keep_tagged: BTreeSet<String>,
}

/// A blob's content and digest.
struct Blob {
    bytes: Vec<u8>,
    hex: String,
}

impl Blob {
    fn new(bytes: Vec<u8>) -> Blob {
        let hex = hex::encode(Sha256::digest(&bytes));
        Blob { bytes, hex }
    }

    /// `BLOB_BYTES` of text seeded by `seed`.
    fn filler(seed: &str) -> Blob {
        let mut bytes = Vec::with_capacity(BLOB_BYTES);
        while bytes.len() < BLOB_BYTES {
            bytes.extend_from_slice(seed.as_bytes());
            bytes.push(b'\n');
        }
        bytes.truncate(BLOB_BYTES);
        Blob::new(bytes)
    }

    fn descriptor(&self, media_type: &str) -> serde_json::Value {
        serde_json::json!({
            "mediaType": media_type,
            "digest": format!("sha256:{}", self.hex),
            "size": self.bytes.len(),
        })
    }
}

struct Writer {
    v2: PathBuf,
    files: usize,
}

impl Writer {
    fn write(&mut self, relative: &str, bytes: &[u8]) -> Result {
        let path = self.v2.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        self.files += 1;
        Ok(())
    }

    fn blob(&mut self, blob: &Blob) -> Result {
        let path = format!("blobs/sha256/{}/{}/data", &blob.hex[..2], blob.hex);
        self.write(&path, &blob.bytes)
    }

    fn link(&mut self, relative: &str, hex: &str) -> Result {
        self.write(relative, format!("sha256:{hex}").as_bytes())
    }
}

pub fn repository_name(index: usize) -> String {
    format!("b/r{index:04}")
}

/// Writes the root under `root` (which then holds `docker/registry/v2`).
pub fn generate(root: &Path, scale: Scale) -> Result<Generated> {
    let mut out = Writer {
        v2: root.join("docker/registry/v2"),
        files: 0,
    };
    let shared: Vec<Blob> = (0..scale.shared_layers)
        .map(|i| Blob::filler(&format!("shared layer {i}")))
        .collect();
    let mut keep_all_revisions = BTreeSet::new();
    let mut keep_tagged = BTreeSet::new();
    for blob in &shared {
        out.blob(blob)?;
    }
    for r in 0..scale.repositories {
        let name = repository_name(r);
        let repo = format!("repositories/{name}");
        for m in 0..MANIFESTS_PER_REPOSITORY {
            let layers = [
                &shared[(r * MANIFESTS_PER_REPOSITORY + m) % shared.len()],
                &Blob::filler(&format!("layer {name} {m} a")),
                &Blob::filler(&format!("layer {name} {m} b")),
            ];
            let config = Blob::new(
                serde_json::to_vec(&serde_json::json!({
                    "architecture": "amd64",
                    "os": "linux",
                    "config": { "Labels": { "bench": format!("{name} {m}") } },
                    "rootfs": {
                        "type": "layers",
                        "diff_ids": layers.iter().map(|l| format!("sha256:{}", l.hex)).collect::<Vec<_>>(),
                    },
                }))
                .map_err(|e| e.to_string())?,
            );
            let manifest = Blob::new(
                serde_json::to_vec(&serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_TYPE,
                    "config": config.descriptor(CONFIG_TYPE),
                    "layers": layers.iter().map(|l| l.descriptor(LAYER_TYPE)).collect::<Vec<_>>(),
                }))
                .map_err(|e| e.to_string())?,
            );
            for blob in [&config, layers[1], layers[2]] {
                out.blob(blob)?;
            }
            for blob in [&config, layers[0], layers[1], layers[2]] {
                out.link(
                    &format!("{repo}/_layers/sha256/{}/link", blob.hex),
                    &blob.hex,
                )?;
            }
            out.blob(&manifest)?;
            let revision = format!("{repo}/_manifests/revisions/sha256/{}/link", manifest.hex);
            out.link(&revision, &manifest.hex)?;
            let tag = match m {
                m if m < TAGGED => Some(m),
                m if m < TAGGED + OVERWRITTEN => Some(m - TAGGED),
                _ => None,
            };
            if let Some(t) = tag {
                let index = format!(
                    "{repo}/_manifests/tags/t{t}/index/sha256/{}/link",
                    manifest.hex
                );
                out.link(&index, &manifest.hex)?;
                if m < TAGGED {
                    out.link(
                        &format!("{repo}/_manifests/tags/t{t}/current/link"),
                        &manifest.hex,
                    )?;
                }
            }
            let referenced = [&manifest, &config, layers[0], layers[1], layers[2]];
            for blob in referenced {
                keep_all_revisions.insert(blob.hex.clone());
                if m < TAGGED {
                    keep_tagged.insert(blob.hex.clone());
                }
            }
        }
    }
    for u in 0..scale.unreferenced {
        let blob = Blob::filler(&format!("unreferenced {u}"));
        out.blob(&blob)?;
        if u % 2 == 0 {
            let repo = repository_name(u % scale.repositories);
            let link = format!("repositories/{repo}/_layers/sha256/{}/link", blob.hex);
            out.link(&link, &blob.hex)?;
        }
    }
    Ok(Generated {
        files: out.files,
        keep_all_revisions,
        keep_tagged,
    })
}

/// Hex digests of the blobs whose `data` is present under `root` (`docker/registry/v2/blobs`).
pub fn surviving_blobs(root: &Path) -> Result<BTreeSet<String>> {
    let blobs = root.join("docker/registry/v2/blobs/sha256");
    let mut found = BTreeSet::new();
    let read = |dir: &Path| std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()));
    for prefix in read(&blobs)? {
        let prefix = prefix.map_err(|e| e.to_string())?.path();
        for blob in read(&prefix)? {
            let blob = blob.map_err(|e| e.to_string())?.path();
            if blob.join("data").is_file()
                && let Some(hex) = blob.file_name().and_then(|n| n.to_str())
            {
                found.insert(hex.to_owned());
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_layout_and_knows_what_each_mode_keeps() {
        let scale = Scale {
            repositories: 2,
            shared_layers: 2,
            unreferenced: 4,
        };
        let dir = std::env::temp_dir().join(format!("gc-root-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let generated = generate(&dir, scale).unwrap();
        let blobs = surviving_blobs(&dir).unwrap();
        assert_eq!(blobs.len(), scale.blobs());
        // Every revision keeps everything but the unreferenced blobs; tagged manifests keep
        // their own four blobs, and the shared layers they name.
        assert_eq!(generated.keep_all_revisions.len(), scale.blobs() - 4);
        assert_eq!(
            generated.keep_tagged.len(),
            2 * TAGGED * 4 + scale.shared_layers
        );
        assert!(
            generated
                .keep_tagged
                .is_subset(&generated.keep_all_revisions)
        );
        let repo = dir.join("docker/registry/v2/repositories/b/r0001/_manifests");
        let current = std::fs::read_to_string(repo.join("tags/t0/current/link")).unwrap();
        let hex = current.strip_prefix("sha256:").unwrap();
        assert!(repo.join(format!("revisions/sha256/{hex}/link")).is_file());
        assert!(generated.keep_tagged.contains(hex));
        // The manifest is valid JSON whose blobs exist with the sizes it gives.
        let manifest = dir.join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ));
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
        for layer in body["layers"].as_array().unwrap() {
            let digest = layer["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap();
            let data = dir.join(format!(
                "docker/registry/v2/blobs/sha256/{}/{digest}/data",
                &digest[..2]
            ));
            let bytes = std::fs::read(data).unwrap();
            assert_eq!(bytes.len() as u64, layer["size"].as_u64().unwrap());
            assert_eq!(hex::encode(Sha256::digest(&bytes)), digest);
        }
        // Overwritten tags keep their history in the tag's index.
        let index = std::fs::read_dir(repo.join("tags/t0/index/sha256"))
            .unwrap()
            .count();
        assert_eq!(index, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
