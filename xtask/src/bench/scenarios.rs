//! What one round measures, and the physical limits measured once.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Client;
use sha2::{Digest, Sha256};

use super::client::{
    pull, push_chunked, push_generated, push_image, push_many, push_monolithic, sha256_digest,
};
use super::load::hey;
use super::measure::{median, memory_kib, reset_peak};
use super::{Options, Round, Target};
use crate::e2e::registry::{Backend, RunningRegistry, start_ours, start_reference};
use crate::process::{Result, Service, free_port, wait_for_port};

const MIB: usize = 1024 * 1024;
const CONCURRENCY: usize = 50;

fn blob_bytes(options: &Options) -> usize {
    if options.quick { 64 * MIB } else { 256 * MIB }
}

fn load_seconds(options: &Options) -> u64 {
    if options.quick { 2 } else { 6 }
}

/// Deterministic, distinct content per seed.
fn content(len: usize, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap_or_default()
}

/// The limits: single-core sha256 of the same bytes with the same implementation (sha2, which
/// uses the CPU's SHA extensions), and nginx serving the same file with sendfile.
pub async fn limits(work: &Path, options: &Options) -> Result<Round> {
    let size = blob_bytes(options);
    let data = content(size, 99);
    let mut hash_rates = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let digest = Sha256::digest(&data);
        std::hint::black_box(digest);
        hash_rates.push(mb_per_s(size, started.elapsed()));
    }
    let mut round = Round::new();
    round.insert("sha256_limit_mbps".into(), median(&mut hash_rates));

    let dir = work.join("nginx");
    std::fs::create_dir_all(dir.join("www")).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("www/blob"), &data).map_err(|e| e.to_string())?;
    let port = free_port()?;
    let conf = format!(
        "worker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n  server {{ listen 127.0.0.1:{port}; root {dir}/www; }}\n}}\n",
        dir = dir.display()
    );
    std::fs::write(dir.join("nginx.conf"), conf).map_err(|e| e.to_string())?;
    let _nginx = Service::spawn(
        "nginx",
        Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .args(["-g", "daemon off;"])
            .stderr(Stdio::null()),
    )?;
    wait_for_port(port, Duration::from_secs(10), "nginx")?;
    let http = client();
    let url = format!("http://127.0.0.1:{port}/blob");
    let mut pulls = Vec::new();
    for _ in 0..5 {
        let (bytes, elapsed) = pull(&http, &url).await?;
        pulls.push(mb_per_s(bytes as usize, elapsed));
    }
    round.insert("nginx_sendfile_pull_mbps".into(), median(&mut pulls));
    Ok(round)
}

async fn start(target: Target, binary: &Path, dir: &Path) -> Result<(RunningRegistry, Duration)> {
    let root = dir.join("storage");
    let started = Instant::now();
    let registry = match target {
        Target::Ours => start_ours(
            binary,
            dir,
            &Backend::Filesystem.storage_yaml(&root, ""),
            "",
        )?,
        Target::Reference => start_reference(&root, dir)?,
    };
    let http = client();
    let url = format!("http://{}/v2/", registry.host);
    loop {
        if let Ok(response) = http.get(&url).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err(format!("{target:?} never answered {url}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok((registry, started.elapsed()))
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// One round against one registry.
pub async fn round(target: Target, binary: &Path, dir: &Path, options: &Options) -> Result<Round> {
    let mut figures = Round::new();
    let (registry, startup) = start(target, binary, dir).await?;
    let pid = registry.pid();
    let host = registry.host.clone();
    figures.insert("startup_ms".into(), startup.as_secs_f64() * 1000.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = memory_kib(pid).ok_or("cannot read the registry's memory")?;
    figures.insert("idle_rss_mib".into(), mib(idle));

    let http = client();
    let digest = push_image(&http, &host, "bench/image", "bench").await?;
    let layer = sha256_digest(&vec![7u8; 2048]);
    reset_peak(pid);
    let seconds = load_seconds(options);
    let manifest_type = Some("application/vnd.oci.image.manifest.v1+json");
    for (name, url, method, accept) in [
        (
            "manifest_by_tag",
            format!("http://{host}/v2/bench/image/manifests/bench"),
            "GET",
            manifest_type,
        ),
        (
            "manifest_by_digest",
            format!("http://{host}/v2/bench/image/manifests/{digest}"),
            "GET",
            manifest_type,
        ),
        (
            "blob_head",
            format!("http://{host}/v2/bench/image/blobs/{layer}"),
            "HEAD",
            None,
        ),
    ] {
        let result = hey(&url, method, accept, CONCURRENCY, seconds)?;
        figures.insert(format!("{name}_rps"), result.requests_per_second);
        figures.insert(format!("{name}_p50_ms"), result.p50_ms);
        figures.insert(format!("{name}_p99_ms"), result.p99_ms);
    }
    let (_, peak) = memory_kib(pid).ok_or("cannot read the registry's memory")?;
    figures.insert("peak_rss_manifest_load_mib".into(), mib(peak));

    let size = blob_bytes(options);
    let big = content(size, 1);
    let elapsed = push_monolithic(&http, &host, "bench/big", big.clone()).await?;
    figures.insert("push_monolithic_mbps".into(), mb_per_s(size, elapsed));
    let elapsed = push_chunked(&http, &host, "bench/big", content(size, 2), 8 * MIB).await?;
    figures.insert("push_chunked_mbps".into(), mb_per_s(size, elapsed));
    let mut pulls = Vec::new();
    let url = format!("http://{host}/v2/bench/big/blobs/{}", sha256_digest(&big));
    for _ in 0..3 {
        let (bytes, elapsed) = pull(&http, &url).await?;
        if bytes != size as u64 {
            return Err(format!("pulled {bytes} bytes, expected {size}"));
        }
        pulls.push(mb_per_s(size, elapsed));
    }
    figures.insert("pull_mbps".into(), median(&mut pulls));

    let elapsed = push_many(&http, &host, "bench/small", 200, 4096, 16).await?;
    figures.insert("small_blobs_per_s".into(), 200.0 / elapsed.as_secs_f64());

    reset_peak(pid);
    let gib = if options.quick {
        256 * MIB as u64
    } else {
        1024 * MIB as u64
    };
    push_generated(&http, &host, "bench/huge", gib).await?;
    let (_, peak) = memory_kib(pid).ok_or("cannot read the registry's memory")?;
    figures.insert("peak_rss_1gib_push_mib".into(), mib(peak));
    drop(registry);
    Ok(figures)
}
