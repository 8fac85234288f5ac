//! Micro-benchmarks of the request hot paths: `cargo bench -p registry-core`.
//!
//! Digest verification (parsing a client's digest, hashing a body, comparing), manifest
//! parsing (what every manifest PUT does), and storage path building (what every request does
//! before touching storage).

use std::hint::black_box;
use std::str::FromStr;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use registry_core::domain::{Algorithm, Digest, DigestHasher, ParsedManifest, RepositoryName, Tag};
use registry_core::layout;
use registry_core::storage::StoragePath;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

fn digest_of(seed: usize) -> Digest {
    Digest::sha256_of(format!("content {seed}").as_bytes())
}

/// An OCI image manifest with `layers` layers, as clients push them.
fn image_manifest(layers: usize) -> Vec<u8> {
    let layer = |i: usize| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest_of(i).to_string(),
            "size": 1000 + i,
        })
    };
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": digest_of(9999).to_string(),
            "size": 1469,
        },
        "layers": (0..layers).map(layer).collect::<Vec<_>>(),
        "annotations": {"org.opencontainers.image.created": "2026-11-28T00:00:00Z"},
    }))
    .expect("manifest JSON")
}

/// A multi-platform index of `platforms` manifests.
fn image_index(platforms: usize) -> Vec<u8> {
    let entry = |i: usize| {
        serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest_of(i).to_string(),
            "size": 2000 + i,
            "platform": {"architecture": format!("arch{i}"), "os": "linux"},
        })
    };
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": (0..platforms).map(entry).collect::<Vec<_>>(),
    }))
    .expect("index JSON")
}

fn digest_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("digest");
    let text = digest_of(1).to_string();
    group.bench_function("parse sha256 digest", |b| {
        b.iter(|| Digest::from_str(black_box(&text)).expect("valid digest"))
    });
    for size in [4 * 1024, 1024 * 1024] {
        let body = vec![0x5au8; size];
        let expected = Digest::sha256_of(&body);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("verify body", size), &body, |b, body| {
            b.iter(|| {
                let mut hasher = DigestHasher::new(Algorithm::Sha256);
                hasher.update(black_box(body));
                assert_eq!(hasher.finish(), expected);
            })
        });
    }
    let mut hasher = DigestHasher::new(Algorithm::Sha256);
    hasher.update(&[1u8; 100_000]);
    group.throughput(Throughput::Elements(1));
    group.bench_function("save and restore upload hash state", |b| {
        b.iter(|| {
            let saved = black_box(&hasher).save_state();
            DigestHasher::restore_state(Algorithm::Sha256, &saved).expect("state")
        })
    });
    group.finish();
}

fn manifest_parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("manifest");
    for layers in [1, 10, 100] {
        let body = image_manifest(layers);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse image manifest, layers", layers),
            &body,
            |b, body| {
                b.iter(|| {
                    ParsedManifest::parse(black_box(body), Some(OCI_MANIFEST)).expect("valid")
                })
            },
        );
    }
    let index = image_index(8);
    group.throughput(Throughput::Bytes(index.len() as u64));
    group.bench_function("parse index of 8 platforms", |b| {
        b.iter(|| ParsedManifest::parse(black_box(&index), Some(OCI_INDEX)).expect("valid"))
    });
    group.finish();
}

fn path_building(c: &mut Criterion) {
    let mut group = c.benchmark_group("paths");
    let name = RepositoryName::from_str("library/ubuntu").expect("name");
    let tag = Tag::from_str("24.04").expect("tag");
    let digest = digest_of(7);
    group.bench_function("parse repository name", |b| {
        b.iter(|| RepositoryName::from_str(black_box("team/project/service")).expect("name"))
    });
    group.bench_function("tag current link", |b| {
        b.iter(|| layout::tag_current_link(black_box(&name), black_box(&tag)))
    });
    group.bench_function("revision link", |b| {
        b.iter(|| layout::revision_link(black_box(&name), black_box(&digest)))
    });
    group.bench_function("blob data", |b| {
        b.iter(|| layout::blob_data(black_box(&digest)))
    });
    let path = layout::revision_link(&name, &digest);
    group.bench_function("validate storage path", |b| {
        b.iter(|| StoragePath::parse(black_box(&path)).expect("valid path"))
    });
    group.finish();
}

criterion_group!(
    hot_paths,
    digest_verification,
    manifest_parsing,
    path_building
);
criterion_main!(hot_paths);
