//! The shared blob-descriptor cache (issue 14): blob HEAD and manifest GET by digest on the
//! S3 emulator (s3s-fs) without a cache, with the Redis cache, and through two instances that
//! share the bucket and the Redis (the load split across both), for this registry and for the
//! reference (CNCF Distribution 2.8) started from the same kind of `config.yml`.
//!
//! Besides rates, each row reports the storage operations per request: the delta of the
//! storage-operation counter on every instance's `/metrics` (debug listener) over the
//! measured window, divided by the responses `hey` received. Ours counts
//! `registry_storage_operations_total` (the metered driver under the cache, so cache hits
//! are not counted); the reference counts `registry_storage_action_seconds_count` (its base
//! driver's timer, one observation per driver call).
//!
//! Run alone with `cargo xtask bench --only cache`; writes docs/BENCHMARKS-cache.md.

use std::fmt::Write as _;
use std::path::Path;

use reqwest::Client;

use super::Options;
use super::client::{push_image, sha256_digest};
use super::load::{LoadResult, hey_counting};
use super::measure::median;
use crate::e2e::registry::{Backend, Kind, RunningRegistry, start_with_config};
use crate::emulators::{redis, s3};
use crate::process::{Result, Service, free_port};

/// As the other request-rate rows: 50 connections in all (split across two instances).
const CONCURRENCY: usize = 50;
const REPO: &str = "bench/cached";
const TAG: &str = "v1";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// One key prefix in the bucket for every instance: they serve the same data.
const ROOT: &str = "-cachebench";

/// How the registry under load is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setup {
    NoCache,
    Redis,
    TwoInstances,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::NoCache, Setup::Redis, Setup::TwoInstances];

    fn label(self) -> &'static str {
        match self {
            Setup::NoCache => "S3, no cache",
            Setup::Redis => "S3 + Redis",
            Setup::TwoInstances => "S3 + Redis, two instances",
        }
    }
}

/// The requests measured: label, method, path under `/v2/<repo>/`.
struct Request {
    label: &'static str,
    method: &'static str,
    path: String,
}

/// Medians of one row over the rounds.
pub struct Row {
    pub kind: Kind,
    pub request: &'static str,
    pub setup: Setup,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub ops_per_request: f64,
}

/// One instance and where its metrics are.
struct Instance {
    registry: RunningRegistry,
    metrics_url: String,
}

/// The instances of one registry kind: one without a cache, two sharing one Redis.
struct Instances {
    no_cache: Instance,
    cached: [Instance; 2],
}

impl Instances {
    fn of(&self, setup: Setup) -> Vec<&Instance> {
        match setup {
            Setup::NoCache => vec![&self.no_cache],
            Setup::Redis => vec![&self.cached[0]],
            Setup::TwoInstances => self.cached.iter().collect(),
        }
    }
}

/// The same `config.yml` shape for both registries: the S3 driver on s3s-fs, redirects off
/// (the registry answers itself), the debug listener with Prometheus metrics, and with
/// `redis_port` the Redis blob-descriptor cache.
fn start(
    kind: Kind,
    binary: &Path,
    dir: &Path,
    s3_env: &[(String, String)],
    redis_port: Option<u16>,
) -> Result<Instance> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let debug_port = free_port()?;
    let storage = Backend::S3(s3_env.to_vec()).storage_yaml(Path::new(""), ROOT);
    let (cache, redis) = match redis_port {
        Some(p) => (
            "  cache:\n    blobdescriptor: redis\n".to_owned(),
            format!("redis:\n  addr: 127.0.0.1:{p}\n"),
        ),
        None => (String::new(), String::new()),
    };
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n{storage}{cache}  redirect:\n    disable: true\n{redis}http:\n  addr: 127.0.0.1:{port}\n  secret: bench-cache-secret\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n      path: /metrics\n"
    );
    let config = dir.join("config.yml");
    std::fs::write(&config, yaml).map_err(|e| format!("{}: {e}", config.display()))?;
    let registry = start_with_config(kind, binary, &config, port, &dir.join("registry.log"))?;
    Ok(Instance {
        registry,
        metrics_url: format!("http://127.0.0.1:{debug_port}/metrics"),
    })
}

