//! Test content: deterministic blob bytes and the four manifest formats.

use registry_core::domain::Digest;
use serde_json::{Value, json};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// `len` pseudo-random bytes, the same for the same `seed` (xorshift; no dependency needed).
pub fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A small image config, unique per seed.
pub fn config_blob(seed: u64) -> Vec<u8> {
    format!(r#"{{"architecture":"amd64","os":"linux","seed":{seed}}}"#).into_bytes()
}

/// A manifest exactly as the client sends it.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub media_type: String,
    pub body: Vec<u8>,
}

impl Manifest {
    pub fn digest(&self) -> Digest {
        Digest::sha256_of(&self.body)
    }

    pub fn size(&self) -> u64 {
        self.body.len() as u64
    }

    /// A descriptor of this manifest, for an index or a `subject`.
    pub fn descriptor(&self) -> Value {
        json!({
            "mediaType": self.media_type,
            "digest": self.digest().as_str(),
            "size": self.size(),
        })
    }

    fn from_json(media_type: &str, value: &Value) -> Manifest {
        // Pretty-printed on purpose: the registry must store and serve the client's exact
        // bytes, whitespace included, not a re-serialisation.
        Manifest {
            media_type: media_type.to_owned(),
            body: serde_json::to_vec_pretty(value).unwrap(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Oci,
    Docker,
}

/// An image manifest over a config and layers; `extra` fields are merged in (subject,
/// artifactType, annotations).
pub fn image_manifest(
    format: ImageFormat,
    config: (&Digest, u64),
    layers: &[(Digest, u64)],
    extra: Option<Value>,
) -> Manifest {
    let (media_type, config_type, layer_type) = match format {
        ImageFormat::Oci => (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER),
        ImageFormat::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER),
    };
    let mut value = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config.0.as_str(), "size": config.1},
        "layers": layers
            .iter()
            .map(|(d, size)| json!({"mediaType": layer_type, "digest": d.as_str(), "size": size}))
            .collect::<Vec<_>>(),
    });
    merge(&mut value, extra);
    Manifest::from_json(media_type, &value)
}

/// An OCI index or Docker manifest list over `children`.
pub fn index_manifest(
    format: ImageFormat,
    children: &[&Manifest],
    extra: Option<Value>,
) -> Manifest {
    let media_type = match format {
        ImageFormat::Oci => OCI_INDEX,
        ImageFormat::Docker => DOCKER_LIST,
    };
    let manifests: Vec<Value> = children
        .iter()
        .enumerate()
        .map(|(i, child)| {
            let mut d = child.descriptor();
            d["platform"] = json!({"architecture": format!("arch{i}"), "os": "linux"});
            d
        })
        .collect();
    let mut value = json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    });
    merge(&mut value, extra);
    Manifest::from_json(media_type, &value)
}

fn merge(value: &mut Value, extra: Option<Value>) {
    if let Some(Value::Object(fields)) = extra {
        for (k, v) in fields {
            value[k] = v;
        }
    }
}
