//! s3s-fs (crates.io, pinned): an S3-compatible server that verifies SigV4 signatures and
//! presigned URLs, with multipart upload, UploadPartCopy and ListObjectsV2 pagination.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::Emulator;
use crate::cache;
use crate::process::{Result, Service, free_port, run, wait_for_port};

/// Newer releases need a newer rustc than the project's.
const VERSION: &str = "0.14.1";
pub const ACCESS_KEY: &str = "registry-test-access";
pub const SECRET_KEY: &str = "registry-test-secret-key";
/// Short on purpose: s3s-fs names a metadata file after the base64 of bucket and key, and
/// file names end at 255 bytes, so every byte here shortens the longest usable key.
pub const BUCKET: &str = "oci";
pub const REGION: &str = "us-east-1";

fn binary() -> PathBuf {
    cache::dir()
        .join(format!("s3s-fs-{VERSION}"))
        .join("bin/s3s-fs")
}

pub fn ensure_installed() -> Result<PathBuf> {
    let bin = binary();
    if bin.exists() {
        return Ok(bin);
    }
    let root = bin
        .parent()
        .and_then(|b| b.parent())
        .ok_or("bad cache path")?
        .to_path_buf();
    println!(
        "xtask: installing s3s-fs {VERSION} into {} (once)",
        root.display()
    );
    run(Command::new(env!("CARGO"))
        .args(["install", "--locked", "--features", "binary", "--root"])
        .arg(&root)
        .arg(format!("s3s-fs@{VERSION}")))?;
    Ok(bin)
}

pub fn start() -> Result<Emulator> {
    let bin = ensure_installed()?;
    let data = std::env::temp_dir().join(format!("registry-s3s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(data.join(BUCKET)).map_err(|e| format!("{}: {e}", data.display()))?;
    let port = free_port()?;
    let mut service = Service::spawn(
        "s3s-fs",
        Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data),
    )?
    .owning_data(data.clone());
    wait_for_port(port, Duration::from_secs(20), "s3s-fs")?;
    service.check_running()?;
    println!(
        "xtask: s3s-fs listening on 127.0.0.1:{port}, data in {}",
        data.display()
    );
    let env = [
        (
            "REGISTRY_TEST_S3_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("REGISTRY_TEST_S3_REGION", REGION.to_owned()),
        ("REGISTRY_TEST_S3_BUCKET", BUCKET.to_owned()),
        ("REGISTRY_TEST_S3_ACCESS_KEY", ACCESS_KEY.to_owned()),
        ("REGISTRY_TEST_S3_SECRET_KEY", SECRET_KEY.to_owned()),
    ];
    Ok(Emulator {
        _service: service,
        env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    })
}
