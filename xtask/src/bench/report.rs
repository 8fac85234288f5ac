//! The benchmark table (markdown, for the terminal and docs/BENCHMARKS.md) and the raw
//! numbers (docs/benchmarks.json).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::measure::median;
use super::{Round, Target};
use crate::process::Result;

/// Rows of the table: metric, label, unit, and whether more is better.
const ROWS: &[(&str, &str, &str, bool)] = &[
    (
        "manifest_by_tag_rps",
        "manifest GET by tag, 50 connections",
        "req/s",
        true,
    ),
    ("manifest_by_tag_p50_ms", "  p50 latency", "ms", false),
    ("manifest_by_tag_p99_ms", "  p99 latency", "ms", false),
    (
        "manifest_by_digest_rps",
        "manifest GET by digest, 50 connections",
        "req/s",
        true,
    ),
    ("manifest_by_digest_p50_ms", "  p50 latency", "ms", false),
    ("manifest_by_digest_p99_ms", "  p99 latency", "ms", false),
    ("blob_head_rps", "blob HEAD, 50 connections", "req/s", true),
    ("blob_head_p50_ms", "  p50 latency", "ms", false),
    ("blob_head_p99_ms", "  p99 latency", "ms", false),
    (
        "small_blob_get_rps",
        "blob GET of 2 KiB, 50 connections",
        "req/s",
        true,
    ),
    ("small_blob_get_p50_ms", "  p50 latency", "ms", false),
    ("small_blob_get_p99_ms", "  p99 latency", "ms", false),
    (
        "nginx_static_rps",
        "nginx sendfile of the manifest's file, in turn",
        "req/s",
        true,
    ),
    ("nginx_static_p50_ms", "  p50 latency", "ms", false),
    ("nginx_static_p99_ms", "  p99 latency", "ms", false),
    (
        "manifest_by_tag_1core_rps",
        "manifest GET by tag, server on one core",
        "req/s",
        true,
    ),
    ("manifest_by_tag_1core_p50_ms", "  p50 latency", "ms", false),
    ("manifest_by_tag_1core_p99_ms", "  p99 latency", "ms", false),
    (
        "manifest_by_digest_1core_rps",
        "manifest GET by digest, server on one core",
        "req/s",
        true,
    ),
    (
        "manifest_by_digest_1core_p50_ms",
        "  p50 latency",
        "ms",
        false,
    ),
    (
        "manifest_by_digest_1core_p99_ms",
        "  p99 latency",
        "ms",
        false,
    ),
    (
        "blob_head_1core_rps",
        "blob HEAD, server on one core",
        "req/s",
        true,
    ),
    ("blob_head_1core_p50_ms", "  p50 latency", "ms", false),
    ("blob_head_1core_p99_ms", "  p99 latency", "ms", false),
    (
        "small_blob_get_1core_rps",
        "blob GET of 2 KiB, server on one core",
        "req/s",
        true,
    ),
    ("small_blob_get_1core_p50_ms", "  p50 latency", "ms", false),
    ("small_blob_get_1core_p99_ms", "  p99 latency", "ms", false),
    ("pull_mbps", "blob pull (one large blob)", "MB/s", true),
    (
        "nginx_pull_mbps",
        "  nginx sendfile, same file, in turn",
        "MB/s",
        true,
    ),
    (
        "push_monolithic_mbps",
        "monolithic push (one large blob)",
        "MB/s",
        true,
    ),
    (
        "push_chunked_mbps",
        "chunked push, 8 MiB chunks",
        "MB/s",
        true,
    ),
    (
        "small_blobs_per_s",
        "200 blobs of 4 KiB, 16 clients",
        "blobs/s",
        true,
    ),
    ("idle_rss_mib", "idle RSS", "MiB", false),
    (
        "peak_rss_manifest_load_mib",
        "peak RSS, manifest load",
        "MiB",
        false,
    ),
    (
        "peak_rss_1gib_push_mib",
        "peak RSS, 1 GiB push",
        "MiB",
        false,
    ),
    ("startup_ms", "start to first 200 on /v2/", "ms", false),
];

