//! Many instances as one registry: three instances of the binary over one bucket (S3 on
//! s3s-fs, or Azure on Azurite) and one Redis (the shared blob-descriptor cache), behind a
//! round-robin TCP balancer ([`balancer`]) that sends every new connection to the next
//! instance. The scenarios show that clients cannot tell them from one registry:
//!
//! - `cluster-clients`: skopeo and oras push and pull through the balancer, and a chunked
//!   upload whose PATCHes the balancer's log shows landing on different instances;
//! - `cluster-same-tag`: two skopeo clients push the same blobs and the same tag at once
//!   through different instances; the tag names one of the two manifests, both intact;
//! - `cluster-delete`: a manifest and a blob deleted through one instance are gone on the
//!   others at their next request, although those had them cached;
//! - `cluster-kill-patch`: the instance holding a PATCH in flight is killed (SIGKILL); the
//!   client's retry through the balancer completes the upload on another instance, and
//!   nothing half-written is visible meanwhile.

mod balancer;
mod wire;

use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::clients::{oras_round_trip, skopeo, skopeo_copy_digest};
use super::registry::{RunningRegistry, start_ours};
use super::scenarios::{Context, Scenario, ensure, pull_and_check_at};
use crate::emulators::redis;
use crate::process::{Result, Service};
use balancer::Balancer;
use wire::request;

pub fn scenarios() -> Vec<(&'static str, Scenario)> {
    vec![
        ("cluster-clients", clients),
        ("cluster-same-tag", same_tag),
        ("cluster-delete", delete_seen),
        ("cluster-kill-patch", kill_patch),
    ]
}

const INSTANCES: usize = 3;

/// Redis, the instances and the balancer; everything stops when dropped.
struct Cluster {
    balancer: Balancer,
    instances: Vec<RunningRegistry>,
    _redis: Service,
    redis_port: u16,
}

impl Cluster {
    fn start(cx: &Context<'_>) -> Result<Cluster> {
        let (redis, port) = redis::spawn(None)?;
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let unique = format!(
            "c{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        // One storage section for all: the same bucket and root directory.
        let storage = cx.backend.storage_yaml(&cx.dir.join("storage"), &unique);
        let extra = format!(
            "  cache:\n    blobdescriptor: redis\n  redirect:\n    disable: true\nredis:\n  addr: 127.0.0.1:{port}\n  readtimeout: 500ms\n  writetimeout: 500ms\n"
        );
        let mut instances = Vec::new();
        for i in 0..INSTANCES {
            instances.push(start_ours(
                cx.binary,
                &cx.dir.join(format!("instance-{i}")),
                &storage,
                &extra,
            )?);
        }
        let balancer = Balancer::start(instances.iter().map(|r| r.host.clone()).collect())?;
        Ok(Cluster {
            balancer,
            instances,
            _redis: redis,
            redis_port: port,
        })
    }

    /// How many cache entries of `kind` (`stat` or `content`) Redis holds.
    fn cached_entries(&self, kind: &str) -> Result<usize> {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &self.redis_port.to_string(), "--scan", "--pattern"])
            .arg(format!("registry:v1:*:{kind}:*"))
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().count())
    }

    fn host(&self) -> &str {
        &self.balancer.host
    }
}

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Deterministic bytes that do not compress.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Starts an upload; its path (relative `Location`).
fn start_upload(host: &str, repo: &str) -> Result<String> {
    let response = request(
        host,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    )?;
    ensure(response.status == 202, || {
        format!("POST upload answered {}", response.status)
    })?;
    let location = response.header("Location").ok_or("no Location")?;
    Ok(match location.find("/v2/") {
        Some(i) => location[i..].to_owned(),
        None => location.to_owned(),
    })
}

fn patch(host: &str, upload: &str, offset: usize, chunk: &[u8]) -> Result<wire::Response> {
    request(
        host,
        "PATCH",
        upload,
        &[
            ("Content-Type", "application/octet-stream".into()),
            (
                "Content-Range",
                format!("{offset}-{}", offset + chunk.len() - 1),
            ),
        ],
        chunk,
    )
}

fn finish(host: &str, upload: &str, digest: &str) -> Result<wire::Response> {
    let separator = if upload.contains('?') { '&' } else { '?' };
    request(
        host,
        "PUT",
        &format!("{upload}{separator}digest={digest}"),
        &[],
        b"",
    )
}

/// The blob through `host`, checked against `data`.
fn check_blob(host: &str, repo: &str, data: &[u8]) -> Result {
    let digest = sha256(data);
    let response = request(host, "GET", &format!("/v2/{repo}/blobs/{digest}"), &[], b"")?;
    ensure(response.status == 200, || {
        format!("GET blob through {host} answered {}", response.status)
    })?;
    ensure(sha256(&response.body) == digest, || {
        format!(
            "GET blob through {host}: {} bytes that are not the blob",
            response.body.len()
        )
    })
}

