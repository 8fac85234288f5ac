//! Parsing and checking manifests: OCI image manifests and indexes, Docker schema 2 manifests
//! and manifest lists. The registry stores the client's bytes unchanged; this only reads what
//! it must check (referenced blobs and manifests) and index (subject, artifact type).
//!
//! # One reading for every reader
//!
//! The stored bytes are read again later by clients and by other registries on the same
//! storage (the reference's garbage collector decides from them which blobs to keep), most of
//! them with Go's `encoding/json`. So a manifest is refused (`MANIFEST_INVALID`) when JSON
//! parsers could read it differently from this registry:
//!
//! - a key given twice in an object the registry reads: the manifest, its `config`, `layers`,
//!   `manifests` and `subject` descriptors, and `annotations` (which parser keeps which value
//!   differs);
//! - a key that differs from one of those objects' fields only in letter case, such as
//!   `"Layers"`, `"MediaType"` or, in a descriptor, `"Digest"`: Go matches keys to fields
//!   case-insensitively and would read it as that field, where the registry would ignore it.
//!   Such a manifest is ambiguous whatever the registry made of it, so it is refused rather
//!   than read one way or the other.
//!
//! The checks run while the document is deserialized (`manifest_de`); a manifest PUT parses
//! the body twice in all (this, and [`stored_media_type`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest_de::RawManifest;

use super::digest::Digest;
use super::media_types::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED, FOREIGN_LAYERS,
    OCI_INDEX, OCI_MANIFEST,
};

/// An OCI content descriptor. Deserialized with the key rules of the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<serde_json::Value>,
}

/// Whether a manifest describes one image (or artifact) or a list of manifests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    Image,
    Index,
}

