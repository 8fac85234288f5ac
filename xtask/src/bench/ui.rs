//! The web view's pages of 1,000 entries against the API listings of the same entries, on
//! this registry (release build, filesystem storage on tmpfs when there is one): the
//! repositories page against `/v2/_catalog?n=1000`, a tags page against
//! `/v2/<name>/tags/list?n=1000` (with 4 connections and with 1, a single request's latency)
//! and against the API requests that give what the page shows (the tags list and a manifest
//! HEAD per tag), and a manifest page. Latency under `hey`; every answer must be 200.
//!
//! Goal: a page of 1,000 repositories or tags renders within the API listing's latency
//! budget: its median is at most the median of the API's listing of 1,000 repositories
//! (`/v2/_catalog?n=1000`, the slower of the API's two listings) at the same concurrency.
//! Each page is also compared with its own API listing: the repositories page costs the
//! catalog's storage operations plus rendering; a tags page reads each tag's link, with its
//! push time, and its manifest, which the tags list (one directory listing) does not, so it
//! cannot come near that listing; the API's way to the same information (tags list plus a
//! manifest HEAD per tag) is the fair comparison for what it shows.
//!
//! Run alone with `cargo xtask bench --only ui`; writes docs/BENCHMARKS-ui.md.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::Options;
use super::client::push_image;
use super::load::{LoadResult, hey};
use crate::e2e::registry::start_ours_with_env;
use crate::process::Result;

const ENTRIES: usize = 1000;
const CONNECTIONS: usize = 4;

pub struct Row {
    pub what: &'static str,
    pub url: String,
    /// Concurrent connections (clients, for the API equivalent).
    pub connections: usize,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The row of this page's own API listing (compared).
    pub listing: Option<usize>,
    /// The row whose median is this row's budget (the API catalog listing of 1,000).
    pub budget: Option<usize>,
    /// The row that gets the same information from the API (compared, not budgeted).
    pub equivalent: Option<usize>,
}

/// What is measured: a URL under `hey`, or the API's equivalent of the tags page.
enum Load {
    Hey(String),
    /// The tags list, then a manifest HEAD per tag, one request after another per client.
    TagsThenHeads,
}

struct Measured {
    what: &'static str,
    load: Load,
    connections: usize,
    listing: Option<usize>,
    budget: Option<usize>,
    equivalent: Option<usize>,
}

const TAGS_LIST: &str = "/v2/bench/tags/tags/list?n=1000";