fn clients(cx: &Context<'_>) -> Result {
    let cluster = Cluster::start(cx)?;
    let host = cluster.host().to_owned();
    // skopeo, through the balancer both ways.
    let pushed = skopeo_copy_digest(
        &cx.image.reference(),
        &format!("docker://{host}/cluster/skopeo:v1"),
        &[],
        cx.dir,
    )?;
    pull_and_check_at(&host, "cluster/skopeo:v1", cx.dir.join("pulled"), &pushed)?;
    // oras, monolithic and chunked.
    oras_round_trip(
        &host,
        "cluster/oras:mono",
        &cx.dir.join("oras-mono"),
        3 << 20,
        None,
    )?;
    oras_round_trip(
        &host,
        "cluster/oras:chunked",
        &cx.dir.join("oras-chunked"),
        (6 << 20) + 77,
        Some(1 << 20),
    )?;

    // A chunked upload, one connection per request: which instance took each PATCH.
    let data = content(1, 4 << 20);
    let upload = start_upload(&host, "cluster/chunked")?;
    let mut patched_on = Vec::new();
    for (i, chunk) in data.chunks(1 << 20).enumerate() {
        let before = cluster.balancer.connections().len();
        let response = patch(&host, &upload, i << 20, chunk)?;
        ensure(response.status == 202, || {
            format!("PATCH {i} answered {}", response.status)
        })?;
        patched_on.push(cluster.balancer.connections()[before]);
    }
    let response = finish(&host, &upload, &sha256(&data))?;
    ensure(response.status == 201, || {
        format!("closing PUT answered {}", response.status)
    })?;
    let mut distinct = patched_on.clone();
    distinct.sort_unstable();
    distinct.dedup();
    ensure(distinct.len() >= 2, || {
        format!("all PATCHes landed on one instance: {patched_on:?}")
    })?;
    println!("xtask e2e: PATCHes of one upload served by instances {patched_on:?}");
    for instance in &cluster.instances {
        check_blob(&instance.host, "cluster/chunked", &data)?;
    }
    Ok(())
}

fn same_tag(cx: &Context<'_>) -> Result {
    let cluster = Cluster::start(cx)?;
    let target = |i: usize| format!("docker://{}/cluster/race:latest", cluster.instances[i].host);
    let (oci_target, docker_target) = (target(0), target(1));
    let source = cx.image.reference();
    let (dir_a, dir_b) = (cx.dir.join("a"), cx.dir.join("b"));
    // The same blobs, two manifests (OCI and Docker schema 2), one tag, at once.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| skopeo_copy_digest(&source, &oci_target, &[], &dir_a));
        let b =
            s.spawn(|| skopeo_copy_digest(&source, &docker_target, &["--format", "v2s2"], &dir_b));
        (a.join(), b.join())
    });
    let a = a.map_err(|_| "skopeo thread panicked")??;
    let b = b.map_err(|_| "skopeo thread panicked")??;
    ensure(a != b, || "the two pushes made the same manifest".into())?;
    let host = cluster.host();
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/cluster/race:latest"),
    ])?;
    let tagged = sha256(raw.as_bytes());
    ensure(tagged == a || tagged == b, || {
        format!("the tag names {tagged}, neither {a} nor {b}")
    })?;
    for (i, digest) in [&a, &b].into_iter().enumerate() {
        pull_and_check_at(
            host,
            &format!("cluster/race@{digest}"),
            cx.dir.join(format!("pulled-{i}")),
            digest,
        )?;
    }
    Ok(())
}

/// The digest of the first layer of the manifest `digest` in `repo`.
fn first_layer(host: &str, repo: &str, digest: &str) -> Result<String> {
    let response = request(
        host,
        "GET",
        &format!("/v2/{repo}/manifests/{digest}"),
        &[(
            "Accept",
            "application/vnd.oci.image.manifest.v1+json".into(),
        )],
        b"",
    )?;
    let manifest: serde_json::Value =
        serde_json::from_slice(&response.body).map_err(|e| format!("manifest: {e}"))?;
    manifest["layers"][0]["digest"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "a manifest without layers".into())
}

fn status(host: &str, method: &str, path: &str) -> Result<u16> {
    Ok(request(host, method, path, &[], b"")?.status)
}

