//! The pull-through cache: a cold and a warm pull of a multi-layer image through this
//! registry as a cache and through the reference (CNCF Distribution 2.8) as a cache, both
//! started from the same `config.yml` over the same upstream (this registry, on loopback).
//! A pull is what a client does: the manifest by tag, then every blob, three at a time
//! (docker's default), each read to the end and checked against its digest.
//!
//! Run alone with `cargo xtask bench --only proxy`; writes docs/BENCHMARKS-proxy.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Client;
use sha2::{Digest, Sha256};

use super::Options;
use super::measure::median;
use crate::e2e::registry::{Backend, Kind, start_ours, start_with_config};
use crate::process::{Result, free_port};

const MIB: usize = 1024 * 1024;
const REPO: &str = "bench/proxied";
const TAG: &str = "v1";
/// Blobs pulled at once, as docker does by default.
const PARALLEL: usize = 3;

/// Layers and their size.
fn image_shape(options: &Options) -> (usize, usize) {
    if options.quick {
        (4, 4 * MIB)
    } else {
        (8, 32 * MIB)
    }
}

/// Medians of one cache's pulls.
pub struct Row {
    pub kind: Kind,
    pub cold_ms: f64,
    pub warm_ms: f64,
}

pub fn run(options: &Options, binary: &Path, work: &Path) -> Result<(Vec<Row>, u64)> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let upstream_dir = work.join("proxy-upstream");
    let storage = Backend::Filesystem.storage_yaml(&upstream_dir.join("root"), "");
    let upstream = start_ours(binary, &upstream_dir, &storage, "")?;
    let client = Client::builder()
        .pool_max_idle_per_host(16)
        .build()
        .map_err(|e| e.to_string())?;
    let (layers, size) = image_shape(options);
    let total = runtime.block_on(push_image(&client, &upstream.host, layers, size))?;

    let mut times: Vec<(Kind, Vec<f64>, Vec<f64>)> = Vec::new();
    for kind in [Kind::Ours, Kind::Reference] {
        times.push((kind, Vec::new(), Vec::new()));
    }
    for round in 0..options.rounds {
        for (kind, cold, warm) in &mut times {
            println!(
                "xtask bench: proxy round {} of {}, {}",
                round + 1,
                options.rounds,
                kind.name()
            );
            let dir = work.join(format!("proxy-{}-{round}", kind.name()));
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let port = free_port()?;
            let config = dir.join("config.yml");
            let yaml = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: bench-cache\nproxy:\n  remoteurl: http://{}\n",
                dir.join("root").display(),
                upstream.host
            );
            std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
            let cache = start_with_config(*kind, binary, &config, port, &dir.join("cache.log"))?;
            // A fresh client per cache: no connection carries over.
            let client = Client::builder()
                .pool_max_idle_per_host(16)
                .build()
                .map_err(|e| e.to_string())?;
            let first = runtime.block_on(pull(&client, &cache.host))?;
            let second = runtime.block_on(pull(&client, &cache.host))?;
            cold.push(first.as_secs_f64() * 1000.0);
            warm.push(second.as_secs_f64() * 1000.0);
            drop(cache);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    drop(upstream);
    let rows = times
        .into_iter()
        .map(|(kind, mut cold, mut warm)| Row {
            kind,
            cold_ms: median(&mut cold),
            warm_ms: median(&mut warm),
        })
        .collect();
    Ok((rows, total))
}

/// Pushes the image (config, `layers` random layers of `size` bytes, manifest) to the
/// upstream; its total size.
async fn push_image(client: &Client, host: &str, layers: usize, size: usize) -> Result<u64> {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#
            .to_vec();
    let config_digest = push_blob(client, host, config.clone()).await?;
    let mut descriptors = Vec::new();
    let mut total = config.len() as u64;
    for i in 0..layers {
        let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (i as u64 + 1);
        let data: Vec<u8> = (0..size)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let digest = push_blob(client, host, data).await?;
        total += size as u64;
        descriptors.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": digest,
            "size": size,
        }));
    }
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": descriptors,
    });
    let response = client
        .put(format!("http://{host}/v2/{REPO}/manifests/{TAG}"))
        .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        .body(manifest.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::CREATED {
        return Err(format!("pushing the manifest: {}", response.status()));
    }
    Ok(total)
}

async fn push_blob(client: &Client, host: &str, data: Vec<u8>) -> Result<String> {
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(&data)));
    let response = client
        .post(format!(
            "http://{host}/v2/{REPO}/blobs/uploads/?digest={digest}"
        ))
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != reqwest::StatusCode::CREATED {
        return Err(format!("pushing a blob: {}", response.status()));
    }
    Ok(digest)
}

/// One pull of the image through `host`; how long it took.
async fn pull(client: &Client, host: &str) -> Result<Duration> {
    let started = Instant::now();
    let manifest: serde_json::Value = client
        .get(format!("http://{host}/v2/{REPO}/manifests/{TAG}"))
        .header("Accept", "application/vnd.oci.image.manifest.v1+json")
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("manifest: {e}"))?
        .json()
        .await
        .map_err(|e| format!("manifest: {e}"))?;
    let mut digests = vec![
        manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ];
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        digests.push(layer["digest"].as_str().unwrap_or_default().to_owned());
    }
    let results: Vec<Result> = futures::stream::iter(digests)
        .map(|digest| fetch_blob(client, host, digest))
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    results.into_iter().collect::<Result>()?;
    Ok(started.elapsed())
}

async fn fetch_blob(client: &Client, host: &str, digest: String) -> Result {
    let response = client
        .get(format!("http://{host}/v2/{REPO}/blobs/{digest}"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("blob {digest}: {e}"))?;
    let mut hasher = Sha256::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        hasher.update(chunk.map_err(|e| format!("blob {digest}: {e}"))?);
    }
    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
    if actual != digest {
        return Err(format!("blob {digest} arrived as {actual}"));
    }
    Ok(())
}

pub fn markdown(rows: &[Row], total: u64, options: &Options) -> String {
    let mut out = String::new();
    let (layers, size) = image_shape(options);
    let _ = writeln!(out, "# Pull-through cache: cold and warm pulls\n");
    let _ = writeln!(
        out,
        "An image of {layers} layers of {} MiB ({:.1} MiB in all) pulled through each registry \
         as a cache of the same upstream (this registry, loopback, filesystem), blobs {PARALLEL} \
         at a time, each checked against its digest. Cold: the cache is empty; warm: the same \
         pull again. Medians of {} rounds. `cargo xtask bench --only proxy`.\n",
        size / MIB,
        total as f64 / MIB as f64,
        options.rounds
    );
    let _ = writeln!(
        out,
        "| cache | cold pull (ms) | cold MB/s | warm pull (ms) | warm MB/s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    let rate = |ms: f64| total as f64 / 1e6 / (ms / 1000.0);
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |",
            row.kind.name(),
            row.cold_ms,
            rate(row.cold_ms),
            row.warm_ms,
            rate(row.warm_ms)
        );
    }
    let find = |kind: Kind| rows.iter().find(|r| r.kind == kind);
    if let (Some(ours), Some(reference)) = (find(Kind::Ours), find(Kind::Reference)) {
        let _ = writeln!(
            out,
            "\nTime ours / reference: cold {:.2}, warm {:.2} (below 1 is faster).",
            ours.cold_ms / reference.cold_ms,
            ours.warm_ms / reference.warm_ms
        );
    }
    out
}
