//! What one round measures, and the physical limits measured once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::Client;
use sha2::{Digest, Sha256};

use super::client::{
    pull, push_chunked, push_generated, push_image, push_many, push_monolithic, sha256_digest,
};
use super::load::hey;
use super::measure::{cpu_seconds, median, memory_kib, own_cpu_seconds, reset_peak};
use super::{Options, Round, Target};
use crate::e2e::registry::{
    Backend, RunningRegistry, start_ours_with_env, start_reference_with_env,
};
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

/// The push limit: single-core sha256 of the same bytes with the same implementation (sha2,
/// which uses the CPU's SHA extensions).
pub fn sha256_limit(options: &Options) -> Round {
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
    round.insert("blob_mb".into(), size as f64 / 1e6);
    round
}

/// nginx with sendfile serving the whole bench directory: the pull limit, measured on the very
/// file a registry stores, in turn with that registry's own pulls.
pub struct Nginx {
    _service: Service,
    port: u16,
    root: PathBuf,
}

impl Nginx {
    pub fn start(work: &Path) -> Result<Nginx> {
        let dir = work.join("nginx");
        std::fs::create_dir_all(dir.join("tmp")).map_err(|e| e.to_string())?;
        let port = free_port()?;
        let conf = format!(
            "worker_processes 2;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log;\nevents {{ worker_connections 256; }}\nhttp {{\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  client_body_temp_path {dir}/tmp;\n  proxy_temp_path {dir}/tmp;\n  fastcgi_temp_path {dir}/tmp;\n  uwsgi_temp_path {dir}/tmp;\n  scgi_temp_path {dir}/tmp;\n  server {{ listen 127.0.0.1:{port}; root {root}; }}\n}}\n",
            dir = dir.display(),
            root = work.display()
        );
        std::fs::write(dir.join("nginx.conf"), conf).map_err(|e| e.to_string())?;
        let service = Service::spawn(
            "nginx",
            Command::new("nginx")
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stderr(Stdio::null()),
        )?;
        wait_for_port(port, Duration::from_secs(10), "nginx")?;
        Ok(Nginx {
            _service: service,
            port,
            root: work.to_path_buf(),
        })
    }

    fn url_of(&self, file: &Path) -> Result<String> {
        let relative = file
            .strip_prefix(&self.root)
            .map_err(|_| format!("{} is outside nginx's root", file.display()))?;
        Ok(format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            relative.display()
        ))
    }
}