/// CPU time per operation: metric, label, unit.
const CPU_ROWS: &[(&str, &str, &str)] = &[
    (
        "manifest_by_tag_server_cpu_us",
        "manifest GET by tag: registry, per request",
        "µs",
    ),
    (
        "manifest_by_tag_client_cpu_us",
        "manifest GET by tag: hey, per request",
        "µs",
    ),
    (
        "manifest_by_digest_server_cpu_us",
        "manifest GET by digest: registry, per request",
        "µs",
    ),
    (
        "blob_head_server_cpu_us",
        "blob HEAD: registry, per request",
        "µs",
    ),
    (
        "small_blob_get_server_cpu_us",
        "blob GET of 2 KiB: registry, per request",
        "µs",
    ),
    (
        "push_monolithic_server_cpu_s",
        "monolithic push: registry",
        "s",
    ),
    (
        "push_monolithic_client_cpu_s",
        "monolithic push: client",
        "s",
    ),
    ("push_chunked_server_cpu_s", "chunked push: registry", "s"),
    ("push_chunked_client_cpu_s", "chunked push: client", "s"),
    ("pull_server_cpu_s", "pull: registry", "s"),
];

#[derive(serde::Serialize)]
pub struct Report {
    rounds: usize,
    machine: BTreeMap<String, String>,
    limits: Round,
    medians: BTreeMap<Target, BTreeMap<String, f64>>,
    raw: BTreeMap<Target, Vec<Round>>,
}

impl Report {
    pub fn new(
        raw: BTreeMap<Target, Vec<Round>>,
        limits: Round,
        rounds: usize,
        storage: &Path,
    ) -> Self {
        let mut medians = BTreeMap::new();
        for (target, runs) in &raw {
            let mut by_metric: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for run in runs {
                for (metric, value) in run {
                    by_metric.entry(metric.clone()).or_default().push(*value);
                }
            }
            let summary = by_metric
                .into_iter()
                .map(|(metric, mut values)| (metric, median(&mut values)))
                .collect();
            medians.insert(*target, summary);
        }
        Report {
            rounds,
            machine: machine(storage),
            limits,
            medians,
            raw,
        }
    }

    /// The large blob's size in MB, as the limits recorded it.
    fn raw_size_mb(&self) -> Option<f64> {
        self.limits.get("blob_mb").copied()
    }

    fn value(&self, target: Target, metric: &str) -> Option<f64> {
        self.medians.get(&target)?.get(metric).copied()
    }

    pub fn markdown_table(&self) -> String {
        let mut out = String::from(
            "| measurement | unit | ours | reference | ours / reference |\n|---|---|---:|---:|---:|\n",
        );
        for (metric, label, unit, _) in ROWS {
            let ours = self.value(Target::Ours, metric);
            let reference = self.value(Target::Reference, metric);
            let ratio = match (ours, reference) {
                (Some(o), Some(r)) if r > 0.0 => format!("{:.2}x", o / r),
                _ => "-".into(),
            };
            out.push_str(&format!(
                "| {label} | {unit} | {} | {} | {ratio} |\n",
                fmt(ours),
                fmt(reference)
            ));
        }
        out.push_str(&super::auth::markdown(|t, m| self.value(t, m)));
        out.push_str(
            "\nCPU time (user + system, all threads) per operation; pushes and pulls move one \
             large blob:\n\n| CPU time | unit | ours | reference |\n|---|---|---:|---:|\n",
        );
        for (metric, label, unit) in CPU_ROWS {
            out.push_str(&format!(
                "| {label} | {unit} | {} | {} |\n",
                fmt(self.value(Target::Ours, metric)),
                fmt(self.value(Target::Reference, metric))
            ));
        }
        out.push_str("\nLimits on this machine:\n\n| limit | MB/s | ours as share of it |\n|---|---:|---:|\n");
        let share = |ours: Option<f64>, limit: Option<f64>| match (ours, limit) {
            (Some(o), Some(l)) if l > 0.0 => format!("{:.0}%", 100.0 * o / l),
            _ => "-".into(),
        };
        let sha = self.limits.get("sha256_limit_mbps").copied();
        // nginx's pulls taken in turn with ours, of the file our registry stored.
        let nginx = self.value(Target::Ours, "nginx_pull_mbps");
        out.push_str(&format!(
            "| nginx sendfile, same file, in turn with our pulls (pull limit) | {} | {} |\n",
            fmt(nginx),
            share(self.value(Target::Ours, "pull_mbps"), nginx)
        ));
        out.push_str(&format!(
            "| sha256 in-process, one core (push limit) | {} | {} monolithic, {} chunked |\n",
            fmt(sha),
            share(self.value(Target::Ours, "push_monolithic_mbps"), sha),
            share(self.value(Target::Ours, "push_chunked_mbps"), sha)
        ));
        // What both cores could do at the CPU cost measured: a push cannot be faster than the
        // registry's and the client's CPU time spread over all cores.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let size_mb = self.raw_size_mb();
        let floor = |kind: &str| {
            let server = self.value(Target::Ours, &format!("push_{kind}_server_cpu_s"))?;
            let client = self.value(Target::Ours, &format!("push_{kind}_client_cpu_s"))?;
            Some(size_mb? / ((server + client) / cores))
        };
        let (mono, chunked) = (floor("monolithic"), floor("chunked"));
        out.push_str(&format!(
            "| all cores busy at the measured CPU cost of a push (monolithic / chunked) | {} / {} | {} / {} |\n",
            fmt(mono),
            fmt(chunked),
            share(self.value(Target::Ours, "push_monolithic_mbps"), mono),
            share(self.value(Target::Ours, "push_chunked_mbps"), chunked)
        ));
        // A registry that did nothing but hash: the hash and the client's measured CPU still
        // share the cores.
        let hash_only = (|| {
            let hash_s = size_mb? / sha?;
            let client = self.value(Target::Ours, "push_monolithic_client_cpu_s")?;
            Some((size_mb? / ((hash_s + client) / cores)).min(sha?))
        })();
        out.push_str(&format!(
            "| a registry that only hashed, beside the client's measured CPU (monolithic) | {} | {} |\n",
            fmt(hash_only),
            share(self.value(Target::Ours, "push_monolithic_mbps"), hash_only)
        ));
        out
    }

