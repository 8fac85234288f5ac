//! Small OCI image layouts written by hand for the garbage-collection interop scenarios:
//! images whose layers and configs are unique to them (so that collecting one image removes
//! exactly its own blobs), multi-platform indexes, and referrers (manifests with `subject`).
//! skopeo copies them into a registry unchanged (layers are already gzipped), so the digests
//! computed here are the ones the registry stores.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::process::Result;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A manifest as a registry stores it: its digest and bytes, and the digests of the blobs it
/// names (config and layers, or an index's children).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub digest: String,
    pub bytes: Vec<u8>,
    pub media_type: &'static str,
}

impl Manifest {
    pub fn from_bytes(bytes: Vec<u8>, media_type: &'static str) -> Self {
        Manifest {
            digest: sha256_digest(&bytes),
            bytes,
            media_type,
        }
    }

    /// The digests this manifest names: config, layers, index children.
    pub fn references(&self) -> Result<Vec<String>> {
        let value: Value = serde_json::from_slice(&self.bytes)
            .map_err(|e| format!("manifest {}: {e}", self.digest))?;
        let mut out = Vec::new();
        if let Some(config) = value["config"]["digest"].as_str() {
            out.push(config.to_owned());
        }
        for key in ["layers", "manifests"] {
            for entry in value[key].as_array().into_iter().flatten() {
                if let Some(digest) = entry["digest"].as_str() {
                    out.push(digest.to_owned());
                }
            }
        }
        Ok(out)
    }

    fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }
}

/// An OCI image layout under construction; `index.json` is rewritten after each addition.
pub struct Layout {
    pub dir: PathBuf,
    entries: Vec<Value>,
}

impl Layout {
    pub fn create(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("blobs/sha256"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#)
            .map_err(|e| e.to_string())?;
        let layout = Layout {
            dir: dir.to_owned(),
            entries: Vec::new(),
        };
        layout.write_index()?;
        Ok(layout)
    }

    /// skopeo's name for the manifest tagged `tag` in this layout.
    pub fn reference(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.dir.display())
    }

    fn write_index(&self) -> Result {
        let index = json!({"schemaVersion": 2, "manifests": self.entries});
        std::fs::write(self.dir.join("index.json"), index.to_string()).map_err(|e| e.to_string())
    }

    /// Stores `bytes` as a blob; returns its digest.
    pub fn blob(&self, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let hex = &digest["sha256:".len()..];
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes)
            .map_err(|e| e.to_string())?;
        Ok(digest)
    }

    fn tag(&mut self, tag: &str, manifest: &Manifest) -> Result {
        let mut entry = manifest.descriptor();
        entry["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.entries.push(entry);
        self.write_index()
    }

    /// A single-platform image with `layers` gzipped random layers unique to `seed`, tagged
    /// `tag` in the layout when given (index children are not).
    pub fn image(
        &mut self,
        tag: Option<&str>,
        seed: u64,
        layers: usize,
        arch: &str,
        extra: Option<Value>,
    ) -> Result<Manifest> {
        let mut diff_ids = Vec::new();
        let mut descriptors = Vec::new();
        for n in 0..layers {
            let raw = random_bytes(seed * 16 + n as u64, 96 * 1024 + 1000 * n);
            diff_ids.push(sha256_digest(&raw));
            let gzipped = gzip(&self.dir, &raw)?;
            let digest = self.blob(&gzipped)?;
            descriptors.push(
                json!({"mediaType": OCI_LAYER_GZIP, "digest": digest, "size": gzipped.len()}),
            );
        }
        let config = json!({
            "architecture": arch,
            "os": "linux",
            "config": {"Env": [format!("E2E_SEED={seed}")]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        })
        .to_string();
        let config_digest = self.blob(config.as_bytes())?;
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": descriptors,
        });
        if let Some(Value::Object(extra)) = extra {
            for (key, value) in extra {
                manifest[key] = value;
            }
        }
        let manifest = Manifest::from_bytes(manifest.to_string().into_bytes(), OCI_MANIFEST);
        self.blob(&manifest.bytes)?;
        if let Some(tag) = tag {
            self.tag(tag, &manifest)?;
        }
        Ok(manifest)
    }

    /// A referrer of `subject`: an image-shaped manifest (so skopeo copies it as any image)
    /// with an `artifactType` and a `subject`.
    pub fn referrer(&mut self, seed: u64, subject: &Manifest) -> Result<Manifest> {
        let extra = json!({
            "artifactType": "application/vnd.example.e2e.sbom",
            "subject": subject.descriptor(),
        });
        self.image(None, seed, 2, "amd64", Some(extra))
    }

    /// A multi-platform index of two fresh images (amd64, arm64), tagged `tag`; returns the
    /// index and its children.
    pub fn index(&mut self, tag: &str, seed: u64) -> Result<(Manifest, Vec<Manifest>)> {
        let mut children = Vec::new();
        let mut descriptors = Vec::new();
        for (n, arch) in ["amd64", "arm64"].into_iter().enumerate() {
            let child = self.image(None, seed * 8 + n as u64, 1, arch, None)?;
            let mut descriptor = child.descriptor();
            descriptor["platform"] = json!({"architecture": arch, "os": "linux"});
            descriptors.push(descriptor);
            children.push(child);
        }
        let index = json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors});
        let index = Manifest::from_bytes(index.to_string().into_bytes(), OCI_INDEX);
        self.blob(&index.bytes)?;
        self.tag(tag, &index)?;
        Ok((index, children))
    }
}

/// `bytes` gzipped by the `gzip` program (no name or time in the header: deterministic).
fn gzip(scratch: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
    let file = scratch.join("gzip-input");
    std::fs::write(&file, bytes).map_err(|e| e.to_string())?;
    let out = Command::new("gzip")
        .args(["-n", "-c"])
        .arg(&file)
        .output()
        .map_err(|e| format!("gzip: {e}"))?;
    let _ = std::fs::remove_file(&file);
    if !out.status.success() {
        return Err(format!(
            "gzip failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Incompressible bytes, different for every seed (xorshift).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