/// The storage-operation counter summed over its labels, from one instance's `/metrics`.
async fn storage_operations(client: &Client, instance: &Instance) -> Result<f64> {
    let text = client
        .get(&instance.metrics_url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("{}: {e}", instance.metrics_url))?
        .text()
        .await
        .map_err(|e| format!("{}: {e}", instance.metrics_url))?;
    let counters = [
        "registry_storage_operations_total{",
        "registry_storage_action_seconds_count{",
    ];
    // A counter with labels has no series until its first operation: an instance whose
    // every answer came from the cache (filled by the other one) shows none, which is 0.
    let mut total = 0.0;
    for line in text.lines() {
        if counters.iter().any(|c| line.starts_with(c)) {
            let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
            total += value.ok_or_else(|| format!("{}: bad line {line:?}", instance.metrics_url))?;
        }
    }
    Ok(total)
}

async fn storage_operations_of(client: &Client, instances: &[&Instance]) -> Result<f64> {
    let mut total = 0.0;
    for instance in instances {
        total += storage_operations(client, instance).await?;
    }
    Ok(total)
}

/// `hey` against every instance at once, the connections split evenly.
fn load(
    instances: &[&Instance],
    request: &Request,
    seconds: u64,
) -> Result<Vec<(LoadResult, u64)>> {
    let headers = vec![format!("Accept: {MANIFEST_TYPE}")];
    let concurrency = CONCURRENCY / instances.len();
    std::thread::scope(|scope| {
        let runs: Vec<_> = instances
            .iter()
            .map(|instance| {
                let url = format!(
                    "http://{}/v2/{REPO}/{}",
                    instance.registry.host, request.path
                );
                let headers = &headers;
                scope.spawn(move || {
                    hey_counting(&url, request.method, headers, concurrency, seconds, 10)
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().map_err(|_| "a hey thread panicked".to_owned())?)
            .collect()
    })
}

/// One measurement: requests per second (summed over instances), the worst instance's
/// p50 and p99, and storage operations per request.
fn measure(
    runtime: &tokio::runtime::Runtime,
    client: &Client,
    instances: &[&Instance],
    request: &Request,
    seconds: u64,
) -> Result<(LoadResult, f64)> {
    // Connections, and the cache filled by the first misses.
    load(instances, request, 1)?;
    let before = runtime.block_on(storage_operations_of(client, instances))?;
    let runs = load(instances, request, seconds)?;
    let after = runtime.block_on(storage_operations_of(client, instances))?;
    let responses: u64 = runs.iter().map(|(_, n)| n).sum();
    if responses == 0 {
        return Err(format!("{} {}: no responses", request.method, request.path));
    }
    let worst = |f: fn(&LoadResult) -> f64| runs.iter().map(|(r, _)| f(r)).fold(0.0, f64::max);
    let result = LoadResult {
        requests_per_second: runs.iter().map(|(r, _)| r.requests_per_second).sum(),
        p50_ms: worst(|r| r.p50_ms),
        p99_ms: worst(|r| r.p99_ms),
    };
    // The scrapes themselves touch no storage, so the delta is the load's alone.
    Ok((result, (after - before) / responses as f64))
}

pub fn run(options: &Options, binary: &Path, work: &Path) -> Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = Client::new();
    let s3 = s3::start()?;
    // One Redis per registry kind: their key layouts differ, and neither sees the other's.
    let redis_servers: Vec<(Service, u16)> = vec![redis::spawn(None)?, redis::spawn(None)?];

    let pusher = start(Kind::Ours, binary, &work.join("push"), &s3.env, None)?;
    let manifest = runtime.block_on(push_image(&client, &pusher.registry.host, REPO, TAG))?;
    drop(pusher);
    let requests = [
        Request {
            label: "blob HEAD",
            method: "HEAD",
            path: format!("blobs/{}", sha256_digest(&[7u8; 2048])),
        },
        Request {
            label: "manifest GET by digest",
            method: "GET",
            path: format!("manifests/{manifest}"),
        },
    ];
    let seconds = if options.quick { 3 } else { 5 };

    let mut rows = Vec::new();
    for (kind, (_, redis_port)) in [Kind::Ours, Kind::Reference]
        .into_iter()
        .zip(&redis_servers)
    {
        let dir = work.join(kind.name());
        let instances = Instances {
            no_cache: start(kind, binary, &dir.join("no-cache"), &s3.env, None)?,
            cached: [
                start(kind, binary, &dir.join("a"), &s3.env, Some(*redis_port))?,
                start(kind, binary, &dir.join("b"), &s3.env, Some(*redis_port))?,
            ],
        };
        for request in &requests {
            for setup in Setup::ALL {
                let mut rounds = Vec::new();
                for round in 0..options.rounds {
                    println!(
                        "xtask bench: cache round {} of {}, {}, {}, {}",
                        round + 1,
                        options.rounds,
                        kind.name(),
                        request.label,
                        setup.label()
                    );
                    rounds.push(measure(
                        &runtime,
                        &client,
                        &instances.of(setup),
                        request,
                        seconds,
                    )?);
                }
                let of = |f: &dyn Fn(&(LoadResult, f64)) -> f64| {
                    median(&mut rounds.iter().map(f).collect::<Vec<_>>())
                };
                let row = Row {
                    kind,
                    request: request.label,
                    setup,
                    rps: of(&|(r, _)| r.requests_per_second),
                    p50_ms: of(&|(r, _)| r.p50_ms),
                    p99_ms: of(&|(r, _)| r.p99_ms),
                    ops_per_request: of(&|(_, ops)| *ops),
                };
                println!(
                    "xtask bench:   {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {:.2} storage operations per request",
                    row.rps, row.p50_ms, row.p99_ms, row.ops_per_request
                );
                rows.push(row);
            }
        }
    }
    drop((redis_servers, s3));
    Ok(rows)
}

pub fn markdown(rows: &[Row], options: &Options) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Shared Redis cache: blob HEAD and manifest GET by digest\n"
    );
    let _ = writeln!(
        out,
        "Both registries on the S3 emulator (s3s-fs, loopback), redirects off, from the same \
         kind of `config.yml`; a 2 KiB layer and an OCI manifest. `hey` with {CONCURRENCY} \
         connections for {} s per measurement (two instances: {} each, at once, rates summed, \
         latencies of the slower instance), after 1 s of warm-up that also fills the cache. \
         Storage operations per request: the delta of the storage-operation counter on every \
         instance's `/metrics` over the measured window over the responses (ours: \
         `registry_storage_operations_total`, the driver under the cache; reference: \
         `registry_storage_action_seconds_count`). Medians of {} rounds{}, on a 2-core machine \
         shared with other work: compare rows of one run, not runs. `cargo xtask bench --only cache`.\n",
        if options.quick { 3 } else { 5 },
        CONCURRENCY / 2,
        options.rounds,
        if options.quick { ", quick mode" } else { "" },
    );
    let _ = writeln!(
        out,
        "| request | setup | registry | req/s | p50 (ms) | p99 (ms) | storage ops / request | req/s ours / reference |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|");
    let find = |kind: Kind, request: &str, setup: Setup| {
        rows.iter()
            .find(|r| r.kind == kind && r.request == request && r.setup == setup)
    };
    // In measured order, once each (the rows come registry by registry).
    let mut requests: Vec<&str> = Vec::new();
    for row in rows {
        if !requests.contains(&row.request) {
            requests.push(row.request);
        }
    }
    for request in requests {
        for setup in Setup::ALL {
            for kind in [Kind::Ours, Kind::Reference] {
                let Some(row) = find(kind, request, setup) else {
                    continue;
                };
                let ratio = match (kind, find(Kind::Reference, request, setup)) {
                    (Kind::Ours, Some(reference)) if reference.rps > 0.0 => {
                        format!("{:.2}x", row.rps / reference.rps)
                    }
                    _ => String::new(),
                };
                let _ = writeln!(
                    out,
                    "| {request} | {} | {} | {:.0} | {:.1} | {:.1} | {:.2} | {ratio} |",
                    setup.label(),
                    kind.name(),
                    row.rps,
                    row.p50_ms,
                    row.p99_ms,
                    row.ops_per_request
                );
            }
        }
    }
    out
}
