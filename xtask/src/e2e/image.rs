//! A test image built offline with umoci: an OCI layout with two layers of random bytes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{Result, run};

/// A local OCI image layout and the tag of the image in it.
pub struct OciImage {
    pub layout: PathBuf,
    pub tag: &'static str,
}

impl OciImage {
    /// skopeo's name for it.
    pub fn reference(&self) -> String {
        format!("oci:{}:{}", self.layout.display(), self.tag)
    }

    /// The digest and exact bytes of the image's manifest in the layout (its `index.json`
    /// names one manifest).
    pub fn manifest(&self) -> Result<(String, Vec<u8>)> {
        let index = std::fs::read_to_string(self.layout.join("index.json"))
            .map_err(|e| format!("index.json: {e}"))?;
        let index: serde_json::Value =
            serde_json::from_str(&index).map_err(|e| format!("index.json: {e}"))?;
        let digest = index["manifests"][0]["digest"]
            .as_str()
            .ok_or("index.json names no manifest")?
            .to_owned();
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or("not a sha256 digest")?;
        let bytes = std::fs::read(self.layout.join("blobs/sha256").join(hex))
            .map_err(|e| format!("manifest blob: {e}"))?;
        Ok((digest, bytes))
    }
}

pub fn build_oci_layout(dir: &Path) -> Result<OciImage> {
    let layout = dir.join("layout");
    let image = format!("{}:latest", layout.display());
    run(Command::new("umoci")
        .args(["init", "--layout"])
        .arg(&layout))?;
    run(Command::new("umoci").args(["new", "--image", &image]))?;
    for (layer, size) in [("first", 3 * 1024 * 1024), ("second", 700 * 1024)] {
        let content = dir.join(layer);
        std::fs::create_dir_all(&content).map_err(|e| e.to_string())?;
        std::fs::write(content.join("random.bin"), random_bytes(size))
            .map_err(|e| e.to_string())?;
        run(Command::new("umoci")
            .args(["insert", "--image", &image])
            .arg(&content)
            .arg(format!("/{layer}")))?;
    }
    run(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "/bin/true"]))?;
    Ok(OciImage {
        layout,
        tag: "latest",
    })
}

/// Incompressible bytes (layers are gzipped), from a small xorshift generator.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
