//! Running the two collectors: this registry's `garbage-collect --json` (and a crashed run of
//! it), the reference's `garbage-collect`, and checking what they report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::content::Content;
use super::root_files::snapshot;
use crate::e2e::scenarios::ensure;
use crate::process::Result;

/// Runs `registry garbage-collect --json ARGS CONFIG`; its JSON report.
pub(super) fn ours_gc(binary: &Path, config: &Path, args: &[&str]) -> Result<Value> {
    let out = Command::new(binary)
        .arg("garbage-collect")
        .arg("--json")
        .args(args)
        .arg(config)
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let shown = format!("registry garbage-collect --json {}", args.join(" "));
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| {
        format!(
            "{shown} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

pub(super) fn string_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// This registry's report removed exactly `garbage` (the overwritten manifest among the
/// manifests), with its byte count.
pub(super) fn check_report(
    report: &Value,
    garbage: &BTreeSet<String>,
    content: &Content,
    garbage_bytes: u64,
    what: &str,
) -> Result {
    let removed = string_set(&report["removed_blobs"]);
    ensure(&removed == garbage, || {
        format!(
            "this registry's {what} removed blobs {removed:?}; expected {garbage:?} (missing {:?}, extra {:?})",
            garbage.difference(&removed).collect::<Vec<_>>(),
            removed.difference(garbage).collect::<Vec<_>>()
        )
    })?;
    let manifests = string_set(&report["removed_manifests"]);
    let overwritten = format!("{}@{}", content.overwritten.0, content.overwritten.1.digest);
    ensure(manifests == BTreeSet::from([overwritten.clone()]), || {
        format!("this registry's {what} removed manifests {manifests:?}; expected {overwritten}")
    })?;
    ensure(
        report["blobs_removed"].as_u64() == Some(garbage.len() as u64)
            && report["bytes_freed"].as_u64() == Some(garbage_bytes),
        || {
            format!(
                "this registry's {what} reports {} blobs and {} bytes; expected {} and {garbage_bytes}",
                report["blobs_removed"],
                report["bytes_freed"],
                garbage.len()
            )
        },
    )
}

pub(super) fn check_nothing_removed(report: &Value, what: &str) -> Result {
    ensure(
        report["blobs_removed"].as_u64() == Some(0)
            && report["manifests_removed"].as_u64() == Some(0),
        || {
            format!(
                "{what} on the reference-collected root would remove blobs {} and manifests {}",
                report["removed_blobs"], report["removed_manifests"]
            )
        },
    )
}

pub(super) fn check_disjoint(kept: &BTreeSet<String>, garbage: &BTreeSet<String>) -> Result {
    let shared: Vec<_> = kept.intersection(garbage).collect();
    ensure(shared.is_empty(), || {
        format!("test content error: blobs both kept and garbage: {shared:?}")
    })
}

/// Starts `registry garbage-collect` and kills it once it has doomed its candidates (it
/// then waits the reliance window), as a crash would; returns how many files it left under
/// `_gc/`.
pub(super) fn crash_ours_gc(binary: &Path, config: &Path, root: &Path) -> Result<usize> {
    let gc_dir = root.join("docker/registry/v2/_gc");
    let mut child = Command::new(binary)
        .args(["garbage-collect", "--quiet"])
        .arg(config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(25);
    let doomed = loop {
        let doomed_dir = gc_dir.join("doomed");
        let markers = if doomed_dir.exists() {
            snapshot(&doomed_dir)?
                .values()
                .filter(|(_, t)| t.is_some())
                .count()
        } else {
            0
        };
        if markers > 0 {
            break Ok(());
        }
        if std::time::Instant::now() > deadline {
            break Err("this registry's garbage-collect wrote no doom marker within 25 s".into());
        }
        if let Ok(Some(status)) = child.try_wait() {
            break Err(format!(
                "this registry's garbage-collect ended ({status}) before it doomed the orphan"
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    doomed?;
    Ok(snapshot(&gc_dir)?
        .values()
        .filter(|(_, t)| t.is_some())
        .count())
}

/// A config for the reference's `garbage-collect` over a filesystem root (it reads only
/// `storage`).
pub(super) fn write_reference_config(root: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let config = dir.join("reference.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n  secret: e2e-reference-secret\n",
        root.display()
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    Ok(config)
}

/// What the reference's `garbage-collect` printed.
pub(super) struct ReferenceGc {
    pub(super) marked: usize,
    pub(super) blobs: BTreeSet<String>,
    pub(super) manifests: BTreeSet<String>,
}

/// Runs `docker-registry garbage-collect ARGS CONFIG` and reads its output: `manifest eligible
/// for deletion: D`, `blob eligible for deletion: D`, `N blobs marked, ...`.
pub(super) fn reference_gc(config: &Path, args: &[&str]) -> Result<ReferenceGc> {
    let out = Command::new("docker-registry")
        .arg("garbage-collect")
        .args(args)
        .arg(config)
        // Its S3 driver panics on start-up when this is set, even for filesystem storage.
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .map_err(|e| format!("docker-registry: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let shown = format!("the reference's garbage-collect {}", args.join(" "));
    if !out.status.success() {
        return Err(format!(
            "{shown} failed ({}): {} {}",
            out.status,
            stdout.trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let mut result = ReferenceGc {
        marked: 0,
        blobs: BTreeSet::new(),
        manifests: BTreeSet::new(),
    };
    let mut summary = false;
    for line in stdout.lines() {
        if let Some(digest) = line.strip_prefix("blob eligible for deletion: ") {
            result.blobs.insert(digest.trim().to_owned());
        } else if let Some(digest) = line.strip_prefix("manifest eligible for deletion: ") {
            result.manifests.insert(digest.trim().to_owned());
        } else if let Some((marked, _)) = line.split_once(" blobs marked, ") {
            result.marked = marked
                .trim()
                .parse()
                .map_err(|e| format!("{shown}: {line:?}: {e}"))?;
            summary = true;
        }
    }
    ensure(summary, || format!("{shown} printed no summary: {stdout}"))?;
    Ok(result)
}
