use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rand::{Rng, RngCore, SeedableRng};

use super::Harness;
use crate::storage::{Storage, StorageError};

/// One case's view of the driver under test: a storage handle and a private prefix.
#[derive(Clone)]
pub struct Ctx {
    pub storage: Storage,
    harness: Arc<Harness>,
    prefix: String,
}

impl Ctx {
    pub(super) fn new(harness: Arc<Harness>) -> Self {
        let storage = (harness.open)();
        let prefix = format!("/contract-{}", uuid::Uuid::new_v4().simple());
        Ctx {
            storage,
            harness,
            prefix,
        }
    }

    /// `relative` below this case's prefix.
    pub fn path(&self, relative: &str) -> String {
        format!("{}/{relative}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A new driver instance over the same storage, as another process would open it.
    pub fn fresh_instance(&self) -> Storage {
        (self.harness.open)()
    }

    pub fn holds_data_in_memory(&self) -> bool {
        self.harness.holds_data_in_memory
    }

    pub fn reports_pending_writes(&self) -> bool {
        self.harness.reports_pending_writes
    }

    pub fn presigns(&self) -> bool {
        self.harness.presigns
    }

    pub(super) async fn remove_prefix(&self) {
        match self.storage.delete(&self.prefix).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => panic!("cleanup of {} failed: {e}", self.prefix),
        }
    }

    pub(super) async fn assert_prefix_gone(&self) {
        let stat = self.storage.stat(&self.prefix).await;
        assert!(
            matches!(stat, Err(StorageError::PathNotFound { .. })),
            "storage not empty after the case: stat({}) = {stat:?}",
            self.prefix
        );
        let listed = self.storage.list("/").await.unwrap_or_default();
        assert!(
            !listed.iter().any(|p| p.as_str() == self.prefix),
            "{} still listed at the root",
            self.prefix
        );
    }

    pub async fn put(&self, relative: &str, content: &[u8]) {
        self.storage
            .put_content(&self.path(relative), Bytes::copy_from_slice(content))
            .await
            .unwrap_or_else(|e| panic!("put_content({relative}): {e}"));
    }

    pub async fn get(&self, relative: &str) -> Bytes {
        self.storage
            .get_content(&self.path(relative))
            .await
            .unwrap_or_else(|e| panic!("get_content({relative}): {e}"))
    }

    /// Writes `content` through a writer in `chunk`-sized pieces and commits.
    pub async fn stream_write(&self, relative: &str, content: &[u8], chunk: usize) {
        let mut writer = self
            .storage
            .writer(&self.path(relative), false)
            .await
            .unwrap_or_else(|e| panic!("writer({relative}): {e}"));
        for piece in content.chunks(chunk.max(1)) {
            writer
                .write(Bytes::copy_from_slice(piece))
                .await
                .unwrap_or_else(|e| panic!("write({relative}): {e}"));
        }
        assert_eq!(writer.size(), content.len() as u64);
        writer
            .commit()
            .await
            .unwrap_or_else(|e| panic!("commit({relative}): {e}"));
    }

    /// Reads from `offset` to the end through a reader.
    pub async fn stream_read(&self, relative: &str, offset: i64) -> Vec<u8> {
        read_all(&self.storage, &self.path(relative), offset)
            .await
            .unwrap_or_else(|e| panic!("reader({relative}, {offset}): {e}"))
    }

    pub async fn exists(&self, relative: &str) -> bool {
        match self.storage.stat(&self.path(relative)).await {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => panic!("stat({relative}): {e}"),
        }
    }
}

pub async fn read_all(storage: &Storage, path: &str, offset: i64) -> Result<Vec<u8>, StorageError> {
    let mut stream = storage.reader(path, offset).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    rand::rng().fill_bytes(&mut buf);
    buf
}

pub fn random_index(below: usize) -> usize {
    rand::rng().random_range(0..below)
}

/// A reproducible stream of pseudo-random chunks, so that large payloads never sit in memory.
pub struct ChunkSource(rand::rngs::StdRng);

impl ChunkSource {
    pub fn new(seed: u64) -> Self {
        ChunkSource(rand::rngs::StdRng::seed_from_u64(seed))
    }

    pub fn next_chunk(&mut self, len: usize) -> Bytes {
        let mut buf = vec![0u8; len];
        self.0.fill_bytes(&mut buf);
        Bytes::from(buf)
    }
}

/// This process's resident set size in bytes (Linux), `None` elsewhere.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Records a measured figure: printed, and appended to `$REGISTRY_CONTRACT_REPORT` when set so
/// that `cargo xtask test` can show it after the run.
pub fn memory_report(line: &str) {
    println!("{line}");
    if let Ok(path) = std::env::var("REGISTRY_CONTRACT_REPORT") {
        use std::io::Write;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// Reads the environment that points a cloud driver's tests at its emulator.
///
/// Returns `None` (after printing why) when a variable is missing, so plain `cargo test` can
/// skip; under `cargo xtask test` (`REGISTRY_REQUIRE_EMULATORS=1`) a missing variable panics,
/// so a cloud-driver test can never pass by not running.
pub fn emulator_env(driver: &str, names: &[&str]) -> Option<Vec<String>> {
    let mut values = Vec::with_capacity(names.len());
    for name in names {
        match std::env::var(name) {
            Ok(value) if !value.is_empty() => values.push(value),
            _ => {
                let reason = format!(
                    "{driver} tests need {name} (set by `cargo xtask test` or `cargo xtask emulators`)"
                );
                if std::env::var_os("REGISTRY_REQUIRE_EMULATORS").is_some() {
                    panic!("{reason}");
                }
                eprintln!("SKIPPED: {reason}");
                return None;
            }
        }
    }
    Some(values)
}