/// Starts `target` on the filesystem `root`, with its config and log in `dir`; with
/// `one_core`, limited to one worker thread (ours) or `GOMAXPROCS=1` (the reference), leaving
/// the other core to the load generator.
async fn start(
    target: Target,
    binary: &Path,
    dir: &Path,
    root: &Path,
    one_core: bool,
) -> Result<(RunningRegistry, Duration)> {
    let started = Instant::now();
    let registry = match target {
        Target::Ours => start_ours_with_env(
            binary,
            dir,
            &Backend::Filesystem.storage_yaml(root, ""),
            "",
            if one_core {
                &[("REGISTRY_HTTP_WORKERS", "1")]
            } else {
                &[]
            },
        )?,
        Target::Reference => start_reference_with_env(
            root,
            dir,
            if one_core {
                &[("GOMAXPROCS", "1")]
            } else {
                &[]
            },
        )?,
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

/// The three request-rate loads against a running registry, with the CPU time the registry and
/// the load generator used per request; metric names end in `suffix`.
fn loads(
    figures: &mut Round,
    registry: &RunningRegistry,
    digest: &str,
    options: &Options,
    suffix: &str,
) -> Result {
    let host = &registry.host;
    let layer = sha256_digest(&vec![7u8; 2048]);
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
        (
            "small_blob_get",
            format!("http://{host}/v2/bench/image/blobs/{layer}"),
            "GET",
            None,
        ),
    ] {
        let server_before = cpu_seconds(registry.pid())?;
        let (_, hey_before) = own_cpu_seconds()?;
        let result = hey(&url, method, accept, CONCURRENCY, seconds)?;
        let server = cpu_seconds(registry.pid())? - server_before;
        let (_, hey_after) = own_cpu_seconds()?;
        let requests = result.requests_per_second * seconds as f64;
        figures.insert(format!("{name}{suffix}_rps"), result.requests_per_second);
        figures.insert(format!("{name}{suffix}_p50_ms"), result.p50_ms);
        figures.insert(format!("{name}{suffix}_p99_ms"), result.p99_ms);
        figures.insert(
            format!("{name}{suffix}_server_cpu_us"),
            server / requests * 1e6,
        );
        figures.insert(
            format!("{name}{suffix}_client_cpu_us"),
            (hey_after - hey_before) / requests * 1e6,
        );
    }
    Ok(())
}

/// Runs `push` and returns its MB/s with the CPU seconds the registry and this process (the
/// client) used meanwhile.
async fn measured_push<F>(registry: &RunningRegistry, size: usize, push: F) -> Result<[f64; 3]>
where
    F: std::future::Future<Output = Result<Duration>>,
{
    let server_before = cpu_seconds(registry.pid())?;
    let (client_before, _) = own_cpu_seconds()?;
    let elapsed = push.await?;
    let server = cpu_seconds(registry.pid())? - server_before;
    let (client_after, _) = own_cpu_seconds()?;
    Ok([
        mb_per_s(size, elapsed),
        server,
        client_after - client_before,
    ])
}

/// Where a registry's filesystem root keeps a blob's bytes (the same layout for both).
fn blob_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    root.join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

/// One round against one registry.
pub async fn round(
    target: Target,
    binary: &Path,
    dir: &Path,
    nginx: &Nginx,
    options: &Options,
) -> Result<Round> {
    let mut figures = Round::new();
    let root = dir.join("storage");
    let (registry, startup) = start(target, binary, dir, &root, false).await?;
    let pid = registry.pid();
    let host = registry.host.clone();
    figures.insert("startup_ms".into(), startup.as_secs_f64() * 1000.0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = memory_kib(pid).ok_or("cannot read the registry's memory")?;
    figures.insert("idle_rss_mib".into(), mib(idle));

    let http = client();
    let digest = push_image(&http, &host, "bench/image", "bench").await?;
    reset_peak(pid);
    loads(&mut figures, &registry, &digest, options, "")?;
    let (_, peak) = memory_kib(pid).ok_or("cannot read the registry's memory")?;
    figures.insert("peak_rss_manifest_load_mib".into(), mib(peak));
    // The same load on nginx sending the manifest's bytes as a static file: what this machine
    // and this load generator allow at all.
    let manifest_file = nginx.url_of(&blob_file(&root, &digest))?;
    let result = hey(
        &manifest_file,
        "GET",
        None,
        CONCURRENCY,
        load_seconds(options),
    )?;
    figures.insert("nginx_static_rps".into(), result.requests_per_second);
    figures.insert("nginx_static_p50_ms".into(), result.p50_ms);
    figures.insert("nginx_static_p99_ms".into(), result.p99_ms);
    {
        // The same loads from a second instance over the same storage, held to one core, the
        // other core left to `hey`.
        let (one_core, _) = start(target, binary, &dir.join("one-core"), &root, true).await?;
        loads(&mut figures, &one_core, &digest, options, "_1core")?;
    }

    let size = blob_bytes(options);
    let big = content(size, 1);
    let big_digest = sha256_digest(&big);
    let [rate, server, client] = measured_push(
        &registry,
        size,
        push_monolithic(&http, &host, "bench/big", big),
    )
    .await?;
    figures.insert("push_monolithic_mbps".into(), rate);
    figures.insert("push_monolithic_server_cpu_s".into(), server);
    figures.insert("push_monolithic_client_cpu_s".into(), client);
    let [rate, server, client] = measured_push(
        &registry,
        size,
        push_chunked(&http, &host, "bench/big", content(size, 2), 8 * MIB),
    )
    .await?;
    figures.insert("push_chunked_mbps".into(), rate);
    figures.insert("push_chunked_server_cpu_s".into(), server);
    figures.insert("push_chunked_client_cpu_s".into(), client);

    // Pulls of the blob, in turn with nginx sending the very file the registry stored.
    let url = format!("http://{host}/v2/bench/big/blobs/{big_digest}");
    let nginx_url = nginx.url_of(&blob_file(&root, &big_digest))?;
    let (mut pulls, mut nginx_pulls, mut server_cpu) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let before = cpu_seconds(pid)?;
        let (bytes, elapsed) = pull(&http, &url).await?;
        server_cpu.push(cpu_seconds(pid)? - before);
        if bytes != size as u64 {
            return Err(format!("pulled {bytes} bytes, expected {size}"));
        }
        pulls.push(mb_per_s(size, elapsed));
        let (bytes, elapsed) = pull(&http, &nginx_url).await?;
        if bytes != size as u64 {
            return Err(format!(
                "nginx sent {bytes} bytes of {nginx_url}, expected {size}"
            ));
        }
        nginx_pulls.push(mb_per_s(size, elapsed));
    }
    figures.insert("pull_mbps".into(), median(&mut pulls));
    figures.insert("nginx_pull_mbps".into(), median(&mut nginx_pulls));
    figures.insert("pull_server_cpu_s".into(), median(&mut server_cpu));

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
