//! The web view's pages of 1,000 entries against the API listings of the same entries, on
//! this registry (release build, filesystem storage on tmpfs when there is one): the
//! repositories page against `/v2/_catalog?n=1000`, a tags page against
//! `/v2/<name>/tags/list?n=1000`, and a manifest page. Latency under `hey` with a few
//! connections; every answer must be 200.
//!
//! Goal: a page of 1,000 repositories or tags renders within the API listing's latency
//! budget, taken here as twice the API listing's median for the same 1,000 entries (the
//! repositories page costs the catalog's storage operations plus rendering; a tags page reads
//! each tag's link and push time and its manifest, which the tags list does not).
//!
//! Run alone with `cargo xtask bench --only ui`; writes docs/BENCHMARKS-ui.md.

use std::fmt::Write as _;
use std::path::Path;

use futures::StreamExt;

use super::Options;
use super::client::push_image;
use super::load::hey;
use crate::e2e::registry::start_ours_with_env;
use crate::process::Result;

const ENTRIES: usize = 1000;
const CONNECTIONS: usize = 4;

pub struct Row {
    pub what: &'static str,
    pub url: String,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn run(options: &Options, binary: &Path, work: &Path) -> Result<Vec<Row>> {
    let storage = format!(
        "  filesystem:\n    rootdirectory: {}\n",
        work.join("storage").display()
    );
    let registry = start_ours_with_env(
        binary,
        &work.join("ours"),
        &storage,
        "",
        &[("REGISTRY_UI_ENABLED", "true")],
    )?;
    let host = registry.host.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    println!("xtask bench: ui: pushing {ENTRIES} repositories and {ENTRIES} tags");
    runtime.block_on(fill(&host))?;

    let seconds = if options.quick { 2 } else { 5 };
    let pages = [
        (
            "API catalog, 1000 repositories",
            format!("/v2/_catalog?n={ENTRIES}"),
        ),
        (
            "web view repositories page, 1000",
            format!("/ui/?n={ENTRIES}"),
        ),
        (
            "API tags list, 1000 tags",
            format!("/v2/bench/tags/tags/list?n={ENTRIES}"),
        ),
        (
            "web view tags page, 1000",
            format!("/ui/r/bench/tags?n={ENTRIES}"),
        ),
        (
            "web view manifest page",
            "/ui/r/bench/tags/-/m/t0000".to_owned(),
        ),
    ];
    let mut rows = Vec::new();
    for (what, path) in pages {
        let url = format!("http://{host}{path}");
        let mut results = Vec::new();
        for _ in 0..options.rounds {
            results.push(hey(&url, "GET", None, CONNECTIONS, seconds)?);
        }
        let median = |f: fn(&super::load::LoadResult) -> f64| {
            let mut values: Vec<f64> = results.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let row = Row {
            what,
            url: path,
            requests_per_second: median(|r| r.requests_per_second),
            p50_ms: median(|r| r.p50_ms),
            p99_ms: median(|r| r.p99_ms),
        };
        println!(
            "xtask bench: ui: {what}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
            row.requests_per_second, row.p50_ms, row.p99_ms
        );
        rows.push(row);
    }
    drop(registry);
    Ok(rows)
}

/// `bench/r0000` ... (one image each) and `bench/tags` with tags `t0000` ...
async fn fill(host: &str) -> Result {
    let client = reqwest::Client::new();
    let jobs = (0..ENTRIES).flat_map(|i| {
        [
            (format!("bench/r{i:04}"), "latest".to_owned()),
            ("bench/tags".to_owned(), format!("t{i:04}")),
        ]
    });
    let results: Vec<Result<String>> = futures::stream::iter(jobs)
        .map(|(repo, tag)| {
            let client = client.clone();
            async move { push_image(&client, host, &repo, &tag).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    results.into_iter().try_for_each(|r| r.map(|_| ()))
}

/// The table, with each page's median against its API listing's (the budget).
pub fn markdown(rows: &[Row], options: &Options) -> String {
    let mut out = format!(
        "# The web view: pages of 1,000 entries\n\n\
         This registry, release build, filesystem storage; {CONNECTIONS} connections with `hey`, \
         median of {} rounds of {} s. Budget: a page's median within twice its API listing's. \
         `cargo xtask bench --only ui`.\n\n\
         | request | req/s | p50 (ms) | p99 (ms) | p50 / API listing | within budget |\n\
         |---|---:|---:|---:|---:|---|\n",
        options.rounds,
        if options.quick { 2 } else { 5 }
    );
    let api = |i: usize| rows.get(i).map_or(f64::NAN, |r: &Row| r.p50_ms);
    for (i, row) in rows.iter().enumerate() {
        let baseline = match i {
            1 => Some(api(0)),
            3 => Some(api(2)),
            _ => None,
        };
        let (ratio, verdict) = match baseline {
            Some(b) => {
                let ratio = row.p50_ms / b;
                (
                    format!("{ratio:.2}"),
                    if ratio <= 2.0 { "yes" } else { "no" },
                )
            }
            None => ("".to_owned(), ""),
        };
        let _ = writeln!(
            out,
            "| {} `{}` | {:.0} | {:.1} | {:.1} | {ratio} | {verdict} |",
            row.what, row.url, row.requests_per_second, row.p50_ms, row.p99_ms
        );
    }
    out
}