    pub fn write(&self, markdown: &Path, json: &Path) -> Result {
        if let Some(dir) = markdown.parent() {
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        }
        let machine: String = self
            .machine
            .iter()
            .map(|(k, v)| format!("- {k}: {v}\n"))
            .collect();
        let text = format!(
            "# Benchmarks\n\nWritten by `cargo xtask bench`: this registry (release build) and the reference \
             registry (CNCF Distribution 2.8, Debian `docker-registry`), one after the other on the same \
             machine, each on filesystem storage in a fresh temporary directory, driven by the same \
             clients (`hey` for request rates, a Rust client for pushes and pulls). Medians of {} rounds. \
             The \"server on one core\" rows run a second instance over the same storage with one worker \
             thread (ours, `http.workers: 1`) or `GOMAXPROCS=1` (the reference), the other core left to \
             `hey`. Raw numbers: `benchmarks.json`.\n\n## Machine\n\n{machine}\n## Results\n\n{}",
            self.rounds,
            self.markdown_table()
        );
        std::fs::write(markdown, text).map_err(|e| e.to_string())?;
        let raw = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(json, raw).map_err(|e| e.to_string())
    }
}

fn fmt(value: Option<f64>) -> String {
    match value {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
        None => "-".into(),
    }
}

fn machine(storage: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let text = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown")
        .trim()
        .to_owned();
    let sha_ni = cpuinfo
        .lines()
        .any(|l| l.starts_with("flags") && l.contains(" sha_ni"));
    out.insert("cpu".into(), model);
    out.insert("cores".into(), text("nproc", &[]));
    out.insert("cpu SHA extensions".into(), sha_ni.to_string());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    out.insert(
        "memory".into(),
        memory.replace("MemTotal:", "").trim().to_owned(),
    );
    out.insert("kernel".into(), text("uname", &["-sr"]));
    let fs_type = text("stat", &["-f", "-c", "%T", &storage.display().to_string()]);
    out.insert(
        "storage".into(),
        format!("{} ({fs_type})", storage.display()),
    );
    out.insert("date".into(), text("date", &["-u", "+%Y-%m-%dT%H:%MZ"]));
    out.insert(
        "reference".into(),
        text(
            "sh",
            &["-c", "dpkg-query -W -f='${Version}' docker-registry"],
        ),
    );
    out
}
