//! Partial pulls: 200 scattered 16 KiB ranges of a 256 MiB blob, read in one multi-range GET
//! against 200 single-range GETs (one after the other, and 8 at a time), on the filesystem
//! and on the S3 emulator with redirects on (single ranges then go to presigned URLs, the
//! multi-range GET is served by the registry). Reported as time and bytes moved: the bytes the
//! client received and the blob bytes that went through the registry (from the debug listener's `/metrics`).
//!
//! Run alone with `cargo xtask bench --only ranges`; writes docs/BENCHMARKS-ranges.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Client;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE};
use sha2::{Digest, Sha256};

use super::Options;
use super::measure::median;
use crate::e2e::registry::{Backend, start_ours};
use crate::process::Result;

const MIB: u64 = 1024 * 1024;
const RANGES: u64 = 200;
const RANGE_BYTES: u64 = 16 * 1024;
const PARALLEL: usize = 8;
const REPO: &str = "bench/ranges";

fn blob_size(options: &Options) -> u64 {
    if options.quick { 64 * MIB } else { 256 * MIB }
}

/// The blob's byte at `i`: cheap to recompute, so parts are checked without holding the blob.
fn byte_at(i: u64) -> u8 {
    (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ (i >> 12) as u8
}

fn expected(first: u64, last: u64) -> Vec<u8> {
    (first..=last).map(byte_at).collect()
}

/// 200 ranges of 16 KiB spread over the blob, ascending, as a lazy-pull client asks for them.
fn ranges(size: u64) -> Vec<(u64, u64)> {
    let stride = size / RANGES;
    (0..RANGES)
        .map(|i| {
            let jitter = (i * 7919 % 61) * 1024;
            let first = (i * stride + jitter).min(size - RANGE_BYTES);
            (first, first + RANGE_BYTES - 1)
        })
        .collect()
}

/// One way of reading the ranges, measured.
struct Figures {
    elapsed: Duration,
    requests: u64,
    /// Bytes the client received in response bodies.
    client_bytes: u64,
}

/// The rows this scenario reports.
pub struct Row {
    pub backend: &'static str,
    pub mode: &'static str,
    pub requests: u64,
    pub millis: f64,
    pub client_bytes: u64,
    pub registry_bytes: u64,
}

pub fn run(options: &Options, binary: &Path, work: &Path) -> Result<Vec<Row>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let s3 = crate::emulators::s3::start()?;
    let mut rows = Vec::new();
    for backend in [Backend::Filesystem, Backend::S3(s3.env.clone())] {
        println!("xtask bench: ranges on {}", backend.name());
        let dir = work.join(format!("ranges-{}", backend.name()));
        let storage = backend.storage_yaml(&dir.join("root"), &format!("r{}", std::process::id()));
        // Redirects on (the default); the filesystem driver cannot presign and streams.
        let redirect = "  redirect:\n    expiry: 5m\n";
        let registry = start_ours(binary, &dir, &storage, redirect)?;
        let debug = registry
            .debug_host
            .clone()
            .ok_or("the registry has no debug listener")?;
        rows.extend(runtime.block_on(measure(options, &registry.host, &debug, backend.name()))?);
        drop(registry);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(rows)
}

async fn measure(
    options: &Options,
    host: &str,
    debug: &str,
    backend: &'static str,
) -> Result<Vec<Row>> {
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .map_err(|e| e.to_string())?;
    let size = blob_size(options);
    let url = push(&client, host, size).await?;
    let ranges = ranges(size);
    let mut rows = Vec::new();
    type Mode<'a> = (
        &'static str,
        Box<dyn Fn() -> futures::future::BoxFuture<'a, Result<Figures>> + 'a>,
    );
    let modes: Vec<Mode<'_>> = vec![
        (
            "1 multi-range GET",
            Box::new(|| Box::pin(multi(&client, &url, &ranges, size))),
        ),
        (
            "200 single-range GETs",
            Box::new(|| Box::pin(singles(&client, host, &url, &ranges, 1))),
        ),
        (
            "200 single-range GETs, 8 at a time",
            Box::new(|| Box::pin(singles(&client, host, &url, &ranges, PARALLEL))),
        ),
    ];
    for (mode, read) in modes {
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..options.rounds {
            let before = served(&client, debug).await?;
            let figures = read().await?;
            let through = served(&client, debug).await? - before;
            times.push(figures.elapsed.as_secs_f64() * 1000.0);
            last = Some((figures, through));
        }
        let (figures, registry_bytes) = last.ok_or("no rounds")?;
        rows.push(Row {
            backend,
            mode,
            requests: figures.requests,
            millis: median(&mut times),
            client_bytes: figures.client_bytes,
            registry_bytes,
        });
    }
    Ok(rows)
}

/// `registry_blob_bytes_served_total`, from the debug listener at `debug`.
async fn served(client: &Client, debug: &str) -> Result<u64> {
    let text = client
        .get(format!("http://{debug}/metrics"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("registry_blob_bytes_served_total ")?
                .trim()
                .parse()
                .ok()
        })
        .ok_or_else(|| "no registry_blob_bytes_served_total in /metrics".to_owned())
}

