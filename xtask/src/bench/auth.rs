//! Request rates under access control (issue 12), this registry and the reference side by side
//! with the same `config.yml`:
//!
//! - manifest GET by tag without auth (the baseline of the same round),
//! - manifest GET by tag with htpasswd: a Basic header on every request, as clients that log in
//!   with a password send it (bcrypt cost 10, Go's default),
//! - manifest GET by tag and blob HEAD with a bearer token (RS256, `x5c` chain to the
//!   configured root bundle), the header a client sends after the token dance.
//!
//! Goals: authenticated manifest GETs keep at least 80% of this registry's unauthenticated
//! rate, and the htpasswd rate is at least 20 times the reference's.

use std::path::Path;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::client::{push_image, sha256_digest};
use super::load::{LoadResult, hey_with};
use super::measure::median;
use super::{Options, Round, Target};
use crate::e2e::auth::config::{Auth, Config, write_htpasswd};
use crate::e2e::pki;
use crate::e2e::registry::{Kind, RunningRegistry, start_with_config};
use crate::e2e::token_service::{Access, mint, user};
use crate::process::{Result, free_port};

/// As the other request-rate rows: 50 connections.
const CONCURRENCY: usize = 50;
const REPO: &str = "bench/image";
const TAG: &str = "bench";
const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

/// `hey` with an `Authorization` header; every answer must be 200.
fn hey_once(
    url: &str,
    method: &str,
    authorization: Option<&str>,
    seconds: u64,
) -> Result<LoadResult> {
    let mut headers = vec![format!("Accept: {MANIFEST_TYPE}")];
    headers.extend(authorization.map(|value| format!("Authorization: {value}")));
    // Not the other rows' 10 s: under htpasswd the reference takes longer than that per
    // request with 50 connections (bcrypt on every one), and a timeout would fail the row
    // instead of measuring it. hey waits for requests in flight when the time is up and
    // counts them in the rate.
    hey_with(url, method, &headers, CONCURRENCY, seconds, 120)
}

/// One registry run with `auth`; the config file is the same for both registries.
fn start(
    target: Target,
    binary: &Path,
    dir: &Path,
    root: &Path,
    auth: Auth,
) -> Result<RunningRegistry> {
    let port = free_port()?;
    let config = dir.join(format!("config-{port}.yml"));
    Config {
        port,
        root,
        auth,
        tls: None,
        mutual_tls: false,
        log_level: "warn",
    }
    .write(&config)?;
    let kind = match target {
        Target::Ours => Kind::Ours,
        Target::Reference => Kind::Reference,
    };
    start_with_config(
        kind,
        binary,
        &config,
        port,
        &dir.join(format!("log-{port}.txt")),
    )
}

/// Before measuring, the registry must refuse the request without credentials and serve it
/// with them: a registry that ignored the auth section would otherwise post unauthenticated
/// figures under an authenticated label.
async fn check_enforced(url: &str, method: &str, authorization: &str) -> Result {
    let client = reqwest::Client::new();
    let request = |auth: Option<&str>| {
        // The reference answers 404 for an OCI manifest the client did not say it accepts.
        let mut r = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET),
                url,
            )
            .header("Accept", MANIFEST_TYPE);
        if let Some(auth) = auth {
            r = r.header("Authorization", auth);
        }
        r.send()
    };
    let anonymous = request(None).await.map_err(|e| format!("{url}: {e}"))?;
    let authorized = request(Some(authorization))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if anonymous.status().as_u16() != 401 || authorized.status().as_u16() != 200 {
        return Err(format!(
            "{method} {url}: {} without credentials and {} with them (expected 401 and 200): \
             access control is not enforced",
            anonymous.status(),
            authorized.status()
        ));
    }
    Ok(())
}

fn record(figures: &mut Round, name: &str, result: &LoadResult) {
    figures.insert(format!("{name}_rps"), result.requests_per_second);
    figures.insert(format!("{name}_p50_ms"), result.p50_ms);
    figures.insert(format!("{name}_p99_ms"), result.p99_ms);
    println!(
        "xtask bench:   {name}: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms",
        result.requests_per_second, result.p50_ms, result.p99_ms
    );
}

