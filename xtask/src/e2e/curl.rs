//! A real HTTP client reading several ranges of a blob: `curl -r a-b,c-d,...` against the
//! registry, with redirects on (on S3 and Azure multi-range GETs are served by the registry,
//! single ranges are redirected). The `multipart/byteranges` body curl saves is split at the
//! boundary curl reported and every part compared with the pushed file.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

use super::registry::RunningRegistry;
use crate::process::Result;

/// The ranges asked for and the parts expected (inclusive), for a blob of `SIZE` bytes: an
/// open range, overlapping neighbours (one part each), a range past the end (dropped) and a
/// suffix.
const SIZE: usize = 300_000;
const RANGES: &str = "0-99,250000-,5000-5999,5500-6999,400000-400010,-100";
const PARTS: &[(usize, usize)] = &[
    (0, 99),
    (250_000, 299_999),
    (5000, 5999),
    (5500, 6999),
    (299_900, 299_999),
];

fn curl(args: &[&str]) -> Result<Vec<u8>> {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail"])
        .args(args)
        .output()
        .map_err(|e| format!("curl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "curl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out.stdout)
}

/// Pushes `data` with curl (POST, then a monolithic PUT); returns the blob's URL.
fn push(registry: &RunningRegistry, dir: &Path, data: &[u8]) -> Result<String> {
    let host = &registry.host;
    let file = dir.join("blob");
    std::fs::write(&file, data).map_err(|e| e.to_string())?;
    let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
    let head = curl(&[
        "-X",
        "POST",
        "-D",
        "-",
        "-o",
        "/dev/null",
        &format!("http://{host}/v2/e2e/ranges/blobs/uploads/"),
    ])?;
    let head = String::from_utf8_lossy(&head);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::trim)
        .ok_or("no Location for the upload")?;
    let upload = if location.starts_with("http") {
        location.to_owned()
    } else {
        format!("http://{host}{location}")
    };
    let separator = if upload.contains('?') { '&' } else { '?' };
    curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("{upload}{separator}digest={digest}"),
    ])?;
    Ok(format!("http://{host}/v2/e2e/ranges/blobs/{digest}"))
}

pub fn multi_range(registry: &RunningRegistry, dir: &Path) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 7 % 253) as u8).collect();
    let url = push(registry, dir, &data)?;
    let headers = dir.join("headers");
    let body = curl(&["-r", RANGES, "-D", &headers.display().to_string(), &url])?;
    let headers = std::fs::read_to_string(&headers).map_err(|e| e.to_string())?;
    let status = headers.lines().next().unwrap_or_default();
    if !status.contains(" 206") {
        return Err(format!("curl -r {RANGES}: {status}"));
    }
    let boundary = headers
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().strip_prefix("multipart/byteranges; boundary="))?
        })
        .ok_or("no multipart/byteranges Content-Type")?;
    let delimiter = format!("--{boundary}");
    // Split at the delimiters: a preamble, then one piece per part, then the closing "--".
    let pieces = split(&body, delimiter.as_bytes());
    if pieces.len() != PARTS.len() + 2 || !pieces[pieces.len() - 1].starts_with(b"--") {
        return Err(format!(
            "{} pieces between boundaries, expected {}",
            pieces.len(),
            PARTS.len() + 2
        ));
    }
    for (piece, &(first, last)) in pieces[1..=PARTS.len()].iter().zip(PARTS) {
        let head_end = find(piece, b"\r\n\r\n").ok_or("a part without headers")?;
        let head = String::from_utf8_lossy(&piece[..head_end]);
        let range = format!("Content-Range: bytes {first}-{last}/{SIZE}");
        if !head.contains(&range) {
            return Err(format!("part headers {head:?} lack {range:?}"));
        }
        let content = &piece[head_end + 4..];
        let content = content
            .strip_suffix(b"\r\n")
            .ok_or("a part not ended by CRLF")?;
        if content != &data[first..=last] {
            return Err(format!("part {first}-{last}: wrong bytes"));
        }
    }
    println!(
        "xtask e2e: curl -r {RANGES}: 206 multipart/byteranges, {} parts intact ({} body bytes)",
        PARTS.len(),
        body.len()
    );
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut rest: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    while let Some(at) = find(rest, delimiter) {
        pieces.push(&rest[..at]);
        rest = &rest[at + delimiter.len()..];
    }
    pieces.push(rest);
    pieces
}