/// Pushes the blob (generated in 4 MiB chunks) and returns its URL.
async fn push(client: &Client, host: &str, size: u64) -> Result<String> {
    const CHUNK: u64 = 4 * MIB;
    let chunk = move |n: u64| {
        Bytes::from(
            (n * CHUNK..((n + 1) * CHUNK).min(size))
                .map(byte_at)
                .collect::<Vec<u8>>(),
        )
    };
    let chunks = size.div_ceil(CHUNK);
    let mut hasher = Sha256::new();
    for n in 0..chunks {
        hasher.update(chunk(n));
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let started = client
        .post(format!("http://{host}/v2/{REPO}/blobs/uploads/"))
        .header(CONTENT_LENGTH, 0)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let location = started
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no upload Location")?;
    let upload = absolute(host, location);
    let separator = if upload.contains('?') { '&' } else { '?' };
    let body = futures::stream::iter((0..chunks).map(move |n| Ok::<_, std::io::Error>(chunk(n))));
    let response = client
        .put(format!("{upload}{separator}digest={digest}"))
        .header(CONTENT_LENGTH, size)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().as_u16() != 201 {
        return Err(format!("pushing the blob: HTTP {}", response.status()));
    }
    Ok(format!("http://{host}/v2/{REPO}/blobs/{digest}"))
}

fn absolute(host: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("http://{host}{location}")
    }
}

/// One GET with every range; the parts are checked against the blob.
async fn multi(client: &Client, url: &str, ranges: &[(u64, u64)], size: u64) -> Result<Figures> {
    let header = ranges
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let response = client
        .get(url)
        .header(RANGE, format!("bytes={header}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status().as_u16() != 206 {
        return Err(format!("multi-range GET: HTTP {}", response.status()));
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = read_body(response).await?;
    let elapsed = started.elapsed();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .ok_or_else(|| format!("multi-range GET answered {content_type:?}"))?;
    check_parts(&body, boundary, ranges, size)?;
    Ok(Figures {
        elapsed,
        requests: 1,
        client_bytes: body.len() as u64,
    })
}

/// Each part's `Content-Range` and bytes, in order (the framing is the registry's own, so
/// this reads it by its headers rather than by a general multipart parser).
fn check_parts(body: &[u8], boundary: &str, ranges: &[(u64, u64)], size: u64) -> Result {
    let mut at = 0;
    for &(first, last) in ranges {
        let head = format!(
            "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {first}-{last}/{size}\r\n\r\n"
        );
        let start = find(body, head.as_bytes(), at)
            .ok_or(format!("part {first}-{last} missing"))?
            + head.len();
        let end = start + (last - first + 1) as usize;
        if body.get(start..end) != Some(&expected(first, last)[..]) {
            return Err(format!("part {first}-{last} has the wrong bytes"));
        }
        at = end;
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// A GET per range, `concurrency` at a time, following redirects to storage by hand (so the
/// `Range` goes to the presigned URL, as clients send it).
async fn singles(
    client: &Client,
    host: &str,
    url: &str,
    ranges: &[(u64, u64)],
    concurrency: usize,
) -> Result<Figures> {
    let started = Instant::now();
    let results: Vec<Result<(u64, u64)>> = futures::stream::iter(ranges.iter().copied())
        .map(|(first, last)| async move {
            let range = format!("bytes={first}-{last}");
            let mut requests = 1;
            let mut response = client
                .get(url)
                .header(RANGE, &range)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if response.status().as_u16() == 307 {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .ok_or("redirect without Location")?;
                let target = absolute(host, location);
                requests += 1;
                response = client
                    .get(target)
                    .header(RANGE, &range)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
            }
            if response.status().as_u16() != 206 {
                return Err(format!("single-range GET: HTTP {}", response.status()));
            }
            let body = read_body(response).await?;
            if body != expected(first, last) {
                return Err(format!("range {first}-{last} has the wrong bytes"));
            }
            Ok((requests, body.len() as u64))
        })
        .buffered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut figures = Figures {
        elapsed,
        requests: 0,
        client_bytes: 0,
    };
    for result in results {
        let (requests, bytes) = result?;
        figures.requests += requests;
        figures.client_bytes += bytes;
    }
    Ok(figures)
}

async fn read_body(response: reqwest::Response) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        body.extend_from_slice(&chunk.map_err(|e| e.to_string())?);
    }
    Ok(body)
}

/// The rows as a markdown table.
pub fn markdown(rows: &[Row], options: &Options) -> String {
    let mut out = format!(
        "# Partial pulls: multi-range against single-range GETs\n\n\
         {RANGES} scattered ranges of {} KiB of a {} MiB blob; redirects on (S3: single ranges go to \
         presigned URLs, the multi-range GET is served by the registry). Median of {} rounds, \
         release build, this machine. `cargo xtask bench --only ranges`.\n\n\
         | storage | reads | HTTP requests | time (ms) | bytes to the client | blob bytes through the registry |\n\
         |---|---|---:|---:|---:|---:|\n",
        RANGE_BYTES / 1024,
        blob_size(options) / MIB,
        options.rounds
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.1} | {} | {} |",
            row.backend, row.mode, row.requests, row.millis, row.client_bytes, row.registry_bytes
        );
    }
    out
}