/// The auth rows of one round against `target`, in `dir` (removed by the caller).
///
/// The three instances (no auth, htpasswd, token) run side by side over one root, and the rows
/// are measured in interleaved passes of a few seconds: on a machine shared with other work
/// the load drifts over a minute, and rows measured one after the other would compare
/// different machines. Each ratio to the baseline is taken within a pass, then the median.
pub async fn round(target: Target, binary: &Path, dir: &Path, options: &Options) -> Result<Round> {
    let dir = dir.join("auth");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let root = dir.join("storage");

    // The image is pushed without auth; the authenticated instances serve the same root.
    let open = start(target, binary, &dir, &root, Auth::None)?;
    push_image(&reqwest::Client::new(), &open.host, REPO, TAG).await?;

    let htpasswd = dir.join("htpasswd");
    write_htpasswd(&htpasswd)?;
    let alice = user("alice")?;
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", alice.name, alice.password))
    );
    let basic_registry = start(target, binary, &dir, &root, Auth::Htpasswd(htpasswd))?;

    let signer = pki::x5c_signer(&dir)?;
    let access = [Access {
        kind: "repository".into(),
        name: REPO.into(),
        actions: vec!["pull".into()],
    }];
    let token = mint(&signer, alice.name, &access, Duration::from_secs(3600))?;
    let bearer = format!("Bearer {token}");
    let token_registry = start(
        target,
        binary,
        &dir,
        &root,
        Auth::TokenChain {
            // Never asked: the load carries its token.
            realm: "http://127.0.0.1:9/token".into(),
            root_bundle: signer.trust_file.clone(),
        },
    )?;

    let manifest = |host: &str| format!("http://{host}/v2/{REPO}/manifests/{TAG}");
    let layer = sha256_digest(&vec![7u8; 2048]);
    let blob = |host: &str| format!("http://{host}/v2/{REPO}/blobs/{layer}");
    check_enforced(&manifest(&basic_registry.host), "GET", &basic).await?;
    check_enforced(&manifest(&token_registry.host), "GET", &bearer).await?;
    check_enforced(&blob(&token_registry.host), "HEAD", &bearer).await?;

    let rows: [(&str, String, &str, Option<&str>); 4] = [
        (NONE, manifest(&open.host), "GET", None),
        (
            HTPASSWD,
            manifest(&basic_registry.host),
            "GET",
            Some(&basic),
        ),
        (TOKEN, manifest(&token_registry.host), "GET", Some(&bearer)),
        (
            "auth_token_blob_head",
            blob(&token_registry.host),
            "HEAD",
            Some(&bearer),
        ),
    ];
    for (_, url, method, auth) in &rows {
        // Connections, caches, the htpasswd cache of verified credentials.
        hey_once(url, method, *auth, 1)?;
    }
    let (passes, window) = if options.quick { (2, 1) } else { (3, 2) };
    let mut results: Vec<Vec<LoadResult>> = rows.iter().map(|_| Vec::new()).collect();
    for _ in 0..passes {
        for ((_, url, method, auth), out) in rows.iter().zip(&mut results) {
            out.push(hey_once(url, method, *auth, window)?);
        }
    }
    drop((open, basic_registry, token_registry));

    let mut figures = Round::new();
    for ((name, ..), runs) in rows.iter().zip(&results) {
        let of = |f: fn(&LoadResult) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        let summary = LoadResult {
            requests_per_second: of(|r| r.requests_per_second),
            p50_ms: of(|r| r.p50_ms),
            p99_ms: of(|r| r.p99_ms),
        };
        record(&mut figures, name, &summary);
    }
    for (index, name) in [(1, HTPASSWD), (2, TOKEN)] {
        let mut ratios: Vec<f64> = results[index]
            .iter()
            .zip(&results[0])
            .map(|(auth, none)| auth.requests_per_second / none.requests_per_second)
            .collect();
        figures.insert(format!("{name}_over_none"), median(&mut ratios));
    }
    Ok(figures)
}

const NONE: &str = "auth_none_manifest_by_tag";
const HTPASSWD: &str = "auth_htpasswd_manifest_by_tag";
const TOKEN: &str = "auth_token_manifest_by_tag";

/// Rows of the auth table: metric, label.
const ROWS: &[(&str, &str)] = &[
    (
        "auth_none_manifest_by_tag",
        "manifest GET by tag, no auth (baseline)",
    ),
    (
        "auth_htpasswd_manifest_by_tag",
        "manifest GET by tag, htpasswd (Basic on every request, bcrypt cost 10)",
    ),
    (
        "auth_token_manifest_by_tag",
        "manifest GET by tag, bearer token (RS256, x5c chain)",
    ),
    ("auth_token_blob_head", "blob HEAD, bearer token"),
];

/// The auth section of the benchmark table, with the goals' ratios.
pub fn markdown(value: impl Fn(Target, &str) -> Option<f64>) -> String {
    let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let mut out = String::from(
        "\nAccess control, 50 connections, the same config.yml for both registries; the instances without auth, with htpasswd and with token auth run side by side and are measured in interleaved passes (medians):\n\n\
         | measurement | unit | ours | reference | ours / reference |\n|---|---|---:|---:|---:|\n",
    );
    for (metric, label) in ROWS {
        for (suffix, unit, row) in [
            ("_rps", "req/s", *label),
            ("_p99_ms", "ms", "  p99 latency"),
        ] {
            let key = format!("{metric}{suffix}");
            let ours = value(Target::Ours, &key);
            let reference = value(Target::Reference, &key);
            let shown = ratio(ours, reference).map_or("-".into(), |r| format!("{r:.2}x"));
            let (ours, reference) = if suffix == "_rps" {
                (fmt(ours), fmt(reference))
            } else {
                let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1}"));
                (f(ours), f(reference))
            };
            out.push_str(&format!(
                "| {row} | {unit} | {ours} | {reference} | {shown} |\n"
            ));
        }
    }
    let ours = |m: &str| value(Target::Ours, &format!("{m}_rps"));
    let goal = |what: &str, got: Option<f64>, target: f64, unit: &str| {
        let (shown, met) = match got {
            Some(g) => (
                format!("{g:.2}{unit}"),
                if g >= target { "yes" } else { "NO" },
            ),
            None => ("-".into(), "-"),
        };
        format!("| {what} | {target}{unit} | {shown} | {met} |\n")
    };
    out.push_str(
        "\nRatios to the baseline are taken within each interleaved pass, then the median:\n\n\
         | goal | at least | measured | met |\n|---|---:|---:|---|\n",
    );
    out.push_str(&goal(
        "ours: htpasswd / no auth, manifest GET",
        value(Target::Ours, &format!("{HTPASSWD}_over_none")),
        0.8,
        "",
    ));
    out.push_str(&goal(
        "ours: bearer token / no auth, manifest GET",
        value(Target::Ours, &format!("{TOKEN}_over_none")),
        0.8,
        "",
    ));
    out.push_str(&goal(
        "htpasswd manifest GET: ours / reference",
        ratio(
            ours("auth_htpasswd_manifest_by_tag"),
            value(Target::Reference, "auth_htpasswd_manifest_by_tag_rps"),
        ),
        20.0,
        "x",
    ));
    out
}