fn delete_seen(cx: &Context<'_>) -> Result {
    let cluster = Cluster::start(cx)?;
    let hosts: Vec<&str> = cluster.instances.iter().map(|r| r.host.as_str()).collect();
    let digest = skopeo_copy_digest(
        &cx.image.reference(),
        &format!("docker://{}/cluster/delete:v1", hosts[0]),
        &[],
        cx.dir,
    )?;
    let manifest = format!("/v2/cluster/delete/manifests/{digest}");
    let layer = first_layer(hosts[1], "cluster/delete", &digest)?;
    let blob = format!("/v2/cluster/delete/blobs/{layer}");
    // Every instance has read (and cached) both.
    for _ in 0..2 {
        for host in &hosts {
            ensure(status(host, "GET", &manifest)? == 200, || {
                format!("GET manifest on {host}")
            })?;
            ensure(status(host, "HEAD", &blob)? == 200, || {
                format!("HEAD blob on {host}")
            })?;
        }
    }
    // The instances answered from the shared cache: Redis holds what they read.
    let (stats, contents) = (
        cluster.cached_entries("stat")?,
        cluster.cached_entries("content")?,
    );
    ensure(stats > 0 && contents > 0, || {
        format!("Redis holds {stats} blob stats and {contents} contents after the reads")
    })?;
    println!("xtask e2e: Redis holds {stats} blob stats and {contents} links and manifests");
    ensure(status(hosts[0], "DELETE", &manifest)? == 202, || {
        "DELETE manifest".into()
    })?;
    for host in &hosts[1..] {
        let got = status(host, "GET", &manifest)?;
        ensure(got == 404, || {
            format!("{host} answered {got} for a manifest deleted through another instance")
        })?;
    }
    ensure(status(hosts[1], "DELETE", &blob)? == 202, || {
        "DELETE blob".into()
    })?;
    for host in [hosts[0], hosts[2]] {
        let got = status(host, "HEAD", &blob)?;
        ensure(got == 404, || {
            format!("{host} answered {got} for a blob deleted through another instance")
        })?;
    }
    Ok(())
}

fn kill_patch(cx: &Context<'_>) -> Result {
    let cluster = Cluster::start(cx)?;
    let host = cluster.host().to_owned();
    let repo = "cluster/killed";
    let chunk = 1 << 20;
    let data = content(7, 3 * chunk);
    let digest = sha256(&data);
    let upload = start_upload(&host, repo)?;
    let response = patch(&host, &upload, 0, &data[..chunk])?;
    ensure(response.status == 202, || {
        format!("first PATCH answered {}", response.status)
    })?;

    // The second PATCH: its head and half its body, then the instance serving it is killed.
    let before = cluster.balancer.connections().len();
    let stream = wire::send_head(
        &host,
        "PATCH",
        &upload,
        &[
            ("Content-Type", "application/octet-stream".into()),
            ("Content-Range", format!("{chunk}-{}", 2 * chunk - 1)),
        ],
        chunk,
        &data[chunk..chunk + chunk / 2],
    )?;
    let victim = wait_for(|| cluster.balancer.connections().get(before).copied())?;
    std::thread::sleep(Duration::from_millis(500));
    let pid = cluster.instances[victim].pid();
    crate::process::run(
        std::process::Command::new("kill")
            .arg("-9")
            .arg(pid.to_string()),
    )?;
    println!("xtask e2e: killed instance {victim} (pid {pid}) holding a PATCH in flight");
    if let Ok(response) = wire::read_response(stream) {
        ensure(response.status >= 400 || response.status == 0, || {
            format!("the killed PATCH answered {}", response.status)
        })?;
    }

    // Nothing of it is visible as a blob.
    let partial = sha256(&data[..chunk + chunk / 2]);
    for blob in [&digest, &partial] {
        let got = status(&host, "HEAD", &format!("/v2/{repo}/blobs/{blob}"))?;
        ensure(got == 404, || {
            format!("HEAD of an unfinished blob answered {got}")
        })?;
    }

    // The client's retry: ask where the upload stands, send the rest from there. The dead
    // instance's lease on the upload lasts up to a minute, so retry until it has expired.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let state = request(&host, "GET", &upload, &[], b"")?;
        ensure(state.status == 204, || {
            format!("upload status answered {}", state.status)
        })?;
        let offset = match state.header("Range") {
            Some(range) => {
                let end: usize = range
                    .rsplit('-')
                    .next()
                    .and_then(|e| e.parse().ok())
                    .ok_or_else(|| format!("bad Range {range:?}"))?;
                end + 1
            }
            None => 0,
        };
        ensure(offset <= data.len(), || format!("upload at {offset}"))?;
        let response = if offset < data.len() {
            patch(&host, &upload, offset, &data[offset..])?
        } else {
            finish(&host, &upload, &digest)?
        };
        match response.status {
            202 => continue,
            201 => break,
            _ if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_secs(3));
            }
            other => {
                return Err(format!(
                    "the retried upload still fails with {other}: {}",
                    String::from_utf8_lossy(&response.body)
                ));
            }
        }
    }
    for (i, instance) in cluster.instances.iter().enumerate() {
        if i != victim {
            check_blob(&instance.host, repo, &data)?;
        }
    }
    check_blob(&host, repo, &data)
}

fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> Result<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = probe() {
            return Ok(value);
        }
        if Instant::now() > deadline {
            return Err("the balancer did not see the connection".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
