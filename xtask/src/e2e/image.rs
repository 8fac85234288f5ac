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
