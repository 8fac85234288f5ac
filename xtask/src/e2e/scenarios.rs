//! The end-to-end scenarios. Each returns `Err` with what went wrong.

use std::path::{Path, PathBuf};

use super::clients::{oras_round_trip, skopeo, skopeo_copy};
use super::image::OciImage;
use super::registry::{Backend, RunningRegistry, start_ours, start_reference};
use crate::process::Result;

pub struct Context<'a> {
    pub binary: &'a Path,
    pub backend: &'a Backend,
    pub image: &'a OciImage,
    pub dir: &'a Path,
}

impl Context<'_> {
    fn start(&self, name: &str) -> Result<RunningRegistry> {
        self.start_with(name, "")
    }

    /// Starts a registry with `extra` storage settings (YAML lines under `storage:`).
    fn start_with(&self, name: &str, extra: &str) -> Result<RunningRegistry> {
        let dir = self.dir.join(name);
        // A short, unique root: the S3 emulator limits key length (see emulators::s3).
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let storage = self
            .backend
            .storage_yaml(&dir.join("storage"), &unique.to_string());
        start_ours(self.binary, &dir, &storage, extra)
    }
}

type Scenario = fn(&Context<'_>) -> Result;

/// The scenarios for a backend: the interop one needs a filesystem root both registries read.
pub fn for_backend(backend: &Backend) -> Vec<(&'static str, Scenario)> {
    let mut all: Vec<(&'static str, Scenario)> = vec![
        ("skopeo-oci-round-trip", skopeo_oci_round_trip),
        ("skopeo-docker-v2s2", skopeo_docker_v2s2),
        ("oras-monolithic", oras_monolithic),
        ("oras-chunked", oras_chunked),
        ("curl-multi-range", curl_multi_range),
    ];
    if matches!(backend, Backend::Filesystem) {
        all.push(("reference-interop", reference_interop));
    } else {
        all.push(("redirected-pulls", redirected_pulls));
        all.push(("pulls-without-redirect", pulls_without_redirect));
    }
    all
}

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result {
    if condition { Ok(()) } else { Err(what()) }
}

/// Checks that every blob skopeo wrote into a `dir:` copy hashes to its own name.
fn check_dir_blobs(dir: &Path) -> Result {
    use sha2_free::sha256_hex;
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let actual = sha256_hex(&path)?;
            ensure(actual == name, || {
                format!("blob {name} has sha256 {actual}")
            })?;
            checked += 1;
        }
    }
    ensure(checked >= 3, || {
        format!("only {checked} blobs in {}", dir.display())
    })
}

/// Copies an image out of `registry` into a fresh `dir:` and checks manifest and blobs.
fn pull_and_check(registry: &RunningRegistry, repo_tag: &str, out: PathBuf) -> Result<String> {
    let source = format!("docker://{}/{repo_tag}", registry.host);
    skopeo_copy(&source, &format!("dir:{}", out.display()), &[])?;
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &source])?;
    let pulled = std::fs::read_to_string(out.join("manifest.json")).map_err(|e| e.to_string())?;
    ensure(pulled == raw, || {
        "the pulled manifest differs from the served one".into()
    })?;
    check_dir_blobs(&out)?;
    Ok(raw)
}

fn skopeo_oci_round_trip(cx: &Context<'_>) -> Result {
    let registry = cx.start("ours")?;
    let dest = format!("docker://{}/e2e/oci:v1", registry.host);
    skopeo_copy(&cx.image.reference(), &dest, &[])?;
    let raw = pull_and_check(&registry, "e2e/oci:v1", cx.dir.join("pulled"))?;
    ensure(
        raw.contains("application/vnd.oci.image.manifest.v1+json")
            || !raw.contains("mediaType\":\"application/vnd.docker"),
        || format!("expected an OCI manifest, got {raw}"),
    )?;
    let inspect = skopeo(&["inspect", "--tls-verify=false", &dest])?;
    ensure(inspect.contains("\"v1\""), || {
        format!("inspect lacks the tag: {inspect}")
    })?;
    skopeo_copy(
        &dest,
        &format!("docker://{}/e2e/oci:v2", registry.host),
        &[],
    )?;
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/e2e/oci", registry.host),
    ])?;
    ensure(tags.contains("\"v1\"") && tags.contains("\"v2\""), || {
        format!("list-tags: {tags}")
    })?;
    skopeo(&["delete", "--tls-verify=false", &dest])?;
    let listed = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/e2e/oci", registry.host),
    ]);
    match listed {
        Ok(tags) => ensure(!tags.contains("\"v1\"") && !tags.contains("\"v2\""), || {
            format!("tags left after deleting their manifest: {tags}")
        }),
        // With its last tag gone the repository has no tags at all, which the registry (like
        // the reference for a repository without tags) answers with 404 NAME_UNKNOWN.
        Err(e) if e.contains(SKOPEO_TAGS_404) => Ok(()),
        Err(e) => Err(e),
    }
}

/// What skopeo 1.9 prints when the tags list answers 404 (it does not show the error code;
/// `tests/listing.rs` checks that the answer is `NAME_UNKNOWN`).
const SKOPEO_TAGS_404: &str = "invalid status code from registry 404";

fn skopeo_docker_v2s2(cx: &Context<'_>) -> Result {
    let registry = cx.start("ours")?;
    let dest = format!("docker://{}/e2e/docker:v2s2", registry.host);
    skopeo_copy(&cx.image.reference(), &dest, &["--format", "v2s2"])?;
    let raw = pull_and_check(&registry, "e2e/docker:v2s2", cx.dir.join("pulled"))?;
    ensure(
        raw.contains("application/vnd.docker.distribution.manifest.v2+json"),
        || format!("expected a Docker schema 2 manifest, got {raw}"),
    )
}

