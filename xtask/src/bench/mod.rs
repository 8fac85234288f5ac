//! `cargo xtask bench`: this registry and the reference registry (CNCF Distribution 2.8,
//! Debian `docker-registry`) side by side on the same machine, the same kind of storage
//! (filesystem in a fresh temporary directory) and the same clients, several rounds each;
//! medians and the ratio ours / reference, with nginx sendfile and in-process sha256 as the
//! physical limits for pull and push.

mod auth;
mod cache;
mod client;
mod gc;
mod gc_root;
mod load;
mod measure;
mod proxy;
mod ranges;
mod report;
mod scenarios;
mod ui;

use std::collections::BTreeMap;

use crate::e2e;
use crate::process::{Result, ensure_apt};

/// Which registry a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Ours,
    Reference,
}

/// Every figure of one round, by metric name.
pub type Round = BTreeMap<String, f64>;

pub struct Options {
    pub rounds: usize,
    pub quick: bool,
    /// Run only this scenario (`ranges`, `auth`, `proxy`, `ui`, `cache`, `gc`).
    pub only: Option<String>,
}

/// Where both registries store data. On tmpfs when the machine has one: this machine's disk
/// (about 150-250 MB/s) would otherwise bound every push of both registries, and the point is
/// to compare the registries, not the disk. `REGISTRY_BENCH_DIR` overrides it.
fn bench_dir() -> Result<std::path::PathBuf> {
    let base = match std::env::var_os("REGISTRY_BENCH_DIR") {
        Some(dir) => std::path::PathBuf::from(dir),
        None if std::path::Path::new("/dev/shm").is_dir() => "/dev/shm".into(),
        None => std::env::temp_dir(),
    };
    let dir = base.join(format!("registry-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

pub fn run(options: &Options) -> Result {
    if options.only.as_deref() == Some("ranges") {
        return run_ranges(options, &e2e::registry::build_binary_with(true)?);
    }
    if options.only.as_deref() == Some("proxy") {
        ensure_apt(&[("docker-registry", "docker-registry")])?;
        return run_proxy(options, &e2e::registry::build_binary_with(true)?);
    }
    if options.only.as_deref() == Some("ui") {
        return run_ui(options, &e2e::registry::build_binary_with(true)?);
    }
    if options.only.as_deref() == Some("cache") {
        ensure_apt(&[("docker-registry", "docker-registry"), ("hey", "hey")])?;
        return run_cache(options, &e2e::registry::build_binary_with(true)?);
    }
    if options.only.as_deref() == Some("gc") {
        return run_gc(options, &e2e::registry::build_binary_with(true)?);
    }
    let auth_only = options.only.as_deref() == Some("auth");
    if let Some(other) = options.only.as_ref().filter(|_| !auth_only) {
        return Err(format!(
            "--only {other:?}: the scenarios that run alone are `ranges`, `auth`, `proxy`, `ui`, `cache` and `gc`"
        ));
    }
    ensure_apt(&[
        ("docker-registry", "docker-registry"),
        ("nginx", "nginx"),
        ("hey", "hey"),
    ])?;
    let binary = e2e::registry::build_binary_with(true)?;
    let work = bench_dir()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    let limits = scenarios::sha256_limit(options);
    let nginx = scenarios::Nginx::start(&work)?;
    let mut rounds: BTreeMap<Target, Vec<Round>> = BTreeMap::new();
    for round in 0..options.rounds {
        for target in [Target::Ours, Target::Reference] {
            println!(
                "xtask bench: round {} of {}, {target:?}",
                round + 1,
                options.rounds
            );
            let dir = work.join(format!("{target:?}-{round}"));
            let mut figures = if auth_only {
                Round::new()
            } else {
                runtime.block_on(scenarios::round(target, &binary, &dir, &nginx, options))?
            };
            figures.extend(runtime.block_on(auth::round(target, &binary, &dir, options))?);
            rounds.entry(target).or_default().push(figures);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    drop(nginx);
    let table = report::Report::new(rounds, limits, options.rounds, &work);
    let _ = std::fs::remove_dir_all(&work);
    println!("{}", table.markdown_table());
    if auth_only {
        return Ok(());
    }
    let docs = crate::cache::workspace_root().join("docs");
    table.write(&docs.join("BENCHMARKS.md"), &docs.join("benchmarks.json"))?;
    println!("xtask bench: wrote docs/BENCHMARKS.md and docs/benchmarks.json");
    run_ranges(options, &binary)?;
    run_proxy(options, &binary)?;
    run_ui(options, &binary)?;
    run_cache(options, &binary)?;
    run_gc(options, &binary)
}

/// Offline garbage collection against the reference's ([`gc`]); writes docs/BENCHMARKS-gc.md.
fn run_gc(options: &Options, binary: &std::path::Path) -> Result {
    let work = bench_dir()?;
    let measured = gc::run(options, binary, &work);
    let _ = std::fs::remove_dir_all(&work);
    let (rows, fs_root, s3_root) = measured?;
    let table = gc::markdown(&rows, &fs_root, &s3_root, options);
    println!("{table}");
    let path = crate::cache::workspace_root().join("docs/BENCHMARKS-gc.md");
    std::fs::write(&path, table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask bench: wrote docs/BENCHMARKS-gc.md");
    Ok(())
}

/// The shared Redis cache scenario ([`cache`]); writes docs/BENCHMARKS-cache.md.
fn run_cache(options: &Options, binary: &std::path::Path) -> Result {
    let work = bench_dir()?;
    let rows = cache::run(options, binary, &work);
    let _ = std::fs::remove_dir_all(&work);
    let table = cache::markdown(&rows?, options);
    println!("{table}");
    let path = crate::cache::workspace_root().join("docs/BENCHMARKS-cache.md");
    std::fs::write(&path, table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask bench: wrote docs/BENCHMARKS-cache.md");
    Ok(())
}

/// The pull-through cache scenario ([`proxy`]); writes docs/BENCHMARKS-proxy.md.
fn run_proxy(options: &Options, binary: &std::path::Path) -> Result {
    let work = bench_dir()?;
    let measured = proxy::run(options, binary, &work);
    let _ = std::fs::remove_dir_all(&work);
    let (rows, total) = measured?;
    let table = proxy::markdown(&rows, total, options);
    println!("{table}");
    let path = crate::cache::workspace_root().join("docs/BENCHMARKS-proxy.md");
    std::fs::write(&path, table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask bench: wrote docs/BENCHMARKS-proxy.md");
    Ok(())
}

/// The partial-pull scenario ([`ranges`]); writes docs/BENCHMARKS-ranges.md.
fn run_ranges(options: &Options, binary: &std::path::Path) -> Result {
    let work = bench_dir()?;
    let rows = ranges::run(options, binary, &work);
    let _ = std::fs::remove_dir_all(&work);
    let table = ranges::markdown(&rows?, options);
    println!("{table}");
    let path = crate::cache::workspace_root().join("docs/BENCHMARKS-ranges.md");
    std::fs::write(&path, table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask bench: wrote docs/BENCHMARKS-ranges.md");
    Ok(())
}

/// The web view's pages against the API listings ([`ui`]); writes docs/BENCHMARKS-ui.md.
fn run_ui(options: &Options, binary: &std::path::Path) -> Result {
    ensure_apt(&[("hey", "hey")])?;
    let work = bench_dir()?;
    let rows = ui::run(options, binary, &work);
    let _ = std::fs::remove_dir_all(&work);
    let table = ui::markdown(&rows?, options);
    println!("{table}");
    let path = crate::cache::workspace_root().join("docs/BENCHMARKS-ui.md");
    std::fs::write(&path, table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("xtask bench: wrote docs/BENCHMARKS-ui.md");
    Ok(())
}