fn measured() -> Vec<Measured> {
    let hey = |what, path: String, connections, listing, budget, equivalent| Measured {
        what,
        load: Load::Hey(path),
        connections,
        listing,
        budget,
        equivalent,
    };
    let equivalent = |what, connections| Measured {
        what,
        load: Load::TagsThenHeads,
        connections,
        listing: None,
        budget: None,
        equivalent: None,
    };
    let catalog = format!("/v2/_catalog?n={ENTRIES}");
    let repositories_page = format!("/ui/?n={ENTRIES}");
    let tags_page = format!("/ui/r/bench/tags?n={ENTRIES}");
    let mut rows = Vec::new();
    // Per concurrency: 0 catalog, 1 repositories page, 2 tags list, 3 API equivalent,
    // 4 tags page (offsets from the block's first row).
    for connections in [CONNECTIONS, 1] {
        let first = rows.len();
        rows.extend([
            hey(
                "API catalog, 1000 repositories",
                catalog.clone(),
                connections,
                None,
                None,
                None,
            ),
            hey(
                "web view repositories page, 1000",
                repositories_page.clone(),
                connections,
                Some(first),
                Some(first),
                None,
            ),
            hey(
                "API tags list, 1000 tags",
                TAGS_LIST.to_owned(),
                connections,
                None,
                None,
                None,
            ),
            equivalent(
                "API equivalent of the tags page: tags list + a manifest HEAD per tag",
                connections,
            ),
            hey(
                "web view tags page, 1000",
                tags_page.clone(),
                connections,
                Some(first + 2),
                Some(first),
                Some(first + 3),
            ),
        ]);
    }
    rows.push(hey(
        "web view manifest page",
        "/ui/r/bench/tags/-/m/t0000".to_owned(),
        CONNECTIONS,
        None,
        None,
        None,
    ));
    rows
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
    let mut rows = Vec::new();
    for m in measured() {
        let mut results = Vec::new();
        for _ in 0..options.rounds {
            results.push(match &m.load {
                Load::Hey(path) => hey(
                    &format!("http://{host}{path}"),
                    "GET",
                    None,
                    m.connections,
                    seconds,
                )?,
                Load::TagsThenHeads => {
                    runtime.block_on(tags_then_heads(&host, m.connections, seconds))?
                }
            });
        }
        let median = |f: fn(&LoadResult) -> f64| {
            let mut values: Vec<f64> = results.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let row = Row {
            what: m.what,
            url: match &m.load {
                Load::Hey(path) => path.clone(),
                Load::TagsThenHeads => {
                    format!("{TAGS_LIST}, then HEAD /v2/bench/tags/manifests/<tag> x {ENTRIES}")
                }
            },
            connections: m.connections,
            requests_per_second: median(|r| r.requests_per_second),
            p50_ms: median(|r| r.p50_ms),
            p99_ms: median(|r| r.p99_ms),
            listing: m.listing,
            budget: m.budget,
            equivalent: m.equivalent,
        };
        println!(
            "xtask bench: ui: {} (c={}): {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
            row.what, row.connections, row.requests_per_second, row.p50_ms, row.p99_ms
        );
        rows.push(row);
    }
    drop(registry);
    Ok(rows)
}

/// What a client of the API does to learn what the tags page shows (the digest and media
/// type of each tag's manifest): the tags list, then a manifest HEAD per tag, each on a kept
/// connection, one request after another. `clients` such clients for `seconds`; the latency
/// is that of the whole sequence, and every answer must be 200.
async fn tags_then_heads(host: &str, clients: usize, seconds: u64) -> Result<LoadResult> {
    const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
                          application/vnd.oci.image.index.v1+json, \
                          application/vnd.docker.distribution.manifest.v2+json, \
                          application/vnd.docker.distribution.manifest.list.v2+json";
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers = (0..clients).map(|_| async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .map_err(|e| e.to_string())?;
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let started = Instant::now();
            let list: serde_json::Value = client
                .get(format!("http://{host}{TAGS_LIST}"))
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| format!("tags list: {e}"))?
                .json()
                .await
                .map_err(|e| format!("tags list: {e}"))?;
            let tags = list["tags"].as_array().cloned().unwrap_or_default();
            if tags.len() != ENTRIES {
                return Err(format!("tags list: {} tags, not {ENTRIES}", tags.len()));
            }
            for tag in tags {
                let tag = tag.as_str().unwrap_or_default();
                let response = client
                    .head(format!("http://{host}/v2/bench/tags/manifests/{tag}"))
                    .header(reqwest::header::ACCEPT, ACCEPT)
                    .send()
                    .await
                    .map_err(|e| format!("HEAD {tag}: {e}"))?;
                if response.status() != 200 {
                    return Err(format!("HEAD {tag}: {}", response.status()));
                }
            }
            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        Ok::<_, String>(latencies)
    });
    let mut all = Vec::new();
    for latencies in futures::future::join_all(workers).await {
        all.extend(latencies?);
    }
    if all.is_empty() {
        return Err("the API equivalent finished no sequence in time".into());
    }
    all.sort_by(f64::total_cmp);
    let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
    Ok(LoadResult {
        requests_per_second: all.len() as f64 / seconds as f64,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
    })
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

/// The table, with each page's median against the API listing budget, its own API listing
/// and the API requests that give the same information.
pub fn markdown(rows: &[Row], options: &Options) -> String {
    let mut out = format!(
        "# The web view: pages of 1,000 entries\n\n\
         This registry, release build, filesystem storage; `hey` with the connections shown, \
         median of {} rounds of {} s. `cargo xtask bench --only ui`.\n\n\
         Budget: the API listing's latency for 1,000 entries: a page's median at most the median \
         of the API catalog listing of 1,000 repositories at the same concurrency (the slower of \
         the API's two listings). Each page is also compared with its own API listing. The tags \
         page reads each tag's link (its digest and push time) and each distinct manifest, which \
         the tags list (one directory listing) does not: it cannot come near that listing, and \
         the API's way to the same information, the tags list and a manifest HEAD per tag, is the \
         comparison for what it shows (each client sends its requests one after another on a \
         kept connection; its latency is the whole sequence's, its req/s whole sequences per \
         second).\n\n\
         | request | connections | req/s | p50 (ms) | p99 (ms) | p50 / API listing budget | within budget | p50 / own API listing | p50 / API equivalent |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|\n",
        options.rounds,
        if options.quick { 2 } else { 5 }
    );
    let p50 = |i: usize| rows.get(i).map_or(f64::NAN, |r: &Row| r.p50_ms);
    let ratio = |row: &Row, of: Option<usize>, digits: usize| {
        of.map(|i| format!("{:.digits$}", row.p50_ms / p50(i)))
            .unwrap_or_default()
    };
    for row in rows {
        let verdict = match row.budget {
            Some(i) if row.p50_ms <= p50(i) => "yes",
            Some(_) => "no",
            None => "",
        };
        let _ = writeln!(
            out,
            "| {} `{}` | {} | {:.0} | {:.1} | {:.1} | {} | {verdict} | {} | {} |",
            row.what,
            row.url,
            row.connections,
            row.requests_per_second,
            row.p50_ms,
            row.p99_ms,
            ratio(row, row.budget, 2),
            ratio(row, row.listing, 2),
            ratio(row, row.equivalent, 3),
        );
    }
    out
}
