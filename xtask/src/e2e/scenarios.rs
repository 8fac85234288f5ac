//! The end-to-end scenarios. Each returns `Err` with what went wrong.

use std::path::{Path, PathBuf};

use super::clients::{oras_round_trip, skopeo, skopeo_copy, skopeo_copy_digest};
use super::image::OciImage;
use super::registry::{Backend, RunningRegistry, start_ours, start_reference, start_reference_on};
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
    pub(super) fn start_with(&self, name: &str, extra: &str) -> Result<RunningRegistry> {
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

pub type Scenario = fn(&Context<'_>) -> Result;

/// The scenarios for a backend: the interop one needs a filesystem root both registries read.
pub fn for_backend(backend: &Backend) -> Vec<(&'static str, Scenario)> {
    let mut all: Vec<(&'static str, Scenario)> = vec![
        ("skopeo-oci-round-trip", skopeo_oci_round_trip),
        ("skopeo-docker-v2s2", skopeo_docker_v2s2),
        ("oras-monolithic", oras_monolithic),
        ("oras-chunked", oras_chunked),
        ("curl-multi-range", curl_multi_range),
        ("web-ui", super::ui::web_ui),
    ];
    if matches!(backend, Backend::Filesystem) {
        all.push(("reference-interop", reference_interop));
        all.push(("gc-interop-ours-collects", super::gc_interop::ours_collects));
        all.push((
            "gc-interop-reference-collects",
            super::gc_interop::reference_collects,
        ));
    } else {
        all.push(("redirected-pulls", redirected_pulls));
        all.push(("pulls-without-redirect", pulls_without_redirect));
    }
    // The reference reads an S3 layout this registry wrote. The other direction cannot be
    // shown on the S3 emulator: the reference's chunked uploads need ListMultipartUploads,
    // which s3s-fs lacks. Neither direction on Azurite: the reference's Azure driver (2.8)
    // only builds https://<account>.blob.<realm> URLs, never Azurite's path-style endpoint.
    if matches!(backend, Backend::S3(_)) {
        all.push(("reference-reads-this-layout", reference_reads_this_layout));
    }
    // Three instances over one bucket and one Redis, behind a balancer (issue 14).
    if !matches!(backend, Backend::Filesystem) {
        all.extend(super::cluster::scenarios());
    }
    all.extend(super::proxy::scenarios(backend));
    all
}

pub(super) fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result {
    if condition { Ok(()) } else { Err(what()) }
}

/// Checks that every blob skopeo wrote into a `dir:` copy hashes to its own name.
pub fn check_dir_blobs(dir: &Path) -> Result {
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

/// Copies an image out of `registry` into a fresh `dir:` and checks its blobs, and that the
/// manifest is byte for byte the one the client pushed (`pushed` is the digest skopeo
/// reported when it copied the image in), both as pulled and as `inspect --raw` shows it.
pub(super) fn pull_and_check(
    registry: &RunningRegistry,
    repo_tag: &str,
    out: PathBuf,
    pushed: &str,
) -> Result<String> {
    pull_and_check_at(&registry.host, repo_tag, out, pushed)
}

/// [`pull_and_check`] from `host` (a registry, or a balancer in front of several).
pub(super) fn pull_and_check_at(
    host: &str,
    repo_tag: &str,
    out: PathBuf,
    pushed: &str,
) -> Result<String> {
    let source = format!("docker://{host}/{repo_tag}");
    skopeo_copy(&source, &format!("dir:{}", out.display()), &[])?;
    let raw = skopeo(&["inspect", "--raw", "--tls-verify=false", &source])?;
    let manifest_file = out.join("manifest.json");
    let pulled = std::fs::read_to_string(&manifest_file).map_err(|e| e.to_string())?;
    ensure(pulled == raw, || {
        "the pulled manifest differs from inspect --raw".into()
    })?;
    let digest = format!("sha256:{}", sha2_free::sha256_hex(&manifest_file)?);
    ensure(digest == pushed, || {
        format!("pulled manifest {digest}, but the client pushed {pushed}")
    })?;
    check_dir_blobs(&out)?;
    Ok(raw)
}

fn skopeo_oci_round_trip(cx: &Context<'_>) -> Result {
    let registry = cx.start("ours")?;
    let dest = format!("docker://{}/e2e/oci:v1", registry.host);
    let pushed = skopeo_copy_digest(&cx.image.reference(), &dest, &[], cx.dir)?;
    // OCI into a registry is copied unchanged: what comes back is the source layout's own
    // manifest, byte for byte.
    let (source_digest, source_bytes) = cx.image.manifest()?;
    ensure(pushed == source_digest, || {
        format!("skopeo pushed {pushed}, the layout's manifest is {source_digest}")
    })?;
    let raw = pull_and_check(&registry, "e2e/oci:v1", cx.dir.join("pulled"), &pushed)?;
    ensure(raw.as_bytes() == source_bytes.as_slice(), || {
        "the pulled manifest differs from the source layout's".into()
    })?;
    // umoci writes no `mediaType` field (optional in OCI): the type is what the registry
    // says it serves.
    let media_type = served_media_type(&registry, "e2e/oci", "v1")?;
    ensure(
        media_type == "application/vnd.oci.image.manifest.v1+json",
        || format!("expected an OCI image manifest, served as {media_type}"),
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
    let pushed = skopeo_copy_digest(&cx.image.reference(), &dest, &["--format", "v2s2"], cx.dir)?;
    let raw = pull_and_check(&registry, "e2e/docker:v2s2", cx.dir.join("pulled"), &pushed)?;
    let declared =
        serde_json::from_str::<serde_json::Value>(&raw).map_err(|e| e.to_string())?["mediaType"]
            .clone();
    let served = served_media_type(&registry, "e2e/docker", "v2s2")?;
    ensure(
        declared == DOCKER_MANIFEST && served == DOCKER_MANIFEST,
        || {
            format!(
                "expected a Docker schema 2 manifest, got mediaType {declared}, served as {served}"
            )
        },
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
    let from_reference = {
        let reference = start_reference(&root, &cx.dir.join("reference-1"))?;
        skopeo_copy_digest(
            &cx.image.reference(),
            &format!("docker://{}/interop/from-reference:v1", reference.host),
            &[],
            cx.dir,
        )?
    };
    let storage = Backend::Filesystem.storage_yaml(&root, "");
    let from_ours = {
        let ours = start_ours(cx.binary, &cx.dir.join("ours"), &storage, "")?;
        pull_and_check(
            &ours,
            "interop/from-reference:v1",
            cx.dir.join("pulled-from-ours"),
            &from_reference,
        )?;
        let tags = skopeo(&[
            "list-tags",
            "--tls-verify=false",
            &format!("docker://{}/interop/from-reference", ours.host),
        ])?;
        ensure(tags.contains("\"v1\""), || format!("list-tags: {tags}"))?;
        skopeo_copy_digest(
            &cx.image.reference(),
            &format!("docker://{}/interop/from-ours:v1", ours.host),
            &["--format", "v2s2"],
            cx.dir,
        )?
    };
    let reference = start_reference(&root, &cx.dir.join("reference-2"))?;
    pull_and_check(
        &reference,
        "interop/from-ours:v1",
        cx.dir.join("pulled-from-reference"),
        &from_ours,
    )?;
    Ok(())
}

/// What this registry pushed to a bucket, the reference serves from the same bucket and root:
/// an OCI image and a Docker schema 2 image, manifests byte for byte, blobs by digest.
fn reference_reads_this_layout(cx: &Context<'_>) -> Result {
    let unique = format!("interop{}", std::process::id());
    let storage = cx.backend.storage_yaml(&cx.dir.join("unused"), &unique);
    let (oci, docker) = {
        let ours = start_ours(cx.binary, &cx.dir.join("ours"), &storage, "")?;
        let oci = skopeo_copy_digest(
            &cx.image.reference(),
            &format!("docker://{}/interop/oci:v1", ours.host),
            &[],
            cx.dir,
        )?;
        let docker = skopeo_copy_digest(
            &cx.image.reference(),
            &format!("docker://{}/interop/docker:v1", ours.host),
            &["--format", "v2s2"],
            cx.dir,
        )?;
        (oci, docker)
    };
    let reference = start_reference_on(&storage, &cx.dir.join("reference"), &[])?;
    pull_and_check(&reference, "interop/oci:v1", cx.dir.join("ref-oci"), &oci)?;
    pull_and_check(
        &reference,
        "interop/docker:v1",
        cx.dir.join("ref-docker"),
        &docker,
    )?;
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{}/interop/oci", reference.host),
    ])?;
    ensure(tags.contains("\"v1\""), || format!("list-tags: {tags}"))
}

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The `Content-Type` `registry` serves `repo:reference` with, to a client accepting every
/// manifest type.
fn served_media_type(registry: &RunningRegistry, repo: &str, reference: &str) -> Result<String> {
    let url = format!("http://{}/v2/{repo}/manifests/{reference}", registry.host);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                  application/vnd.docker.distribution.manifest.v2+json, \
                  application/vnd.docker.distribution.manifest.list.v2+json";
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&url)
            .header("Accept", accept)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| format!("{url}: no Content-Type"))
    })
}

/// The registry's counters: (blob bytes it served itself, blob downloads it redirected).
fn counters(registry: &RunningRegistry) -> Result<(u64, u64)> {
    let debug = registry
        .debug_host
        .as_deref()
        .ok_or("the registry has no debug listener")?;
    let url = format!("http://{debug}/metrics");
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
    let pushed = skopeo_copy_digest(&cx.image.reference(), &dest, &[], cx.dir)?;
    let out = cx.dir.join(format!("pulled-{tag}"));
    pull_and_check(registry, &format!("e2e/pulled:{tag}"), out.clone(), &pushed)?;
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