fn oras_monolithic(cx: &Context<'_>) -> Result {
    let registry = cx.start("ours")?;
    oras_round_trip(
        &registry.host,
        "e2e/artifact:mono",
        &cx.dir.join("oras"),
        5 * 1024 * 1024 + 123,
        None,
    )
}

fn oras_chunked(cx: &Context<'_>) -> Result {
    let registry = cx.start("ours")?;
    oras_round_trip(
        &registry.host,
        "e2e/artifact:chunked",
        &cx.dir.join("oras"),
        6 * 1024 * 1024 + 77,
        Some(1024 * 1024),
    )
}

/// Both directions over one filesystem root: what the reference pushed, this registry
/// serves; what this registry pushed, the reference serves.
fn reference_interop(cx: &Context<'_>) -> Result {
    let root = cx.dir.join("shared-root");
    {
        let reference = start_reference(&root, &cx.dir.join("reference-1"))?;
        skopeo_copy(
            &cx.image.reference(),
            &format!("docker://{}/interop/from-reference:v1", reference.host),
            &[],
        )?;
    }
    let storage = Backend::Filesystem.storage_yaml(&root, "");
    {
        let ours = start_ours(cx.binary, &cx.dir.join("ours"), &storage, "")?;
        pull_and_check(
            &ours,
            "interop/from-reference:v1",
            cx.dir.join("pulled-from-ours"),
        )?;
        let tags = skopeo(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/interop/from-reference", ours.host),
        ])?;
        ensure(tags.contains("\"v1\""), || format!("list-tags: {tags}"))?;
        skopeo_copy(
            &cx.image.reference(),
            &format!("docker://{}/interop/from-ours:v1", ours.host),
            &["--format", "v2s2"],
        )?;
    }
    let reference = start_reference(&root, &cx.dir.join("reference-2"))?;
    pull_and_check(
        &reference,
        "interop/from-ours:v1",
        cx.dir.join("pulled-from-reference"),
    )?;
    Ok(())
}

/// The registry's counters: (blob bytes it served itself, blob downloads it redirected).
fn counters(registry: &RunningRegistry) -> Result<(u64, u64)> {
    let url = format!("http://{}/metrics", registry.host);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let text =
        runtime.block_on(async { reqwest::get(&url).await?.error_for_status()?.text().await });
    let text = text.map_err(|e| format!("{url}: {e}"))?;
    let counter = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("{name} missing from {url}"))
    };
    Ok((
        counter("registry_blob_bytes_served_total ")?,
        counter("registry_blob_redirects_total ")?,
    ))
}

/// Pulls an image with skopeo and an artifact with oras from `registry`; returns the blob
/// bytes pulled.
fn pull_image_and_artifact(cx: &Context<'_>, registry: &RunningRegistry, tag: &str) -> Result<u64> {
    let dest = format!("docker://{}/e2e/pulled:{tag}", registry.host);
    skopeo_copy(&cx.image.reference(), &dest, &[])?;
    let out = cx.dir.join(format!("pulled-{tag}"));
    pull_and_check(registry, &format!("e2e/pulled:{tag}"), out.clone())?;
    let mut image_bytes = 0;
    for entry in std::fs::read_dir(&out).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_name().len() == 64 {
            image_bytes += entry.metadata().map_err(|e| e.to_string())?.len();
        }
    }
    let artifact = 4 * 1024 * 1024 + 9;
    oras_round_trip(
        &registry.host,
        &format!("e2e/artifact:{tag}"),
        &cx.dir.join(format!("oras-{tag}")),
        artifact,
        None,
    )?;
    Ok(image_bytes + artifact as u64)
}

/// With redirects on (the default), skopeo and oras get every blob from the object store:
/// the registry serves no blob byte itself.
fn redirected_pulls(cx: &Context<'_>) -> Result {
    let registry = cx.start("redirected")?;
    let pulled = pull_image_and_artifact(cx, &registry, "redirected")?;
    let (served, redirects) = counters(&registry)?;
    println!(
        "xtask e2e: redirected pulls of {pulled} blob bytes: {served} served by the registry, {redirects} redirects"
    );
    ensure(served == 0, || {
        format!("the registry served {served} blob bytes itself")
    })?;
    ensure(redirects >= 3, || format!("only {redirects} redirects"))
}

/// With `storage.redirect.disable: true` the same pulls stream through the registry.
fn pulls_without_redirect(cx: &Context<'_>) -> Result {
    let registry = cx.start_with("streamed", "  redirect:\n    disable: true\n")?;
    let pulled = pull_image_and_artifact(cx, &registry, "streamed")?;
    let (served, redirects) = counters(&registry)?;
    println!(
        "xtask e2e: pulls without redirect of {pulled} blob bytes: {served} served by the registry, {redirects} redirects"
    );
    ensure(redirects == 0, || {
        format!("{redirects} redirects although disabled")
    })?;
    ensure(served >= pulled, || {
        format!("the registry served {served} of {pulled} blob bytes")
    })
}

/// `curl -r` with several ranges, redirects on (see [`super::curl`]).
fn curl_multi_range(cx: &Context<'_>) -> Result {
    let registry = cx.start("curl")?;
    super::curl::multi_range(&registry, &cx.dir.join("curl-client"))
}

/// SHA-256 of a file through `sha256sum`, so xtask needs no hashing crate.
mod sha2_free {
    use std::path::Path;
    use std::process::Command;

    pub fn sha256_hex(path: &Path) -> Result<String, String> {
        let out = Command::new("sha256sum")
            .arg(path)
            .output()
            .map_err(|e| format!("sha256sum: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace()
            .next()
            .map(str::to_owned)
            .ok_or_else(|| format!("sha256sum printed nothing for {}", path.display()))
    }
}
