//! The benchmark's HTTP client: pushes and pulls the way registry clients do.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use reqwest::Client;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, LOCATION};
use sha2::{Digest, Sha256};

use crate::process::Result;

pub fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn absolute(host: &str, location: &str) -> String {
    if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("http://{host}{location}")
    }
}

fn with_digest(url: &str, digest: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}digest={digest}")
}

fn check(response: &reqwest::Response, expected: u16, what: &str) -> Result {
    if response.status().as_u16() == expected {
        Ok(())
    } else {
        Err(format!(
            "{what}: HTTP {} (expected {expected})",
            response.status()
        ))
    }
}

fn location(host: &str, response: &reqwest::Response) -> Result<String> {
    let value = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("no Location header")?;
    Ok(absolute(host, value))
}

async fn start_upload(client: &Client, host: &str, repo: &str) -> Result<String> {
    let response = client
        .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
        .header(CONTENT_LENGTH, 0)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(&response, 202, "start upload")?;
    location(host, &response)
}

/// POST, then PUT with the whole blob.
pub async fn push_monolithic(
    client: &Client,
    host: &str,
    repo: &str,
    data: Bytes,
) -> Result<Duration> {
    let digest = sha256_digest(&data);
    let started = Instant::now();
    let upload = start_upload(client, host, repo).await?;
    let response = client
        .put(with_digest(&upload, &digest))
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(data)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(&response, 201, "monolithic PUT")?;
    Ok(started.elapsed())
}

/// POST, PATCH chunks with `Content-Range`, then PUT with the digest.
pub async fn push_chunked(
    client: &Client,
    host: &str,
    repo: &str,
    data: Bytes,
    chunk: usize,
) -> Result<Duration> {
    let digest = sha256_digest(&data);
    let started = Instant::now();
    let mut upload = start_upload(client, host, repo).await?;
    let mut offset = 0;
    while offset < data.len() {
        let end = (offset + chunk).min(data.len());
        let response = client
            .patch(&upload)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_RANGE, format!("{offset}-{}", end - 1))
            .header(CONTENT_LENGTH, end - offset)
            .body(data.slice(offset..end))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        check(&response, 202, "PATCH")?;
        upload = location(host, &response)?;
        offset = end;
    }
    let response = client
        .put(with_digest(&upload, &digest))
        .header(CONTENT_LENGTH, 0)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(&response, 201, "closing PUT")?;
    Ok(started.elapsed())
}

/// A monolithic push of `total` bytes generated on the fly (the client holds one chunk).
pub async fn push_generated(
    client: &Client,
    host: &str,
    repo: &str,
    total: u64,
) -> Result<Duration> {
    const CHUNK: usize = 4 * 1024 * 1024;
    let chunk = Bytes::from(
        (0..CHUNK)
            .map(|i| (i * 31 % 251) as u8)
            .collect::<Vec<u8>>(),
    );
    let mut hasher = Sha256::new();
    for _ in 0..total / CHUNK as u64 {
        hasher.update(&chunk);
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    let count = total / CHUNK as u64;
    let body =
        futures::stream::iter((0..count).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let started = Instant::now();
    let upload = start_upload(client, host, repo).await?;
    let response = client
        .put(with_digest(&upload, &digest))
        .header(CONTENT_LENGTH, count * CHUNK as u64)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(&response, 201, "generated PUT")?;
    Ok(started.elapsed())
}

/// `count` small blobs pushed by `concurrency` clients at once (POST + PUT each).
pub async fn push_many(
    client: &Client,
    host: &str,
    repo: &str,
    count: usize,
    size: usize,
    concurrency: usize,
) -> Result<Duration> {
    let blobs: Vec<Bytes> = (0..count)
        .map(|i| {
            let seed = format!("{repo}-{i}-{}", std::process::id());
            Bytes::from(seed.bytes().cycle().take(size).collect::<Vec<u8>>())
        })
        .collect();
    let started = Instant::now();
    let results: Vec<Result<Duration>> = futures::stream::iter(blobs)
        .map(|blob| push_monolithic(client, host, repo, blob))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    for result in results {
        result?;
    }
    Ok(started.elapsed())
}

/// Downloads `url` to nowhere; returns the byte count and the time.
pub async fn pull(client: &Client, url: &str) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    check(&response, 200, "GET")?;
    let mut stream = response.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        total += chunk.map_err(|e| e.to_string())?.len() as u64;
    }
    Ok((total, started.elapsed()))
}

/// Pushes a config and one layer, then an OCI manifest tagged `tag`; returns its digest.
pub async fn push_image(client: &Client, host: &str, repo: &str, tag: &str) -> Result<String> {
    let config = Bytes::from_static(
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let layer = Bytes::from(vec![7u8; 2048]);
    push_monolithic(client, host, repo, config.clone()).await?;
    push_monolithic(client, host, repo, layer.clone()).await?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256_digest(&config), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256_digest(&layer), "size": layer.len()}],
    })
    .to_string();
    let digest = sha256_digest(manifest.as_bytes());
    let response = client
        .put(format!("http://{host}/v2/{repo}/manifests/{tag}"))
        .header(CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")
        .body(manifest)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(&response, 201, "manifest PUT")?;
    Ok(digest)
}
