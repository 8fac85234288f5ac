//! Deserializing manifests and descriptors with the key rules of [`super::json_keys`]: each
//! field at most once, spelled exactly. Written out rather than derived because a derived
//! `Deserialize` cannot see duplicate or case-variant keys; it reads the document in the same
//! single pass (keys without escapes are borrowed, unknown values skipped unparsed).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::digest::Digest;
use super::json_keys::{Fields, Key, UniqueMap};
use super::manifest::Descriptor;

const DESCRIPTOR_FIELDS: &[&str] = &[
    "mediaType",
    "digest",
    "size",
    "artifactType",
    "annotations",
    "urls",
    "platform",
];

const MANIFEST_FIELDS: &[&str] = &[
    "schemaVersion",
    "mediaType",
    "config",
    "layers",
    "manifests",
    "subject",
    "artifactType",
    "annotations",
];

/// The fields of a manifest or index the registry reads.
pub(super) struct RawManifest {
    pub schema_version: Option<i64>,
    pub media_type: Option<String>,
    pub config: Option<Descriptor>,
    pub layers: Option<Vec<Descriptor>>,
    pub manifests: Option<Vec<Descriptor>>,
    pub subject: Option<Descriptor>,
    pub artifact_type: Option<String>,
    pub annotations: Option<BTreeMap<String, String>>,
}

fn annotations<'de, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Option<BTreeMap<String, String>>, A::Error> {
    Ok(map.next_value::<Option<UniqueMap>>()?.map(|m| m.0))
}

impl<'de> Deserialize<'de> for RawManifest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ManifestVisitor;
        impl<'de> Visitor<'de> for ManifestVisitor {
            type Value = RawManifest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a manifest object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawManifest, A::Error> {
                let mut fields = Fields::new(MANIFEST_FIELDS);
                let mut m = RawManifest {
                    schema_version: None,
                    media_type: None,
                    config: None,
                    layers: None,
                    manifests: None,
                    subject: None,
                    artifact_type: None,
                    annotations: None,
                };
                while let Some(key) = map.next_key::<Key<'_>>()? {
                    match fields.field(&key.0)? {
                        Some("schemaVersion") => m.schema_version = map.next_value()?,
                        Some("mediaType") => m.media_type = map.next_value()?,
                        Some("config") => m.config = map.next_value()?,
                        Some("layers") => m.layers = map.next_value()?,
                        Some("manifests") => m.manifests = map.next_value()?,
                        Some("subject") => m.subject = map.next_value()?,
                        Some("artifactType") => m.artifact_type = map.next_value()?,
                        Some("annotations") => m.annotations = annotations(&mut map)?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(m)
            }
        }
        deserializer.deserialize_map(ManifestVisitor)
    }
}

impl<'de> Deserialize<'de> for Descriptor {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DescriptorVisitor;
        impl<'de> Visitor<'de> for DescriptorVisitor {
            type Value = Descriptor;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a descriptor object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Descriptor, A::Error> {
                let mut fields = Fields::new(DESCRIPTOR_FIELDS);
                let (mut media_type, mut digest, mut size) = (None, None, None);
                let (mut artifact_type, mut annotations_, mut urls, mut platform) =
                    (None, None, None, None);
                while let Some(key) = map.next_key::<Key<'_>>()? {
                    match fields.field(&key.0)? {
                        Some("mediaType") => media_type = Some(map.next_value::<String>()?),
                        Some("digest") => digest = Some(map.next_value::<Digest>()?),
                        Some("size") => size = Some(map.next_value::<u64>()?),
                        Some("artifactType") => artifact_type = map.next_value()?,
                        Some("annotations") => annotations_ = annotations(&mut map)?,
                        Some("urls") => urls = map.next_value()?,
                        Some("platform") => platform = map.next_value()?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(Descriptor {
                    media_type: media_type.ok_or_else(|| de::Error::missing_field("mediaType"))?,
                    digest: digest.ok_or_else(|| de::Error::missing_field("digest"))?,
                    size: size.ok_or_else(|| de::Error::missing_field("size"))?,
                    artifact_type,
                    annotations: annotations_,
                    urls,
                    platform,
                })
            }
        }
        deserializer.deserialize_map(DescriptorVisitor)
    }
}