/// What the registry needs to know about a manifest.
#[derive(Debug, Clone)]
pub struct ParsedManifest {
    pub media_type: String,
    pub kind: ManifestKind,
    pub config: Option<Descriptor>,
    pub layers: Vec<Descriptor>,
    pub manifests: Vec<Descriptor>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Why a manifest is refused (`MANIFEST_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidManifest(pub String);

/// The media type without parameters (`; charset=...`), lowercased.
pub fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

impl ParsedManifest {
    /// Parses `body`, sent with `content_type` (if any).
    pub fn parse(body: &[u8], content_type: Option<&str>) -> Result<Self, InvalidManifest> {
        let invalid = |m: String| InvalidManifest(m);
        let raw: RawManifest = serde_json::from_slice(body)
            .map_err(|e| invalid(format!("not a valid manifest document: {e}")))?;
        let header_type = content_type.map(essence).filter(|t| !t.is_empty());

        let declared = raw.media_type.as_deref();
        if let (Some(declared), Some(header)) = (declared, header_type.as_deref())
            && declared != header
            && is_manifest_type(header)
        {
            return Err(invalid(format!(
                "mediaType {declared} does not match Content-Type {header}"
            )));
        }
        let media_type = match (declared, header_type.as_deref()) {
            (Some(declared), _) => declared.to_owned(),
            (None, Some(header)) if is_manifest_type(header) => header.to_owned(),
            // OCI documents may omit mediaType: tell them apart by shape.
            (None, _) if raw.manifests.is_some() => OCI_INDEX.to_owned(),
            (None, _) if raw.config.is_some() => OCI_MANIFEST.to_owned(),
            // Schema 1 has no mediaType field: refused below for what it is.
            (None, _) if raw.schema_version == Some(1) => DOCKER_SCHEMA1.to_owned(),
            (None, _) => return Err(invalid("cannot tell the manifest's media type".into())),
        };
        if media_type == DOCKER_SCHEMA1 || media_type == DOCKER_SCHEMA1_SIGNED {
            return Err(invalid(
                "Docker schema 1 manifests are deprecated and not accepted".into(),
            ));
        }
        if raw.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2".into()));
        }

        let kind = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => ManifestKind::Image,
            OCI_INDEX | DOCKER_MANIFEST_LIST => ManifestKind::Index,
            other => return Err(invalid(format!("unsupported manifest media type {other}"))),
        };
        let parsed = ParsedManifest {
            media_type,
            kind,
            config: raw.config,
            layers: raw.layers.unwrap_or_default(),
            manifests: raw.manifests.unwrap_or_default(),
            subject: raw.subject,
            artifact_type: raw.artifact_type,
            annotations: raw.annotations,
        };
        parsed.check_shape()?;
        // The media type is served from the stored bytes alone (`stored_media_type`): a document
        // that does not say what it is would come back as something else. The reference
        // likewise refuses Docker manifests without their mediaType.
        let served_as = stored_media_type(body);
        if served_as != parsed.media_type {
            return Err(invalid(format!(
                "a {} must declare its mediaType in the document (it would be served as {served_as})",
                parsed.media_type
            )));
        }
        Ok(parsed)
    }

    fn check_shape(&self) -> Result<(), InvalidManifest> {
        match self.kind {
            ManifestKind::Image => {
                if self.config.is_none() {
                    return Err(InvalidManifest("an image manifest needs a config".into()));
                }
                if !self.manifests.is_empty() {
                    return Err(InvalidManifest(
                        "an image manifest cannot list manifests".into(),
                    ));
                }
            }
            ManifestKind::Index => {
                if self.config.is_some() || !self.layers.is_empty() {
                    return Err(InvalidManifest(
                        "an index cannot have a config or layers".into(),
                    ));
                }
            }
        }
        let all = self
            .config
            .iter()
            .chain(&self.layers)
            .chain(&self.manifests)
            .chain(&self.subject);
        for descriptor in all {
            if !is_media_type_grammar(&descriptor.media_type) {
                return Err(InvalidManifest(format!(
                    "descriptor {} has an invalid mediaType {:?}",
                    descriptor.digest, descriptor.media_type
                )));
            }
        }
        Ok(())
    }

    /// Blobs that must be in the repository before this manifest is accepted: the config and
    /// every layer that is not foreign (stored elsewhere, with `urls`).
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(
            self.layers
                .iter()
                .filter(|l| !FOREIGN_LAYERS.contains(&l.media_type.as_str())),
        )
    }

    /// Manifests that must be in the repository first (an index's children).
    pub fn required_manifests(&self) -> impl Iterator<Item = &Descriptor> {
        self.manifests.iter()
    }

    /// The descriptor that lists this manifest among its subject's referrers. It borrows the
    /// manifest's annotations: they are serialized once, into the referrers index entry.
    pub fn referrer_entry<'a>(&'a self, digest: &'a Digest, size: u64) -> ReferrerEntry<'a> {
        // OCI 1.1: without artifactType, an image manifest's config media type stands in.
        let artifact_type = self.artifact_type.as_deref().or(match self.kind {
            ManifestKind::Image => self.config.as_ref().map(|c| c.media_type.as_str()),
            ManifestKind::Index => None,
        });
        ReferrerEntry {
            media_type: &self.media_type,
            digest,
            size,
            artifact_type,
            annotations: self.annotations.as_ref(),
        }
    }
}

/// A referrer's descriptor, as stored in the referrers index and served in referrers
/// responses; it serializes like a [`Descriptor`] without copying what it describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReferrerEntry<'a> {
    pub media_type: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<&'a BTreeMap<String, String>>,
}

pub fn is_manifest_type(media_type: &str) -> bool {
    super::media_types::MANIFESTS.contains(&media_type)
        || media_type == DOCKER_SCHEMA1
        || media_type == DOCKER_SCHEMA1_SIGNED
}

/// `type/subtype` with RFC 6838 restricted-name characters.
fn is_media_type_grammar(media_type: &str) -> bool {
    let restricted = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(
                        b,
                        b'!' | b'#' | b'$' | b'&' | b'-' | b'^' | b'_' | b'.' | b'+'
                    )
            })
    };
    match media_type.split_once('/') {
        Some((kind, subtype)) => restricted(kind) && restricted(subtype),
        None => false,
    }
}

/// The media type of a stored manifest, read cheaply for serving it: the declared `mediaType`,
/// or for OCI documents without one, what their shape says.
pub fn stored_media_type(body: &[u8]) -> String {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Shape {
        media_type: Option<String>,
        manifests: Option<serde::de::IgnoredAny>,
        schema_version: Option<i64>,
        signatures: Option<serde::de::IgnoredAny>,
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(Shape {
            media_type: Some(media_type),
            ..
        }) => media_type,
        Ok(Shape {
            manifests: Some(_), ..
        }) => OCI_INDEX.to_owned(),
        Ok(Shape {
            schema_version: Some(1),
            signatures,
            ..
        }) => {
            if signatures.is_some() {
                DOCKER_SCHEMA1_SIGNED.to_owned()
            } else {
                DOCKER_SCHEMA1.to_owned()
            }
        }
        _ => OCI_MANIFEST.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}",
            "config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D1}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{D1}","size":0}}]{extra}}}"#
        )
    }

    #[test]
    fn parses_an_image_manifest() {
        let m = ParsedManifest::parse(image("").as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(m.kind, ManifestKind::Image);
        assert_eq!(m.required_blobs().count(), 2);
        let digest = D1.parse().unwrap();
        let r = m.referrer_entry(&digest, 10);
        assert_eq!(
            r.artifact_type,
            Some("application/vnd.oci.image.config.v1+json")
        );
    }

    #[test]
    fn infers_the_type_of_oci_documents_without_media_type() {
        let body = r#"{"schemaVersion":2,"manifests":[]}"#;
        let m = ParsedManifest::parse(body.as_bytes(), None).unwrap();
        assert_eq!(m.media_type, OCI_INDEX);
    }

    #[test]
    fn refuses_invalid_manifests() {
        let cases = [
            ("not json".to_owned(), "expected"),
            ("[]".to_owned(), "invalid type"),
            (
                r#"{"schemaVersion":1,"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#.to_owned(),
                "schema 1 manifests are deprecated",
            ),
            (
                r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#.to_owned(),
                "config",
            ),
            (image("").replace(D1, "sha256:bad"), "sha256:bad"),
            (image("").replace("\"size\":2", "\"size\":-2"), "invalid value"),
            (
                r#"{"schemaVersion":2,"mediaType":"text/plain","manifests":[]}"#.to_owned(),
                "unsupported manifest media type text/plain",
            ),
            (image("").replace("\"schemaVersion\":2", "\"schemaVersion\":3"), "schemaVersion must be 2"),
        ];
        for (body, reason) in cases {
            let error = ParsedManifest::parse(body.as_bytes(), None).expect_err(&body);
            assert!(error.0.contains(reason), "{body}: {error}");
        }
        // Content-Type contradicting the document's mediaType.
        let error = ParsedManifest::parse(image("").as_bytes(), Some(OCI_INDEX)).unwrap_err();
        assert!(error.0.contains("does not match Content-Type"), "{error}");
    }

    /// A well-formed, signed schema 1 manifest (as `docker push` of Docker 1.x sent them) is
    /// refused by policy, with or without its Content-Type, not for failing to parse.
    #[test]
    fn refuses_signed_schema1_by_policy() {
        let signed = r#"{
   "schemaVersion": 1,
   "name": "library/hello",
   "tag": "latest",
   "architecture": "amd64",
   "fsLayers": [
      {"blobSum": "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}
   ],
   "history": [
      {"v1Compatibility": "{\"id\":\"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5\",\"created\":\"2016-01-01T00:00:00Z\"}"}
   ],
   "signatures": [
      {
         "header": {
            "jwk": {
               "crv": "P-256",
               "kid": "OD6I:6DRK:JXEJ:KBM4:255X:NSAA:MUSF:E4VM:ZI6W:CUN2:L4Z6:LSF4",
               "kty": "EC",
               "x": "3gAwX48IQ5oaYQAYSxor6rYYc_6yjuLCjtQ9LUakg4A",
               "y": "t72ge6kIA1XOjqjVoEOiPPAURltJFBMGDSQvEGVB010"
            },
            "alg": "ES256"
         },
         "signature": "XREm0L8WNn27Ga_iE_vRnTxVMhhYY0Zst_FfkKopg6gWSoTOZTuW4rK0fg_IqnKkEKlbD83tD46LKEGi5aIVFg",
         "protected": "eyJmb3JtYXRMZW5ndGgiOjY2MjgsImZvcm1hdFRhaWwiOiJDbjAiLCJ0aW1lIjoiMjAxNS0wNC0wOFQxODo1Mjo1OVoifQ"
      }
   ]
}"#;
        for content_type in [Some(DOCKER_SCHEMA1_SIGNED), Some(DOCKER_SCHEMA1), None] {
            let error = ParsedManifest::parse(signed.as_bytes(), content_type).unwrap_err();
            assert_eq!(
                error.0, "Docker schema 1 manifests are deprecated and not accepted",
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn documents_must_say_what_they_are() {
        // Docker types need their mediaType field even with a matching Content-Type.
        let docker = image("").replace(OCI_MANIFEST, DOCKER_MANIFEST);
        let undeclared = docker.replace(&format!(r#""mediaType":"{DOCKER_MANIFEST}","#), "");
        assert!(ParsedManifest::parse(docker.as_bytes(), Some(DOCKER_MANIFEST)).is_ok());
        assert!(ParsedManifest::parse(undeclared.as_bytes(), Some(DOCKER_MANIFEST)).is_err());
        let list = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(ParsedManifest::parse(list.as_bytes(), Some(DOCKER_MANIFEST_LIST)).is_err());
        // An OCI index without mediaType is recognised by its manifests, so it needs them.
        let bare_index = r#"{"schemaVersion":2}"#;
        assert!(ParsedManifest::parse(bare_index.as_bytes(), Some(OCI_INDEX)).is_err());
        let oci = image("").replace(&format!(r#""mediaType":"{OCI_MANIFEST}","#), "");
        let parsed = ParsedManifest::parse(oci.as_bytes(), Some(OCI_MANIFEST)).unwrap();
        assert_eq!(parsed.media_type, OCI_MANIFEST);
    }

    #[test]
    fn reads_subject_and_artifact_type() {
        let extra = format!(
            r#","artifactType":"application/example","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","size":5}},"annotations":{{"a":"b"}}"#
        );
        let m = ParsedManifest::parse(image(&extra).as_bytes(), None).unwrap();
        assert_eq!(m.subject.as_ref().map(|s| s.size), Some(5));
        let digest = D1.parse().unwrap();
        let r = m.referrer_entry(&digest, 1);
        assert_eq!(r.artifact_type, Some("application/example"));
        // It serializes as the descriptor it stands for.
        let json = serde_json::to_vec(&r).unwrap();
        let descriptor: Descriptor = serde_json::from_slice(&json).unwrap();
        assert_eq!(descriptor.digest, digest);
        assert_eq!(descriptor.media_type, OCI_MANIFEST);
        assert_eq!(descriptor.size, 1);
        assert_eq!(
            descriptor.artifact_type.as_deref(),
            Some("application/example")
        );
        assert_eq!(
            descriptor.annotations.unwrap().get("a").map(String::as_str),
            Some("b")
        );
    }

    const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

    fn assert_refused(body: &str, why: &str) {
        match ParsedManifest::parse(body.as_bytes(), None) {
            Err(InvalidManifest(message)) => {
                assert!(
                    message.contains(why),
                    "{message:?} should say {why:?}: {body}"
                )
            }
            Ok(_) => panic!("accepted: {body}"),
        }
    }

    #[test]
    fn refuses_keys_given_twice() {
        let d2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
        let layer =
            |digest: &str| format!(r#"{{"mediaType":"{LAYER}","digest":"{digest}","size":0}}"#);
        let cases = [
            // Top level.
            image(&format!(r#","layers":[{}]"#, layer(d2))),
            image(r#","schemaVersion":2"#),
            image(&format!(r#","mediaType":"{OCI_INDEX}""#)),
            image(&format!(
                r#","config":{{"mediaType":"{OCI_MANIFEST}","digest":"{d2}","size":2}}"#
            )),
            // Escaped spellings are the same key.
            image(&format!(r#","l\u0061yers":[{}]"#, layer(d2))),
            // In descriptors: a layer, the config, an index entry, the subject.
            image("").replace(r#""size":0}"#, &format!(r#""size":0,"digest":"{d2}"}}"#)),
            image("").replace(r#""size":2}"#, r#""size":2,"size":3}"#),
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{D1}","digest":"{d2}","size":1}}]}}"#
            ),
            image(&format!(
                r#","subject":{{"mediaType":"{OCI_MANIFEST}","mediaType":"{OCI_INDEX}","digest":"{D1}","size":5}}"#
            )),
            // Annotations, which go into the referrers index.
            image(r#","annotations":{"a":"1","a":"2"}"#),
        ];
        for body in cases {
            assert_refused(&body, "duplicate key");
        }
    }

    #[test]
    fn refuses_keys_that_go_reads_as_known_fields() {
        let cases = [
            image("").replace(r#""layers""#, r#""Layers""#),
            image(r#","Layers":[]"#),
            image("").replace(
                r#""mediaType":"application/vnd.oci.image.manifest"#,
                r#""MediaType":"application/vnd.oci.image.manifest"#,
            ),
            image("").replace(r#""schemaVersion""#, r#""SCHEMAVERSION""#),
            image("").replace(r#""layers""#, r#""layer\u017f""#),
            image("").replace(r#""layers""#, "\"layer\u{017F}\""),
            image(r#","Annotations":{}"#),
            // In a descriptor.
            image("").replace(r#""size":0}"#, &format!(r#""size":0,"Digest":"{D1}"}}"#)),
            image("").replace(r#""size":2}"#, r#""size":2,"Size":3}"#),
            image("").replace(r#""size":2}"#, r#""size":2,"artifacttype":"x/y"}"#),
        ];
        for body in cases {
            assert_refused(&body, "ambiguous key");
        }
    }

    #[test]
    fn other_keys_are_not_read() {
        // Keys nothing reads may repeat or vary in case: no reader takes them for a field.
        let body = image(r#","x-note":1,"x-note":2,"X-Note":3"#);
        assert!(ParsedManifest::parse(body.as_bytes(), None).is_ok());
        let body = image("")
            .replace(r#""size":0}"#, r#""size":0,"data":"","Data":"x""#)
            .replace(r#""x""#, r#""x"}"#);
        assert!(
            ParsedManifest::parse(body.as_bytes(), None).is_ok(),
            "{body}"
        );
    }
}
