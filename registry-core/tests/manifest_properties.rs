//! Properties of manifest parsing, through the public API of `domain::manifest`: any body and
//! Content-Type is accepted or refused (never a panic); what is accepted is consistent (its kind
//! matches its shape, and it is served as the type it was accepted as); well-formed manifests
//! and indexes from a generator are accepted with what they say.

use proptest::prelude::*;
use registry_core::domain::Digest;
use registry_core::domain::manifest::{ManifestKind, ParsedManifest, stored_media_type};
use registry_core::domain::media_types::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_SCHEMA1, FOREIGN_LAYERS, MANIFESTS, OCI_INDEX,
    OCI_MANIFEST,
};
use serde_json::{Value, json};

const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

fn digest() -> impl Strategy<Value = Digest> {
    proptest::collection::vec(any::<u8>(), 0..16).prop_map(|d| Digest::sha256_of(&d))
}

fn descriptor(media_type: impl Strategy<Value = String>) -> impl Strategy<Value = Value> {
    (media_type, digest(), 0u64..1_000_000)
        .prop_map(|(m, d, size)| json!({"mediaType": m, "digest": d.as_str(), "size": size}))
}

fn layer_type() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(LAYER.to_owned()),
        1 => proptest::sample::select(FOREIGN_LAYERS).prop_map(str::to_owned),
    ]
}

/// A well-formed image manifest (OCI or Docker) or index (OCI or Docker), with its type.
fn valid_manifest() -> impl Strategy<Value = (String, Value)> {
    let image = (
        proptest::sample::select(vec![OCI_MANIFEST, DOCKER_MANIFEST]),
        descriptor(Just(CONFIG.to_owned())),
        proptest::collection::vec(descriptor(layer_type()), 0..5),
        proptest::option::of(descriptor(Just(OCI_MANIFEST.to_owned()))),
    )
        .prop_map(|(media_type, config, layers, subject)| {
            let mut m = json!({"schemaVersion": 2, "mediaType": media_type, "config": config, "layers": layers});
            if let Some(subject) = subject {
                m["subject"] = subject;
            }
            (media_type.to_owned(), m)
        });
    let index = (
        proptest::sample::select(vec![OCI_INDEX, DOCKER_MANIFEST_LIST]),
        proptest::collection::vec(descriptor(Just(OCI_MANIFEST.to_owned())), 0..5),
    )
        .prop_map(|(media_type, manifests)| {
            let m = json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests});
            (media_type.to_owned(), m)
        });
    prop_oneof![image, index]
}

/// Near-valid JSON: a valid manifest with one field removed, replaced or added.
fn mutated_manifest() -> impl Strategy<Value = Value> {
    let field = proptest::sample::select(vec![
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "subject",
        "artifactType",
        "annotations",
        "signatures",
    ]);
    let replacement = prop_oneof![
        Just(Value::Null),
        Just(json!(1)),
        Just(json!(2)),
        Just(json!(-1)),
        Just(json!(1e300)),
        Just(json!("")),
        Just(json!([])),
        Just(json!({})),
        Just(json!(DOCKER_SCHEMA1)),
        Just(json!(OCI_INDEX)),
        Just(json!("text/plain")),
        Just(json!("not a/media type")),
        Just(json!({"mediaType": LAYER, "digest": "sha256:short", "size": 1})),
        Just(json!({"mediaType": LAYER, "digest": Digest::sha256_of(b"").as_str(), "size": -1})),
        Just(json!([{"mediaType": "", "digest": Digest::sha256_of(b"").as_str(), "size": 0}])),
        Just(json!({"a": 1})),
    ];
    (valid_manifest(), field, proptest::option::of(replacement)).prop_map(
        |((_, mut m), field, value)| {
            if let Value::Object(map) = &mut m {
                match value {
                    Some(value) => map.insert(field.to_owned(), value),
                    None => map.remove(field),
                };
            }
            m
        },
    )
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        proptest::sample::select(MANIFESTS).prop_map(str::to_owned),
        Just(format!("{OCI_MANIFEST}; charset=utf-8")),
        Just(format!("  {}  ", OCI_INDEX.to_uppercase())),
        Just(DOCKER_SCHEMA1.to_owned()),
        Just("application/json".to_owned()),
        Just(String::new()),
        "[ -~]{0,20}",
    ])
}

/// What every accepted manifest satisfies.
fn check_accepted(body: &[u8], parsed: &ParsedManifest) -> Result<(), TestCaseError> {
    prop_assert!(MANIFESTS.contains(&parsed.media_type.as_str()));
    prop_assert_eq!(stored_media_type(body), parsed.media_type.clone());
    match parsed.kind {
        ManifestKind::Image => {
            prop_assert!(parsed.config.is_some() && parsed.manifests.is_empty());
            prop_assert!([OCI_MANIFEST, DOCKER_MANIFEST].contains(&parsed.media_type.as_str()));
        }
        ManifestKind::Index => {
            prop_assert!(parsed.config.is_none() && parsed.layers.is_empty());
            prop_assert!([OCI_INDEX, DOCKER_MANIFEST_LIST].contains(&parsed.media_type.as_str()));
        }
    }
    let foreign = parsed
        .layers
        .iter()
        .filter(|l| FOREIGN_LAYERS.contains(&l.media_type.as_str()))
        .count();
    prop_assert_eq!(
        parsed.required_blobs().count(),
        usize::from(parsed.config.is_some()) + parsed.layers.len() - foreign
    );
    prop_assert_eq!(parsed.required_manifests().count(), parsed.manifests.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_bytes_are_accepted_or_refused(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        content_type in content_type(),
    ) {
        if let Ok(parsed) = ParsedManifest::parse(&body, content_type.as_deref()) {
            check_accepted(&body, &parsed)?;
        }
        let _ = stored_media_type(&body);
    }

    #[test]
    fn near_valid_manifests_are_consistent_when_accepted(
        manifest in mutated_manifest(),
        content_type in content_type(),
        cut in proptest::option::of(0usize..2000),
    ) {
        let mut body = serde_json::to_vec(&manifest).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // Truncated bodies, as a client that stops sending midway leaves them.
        if let Some(cut) = cut {
            body.truncate(cut);
        }
        if let Ok(parsed) = ParsedManifest::parse(&body, content_type.as_deref()) {
            check_accepted(&body, &parsed)?;
        }
    }

    #[test]
    fn valid_manifests_are_accepted_with_what_they_say(
        (media_type, manifest) in valid_manifest(),
        with_header in any::<bool>(),
        pretty in any::<bool>(),
    ) {
        let body = if pretty {
            serde_json::to_vec_pretty(&manifest)
        } else {
            serde_json::to_vec(&manifest)
        }
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let header = with_header.then_some(media_type.as_str());
        let parsed = ParsedManifest::parse(&body, header)
            .map_err(|e| TestCaseError::fail(format!("{e}: {manifest}")))?;
        check_accepted(&body, &parsed)?;
        prop_assert_eq!(&parsed.media_type, &media_type);
        let count = |key: &str| manifest[key].as_array().map_or(0, Vec::len);
        prop_assert_eq!(parsed.layers.len(), count("layers"));
        prop_assert_eq!(parsed.manifests.len(), count("manifests"));
        for (descriptor, raw) in parsed.layers.iter().chain(&parsed.manifests).zip(
            manifest["layers"].as_array().into_iter().chain(manifest["manifests"].as_array()).flatten(),
        ) {
            prop_assert_eq!(descriptor.digest.as_str(), raw["digest"].as_str().unwrap_or_default());
            prop_assert_eq!(Some(descriptor.size), raw["size"].as_u64());
        }
        prop_assert_eq!(parsed.subject.is_some(), manifest.get("subject").is_some());
    }

    #[test]
    fn a_contradicting_content_type_is_refused(
        (media_type, manifest) in valid_manifest(),
        other in proptest::sample::select(MANIFESTS),
    ) {
        prop_assume!(other != media_type);
        let body = serde_json::to_vec(&manifest).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(ParsedManifest::parse(&body, Some(other)).is_err());
    }
}
