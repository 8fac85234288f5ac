//! Garbage collection across registries (issue 13, interop): one filesystem root, collected by
//! one registry and served by the other.
//!
//! - `gc-interop-ours-collects`: ours and the reference fill a root (OCI and Docker images,
//!   a multi-platform index with untagged children, an untagged referrer, an overwritten tag,
//!   a manifest deleted by digest, blobs never referenced); `registry garbage-collect
//!   --delete-untagged` (after a `--dry-run` that must change nothing) removes exactly the
//!   garbage; the reference then serves every kept image byte for byte, and its own
//!   `garbage-collect --dry-run` finds nothing left to collect.
//! - `gc-interop-reference-collects`: ours fills a root, the reference's `garbage-collect`
//!   collects it (plain, and on a second root `--delete-untagged`), and ours serves every image
//!   the reference kept, answers 404 for what it removed, and its own collector runs cleanly on
//!   the result.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::clients::{skopeo, skopeo_copy, skopeo_copy_digest};
use super::gc_layouts::{Layout, Manifest, random_bytes, sha256_digest};
use super::registry::{Backend, start_ours, start_reference};
use super::scenarios::{Context, check_dir_blobs, ensure, pull_and_check_at};
use crate::process::Result;

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// What a fill pushed, and so what each collection must keep or remove.
struct Content {
    /// `repo:tag` and the manifest it names: kept by every collection.
    tagged: Vec<(String, Manifest)>,
    /// `repo:tag` of a multi-platform index, the index, its (untagged) children.
    index: Option<(String, Manifest, Vec<Manifest>)>,
    /// Repository and manifest of an untagged referrer of the first tagged image.
    referrer: Option<(String, Manifest)>,
    /// Repository and manifest a tag named before it was overwritten: untagged now.
    overwritten: (String, Manifest),
    /// Repository and manifest deleted by digest.
    deleted: Option<(String, Manifest)>,
    /// Repository and digest of blobs uploaded and never referenced.
    orphans: Vec<(String, String)>,
}

impl Content {
    /// Every manifest a tag reaches (directly, through an index, as a referrer).
    fn kept_manifests(&self) -> Vec<&Manifest> {
        let mut out: Vec<&Manifest> = self.tagged.iter().map(|(_, m)| m).collect();
        if let Some((_, index, children)) = &self.index {
            out.push(index);
            out.extend(children);
        }
        if let Some((_, referrer)) = &self.referrer {
            out.push(referrer);
        }
        out
    }

    /// The blobs (manifests included) of every kept manifest.
    fn kept_blobs(&self) -> Result<BTreeSet<String>> {
        blobs_of(self.kept_manifests())
    }

    /// The blobs only the overwritten (now untagged) manifest names.
    fn overwritten_blobs(&self) -> Result<BTreeSet<String>> {
        blobs_of([&self.overwritten.1])
    }

    /// The blobs no manifest revision names: the deleted manifest's and the orphans.
    fn unreferenced_blobs(&self) -> Result<BTreeSet<String>> {
        let mut out = match &self.deleted {
            Some((_, deleted)) => blobs_of([deleted])?,
            None => BTreeSet::new(),
        };
        out.extend(self.orphans.iter().map(|(_, d)| d.clone()));
        Ok(out)
    }
}

fn blobs_of<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for manifest in manifests {
        out.insert(manifest.digest.clone());
        out.extend(manifest.references()?);
    }
    Ok(out)
}

/// Pushes the scenario's content: the OCI image, the index, the referrer, the overwritten tag
/// and the deleted manifest through `ours`; the Docker image and one orphan through `other`
/// (the reference, or ours again). With `full` false, only single-platform tagged images and
/// the overwritten tag (what the reference's `--delete-untagged` handles sanely).
fn fill(
    cx: &Context<'_>,
    layout: &mut Layout,
    ours: &str,
    other: &str,
    full: bool,
) -> Result<Content> {
    let scratch = cx.dir.join("scratch");
    let push = |source: &str, host: &str, target: &str, extra: &[&str]| {
        skopeo_copy_digest(
            source,
            &format!("docker://{host}/{target}"),
            extra,
            &scratch,
        )
        .map_err(|e| format!("pushing {target} to {host}: {e}"))
    };
    let (oci_digest, oci_bytes) = cx.image.manifest()?;
    let oci = Manifest::from_bytes(oci_bytes, super::gc_layouts::OCI_MANIFEST);
    let pushed = push(&cx.image.reference(), ours, "gci/oci:v1", &[])?;
    ensure(pushed == oci_digest, || {
        format!("skopeo pushed gci/oci:v1 as {pushed}, the layout's manifest is {oci_digest}")
    })?;
    let docker_digest = push(
        &cx.image.reference(),
        other,
        "gci/docker:v1",
        &["--format", "v2s2"],
    )?;
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{other}/gci/docker:v1"),
    ])?;
    let docker = Manifest::from_bytes(raw.into_bytes(), DOCKER_MANIFEST);
    ensure(docker.digest == docker_digest, || {
        format!(
            "{other} serves gci/docker:v1 as {}, skopeo pushed {docker_digest}",
            docker.digest
        )
    })?;

    let overwritten = layout.image(Some("over-old"), 30, 2, "amd64", None)?;
    let current = layout.image(Some("over-new"), 31, 2, "amd64", None)?;
    for (tag, manifest) in [("over-old", &overwritten), ("over-new", &current)] {
        let pushed = push(&layout.reference(tag), ours, "gci/over:v1", &[])?;
        ensure(pushed == manifest.digest, || {
            format!(
                "skopeo pushed gci/over:v1 as {pushed}, expected {}",
                manifest.digest
            )
        })?;
    }
    let mut content = Content {
        tagged: vec![
            ("gci/oci:v1".into(), oci),
            ("gci/docker:v1".into(), docker),
            ("gci/over:v1".into(), current),
        ],
        index: None,
        referrer: None,
        overwritten: ("gci/over".into(), overwritten),
        deleted: None,
        orphans: Vec::new(),
    };
    if !full {
        return Ok(content);
    }

    let (index, children) = layout.index("multi", 10)?;
    let pushed = push(&layout.reference("multi"), ours, "gci/multi:v1", &["--all"])?;
    ensure(pushed == index.digest, || {
        format!(
            "skopeo pushed gci/multi:v1 as {pushed}, expected {}",
            index.digest
        )
    })?;
    content.index = Some(("gci/multi:v1".into(), index, children));

    // Pushed by digest, untagged, as signing and SBOM tools do.
    let subject = content.tagged[0].1.clone();
    let referrer = layout.referrer(20, &subject)?;
    let http = Http::new()?;
    for blob in referrer.references()? {
        let bytes = std::fs::read(layout.dir.join("blobs/sha256").join(&blob[7..]))
            .map_err(|e| e.to_string())?;
        http.upload_blob(ours, "gci/oci", &bytes)?;
    }
    http.put_manifest(ours, "gci/oci", &referrer)?;
    content.referrer = Some(("gci/oci".into(), referrer));

    let deleted = layout.image(Some("gone"), 40, 1, "amd64", None)?;
    push(&layout.reference("gone"), ours, "gci/gone:v1", &[])?;
    skopeo(&[
        "delete",
        "--tls-verify=false",
        &format!("docker://{ours}/gci/gone:v1"),
    ])
    .map_err(|e| format!("deleting gci/gone:v1 on {ours}: {e}"))?;
    content.deleted = Some(("gci/gone".into(), deleted));

    for (n, host) in [ours, other].into_iter().enumerate() {
        let digest = http.upload_blob(host, "gci/orphan", &random_bytes(50 + n as u64, 70_000))?;
        content.orphans.push(("gci/orphan".into(), digest));
    }
    Ok(content)
}

/// Scenario 1: this registry collects a root both registries filled; the reference serves
/// every kept image from it afterwards.
pub fn ours_collects(cx: &Context<'_>) -> Result {
    let root = cx.dir.join("root");
    let mut layout = Layout::create(&cx.dir.join("layout"))?;
    let storage = Backend::Filesystem.storage_yaml(&root, "");
    let ours_dir = cx.dir.join("ours");
    let content = {
        let ours = start_ours(cx.binary, &ours_dir, &storage, "")?;
        let reference = start_reference(&root, &cx.dir.join("reference-fill"))?;
        fill(cx, &mut layout, &ours.host, &reference.host, true)?
    };
    let config = ours_dir.join("config.yml");
    let kept = content.kept_blobs()?;
    let mut garbage = content.overwritten_blobs()?;
    garbage.extend(content.unreferenced_blobs()?);
    check_disjoint(&kept, &garbage)?;
    let garbage_bytes = data_sizes(&root, &garbage)?;

    // A dry run lists what the real run removes, and changes nothing in the root.
    let before = snapshot(&root)?;
    let dry = ours_gc(cx.binary, &config, &["--dry-run", "--delete-untagged"])?;
    let after = snapshot(&root)?;
    check_unchanged(&before, &after)?;
    check_report(&dry, &garbage, &content, garbage_bytes, "the dry run")?;

    let report = ours_gc(cx.binary, &config, &["--delete-untagged"])?;
    check_report(&report, &garbage, &content, garbage_bytes, "the collection")?;
    check_files(&root, &garbage, false, "after this registry's collection")?;
    check_files(&root, &kept, true, "after this registry's collection")?;
    println!(
        "  ours: {} repositories, {} manifests and {} blobs marked; removed {} manifests, {} blobs, {} bytes",
        report["repositories"],
        report["manifests_marked"],
        report["blobs_marked"],
        report["manifests_removed"],
        report["blobs_removed"],
        report["bytes_freed"]
    );

    serve_from_reference(cx, &root, "reference-serve", &content)?;

    // The reference's own collector finds nothing more to collect: ours kept exactly what
    // the reference marks.
    let reference_config = write_reference_config(&root, &cx.dir.join("reference-gc"))?;
    let after_ours = reference_gc(&reference_config, &["--dry-run"])?;
    println!(
        "  reference dry run after ours: {} blobs marked, {} blobs and {} manifests eligible",
        after_ours.marked,
        after_ours.blobs.len(),
        after_ours.manifests.len()
    );
    ensure(
        after_ours.blobs.is_empty() && after_ours.manifests.is_empty(),
        || {
            format!(
                "after this registry's collection the reference's garbage-collect --dry-run would still remove blobs {:?} and manifests {:?}",
                after_ours.blobs, after_ours.manifests
            )
        },
    )?;
    ensure(after_ours.marked == kept.len(), || {
        format!(
            "the reference marked {} blobs, this registry kept {}",
            after_ours.marked,
            kept.len()
        )
    })?;

    // A finished cycle leaves nothing under `_gc/`; a crashed one leaves its lease and doom
    // markers. With those in the root (a fresh orphan doomed), the reference still serves
    // everything and its collector sees only the orphan as garbage: it never reads `_gc/`.
    let extra = {
        let reference = start_reference(&root, &cx.dir.join("reference-extra"))?;
        Http::new()?.upload_blob(&reference.host, "gci/orphan", &random_bytes(60, 50_000))?
    };
    let leftovers = crash_ours_gc(cx.binary, &config, &root)?;
    println!("  a crashed cycle of ours left {leftovers} files under _gc/");
    serve_from_reference(cx, &root, "reference-serve-leftovers", &content)?;
    let with_leftovers = reference_gc(&reference_config, &["--dry-run"])?;
    println!(
        "  reference dry run beside our _gc/ leftovers: {} blobs marked, {} blobs and {} manifests eligible",
        with_leftovers.marked,
        with_leftovers.blobs.len(),
        with_leftovers.manifests.len()
    );
    ensure(
        with_leftovers.blobs == BTreeSet::from([extra.clone()])
            && with_leftovers.manifests.is_empty(),
        || {
            format!(
                "beside our _gc/ leftovers the reference's garbage-collect --dry-run would remove blobs {:?} and manifests {:?}; expected only the orphan {extra}",
                with_leftovers.blobs, with_leftovers.manifests
            )
        },
    )
}

/// The reference on `root` serves every kept image, and 404 for the overwritten manifest and
/// its blobs.
fn serve_from_reference(cx: &Context<'_>, root: &Path, name: &str, content: &Content) -> Result {
    let reference = start_reference(root, &cx.dir.join(name))?;
    serve_all(cx, &reference.host, "the reference", content)?;
    let (repo, overwritten) = &content.overwritten;
    let http = Http::new()?;
    http.expect_unknown(
        &reference.host,
        &format!("{repo}/manifests/{}", overwritten.digest),
        "MANIFEST_UNKNOWN",
        "the reference",
    )?;
    for blob in overwritten.references()? {
        http.expect_unknown(
            &reference.host,
            &format!("{repo}/blobs/{blob}"),
            "BLOB_UNKNOWN",
            "the reference",
        )?;
    }
    Ok(())
}

/// Starts `registry garbage-collect` and kills it once it has doomed its candidates (it
/// then waits the reliance window), as a crash would; returns how many files it left under
/// `_gc/`.
fn crash_ours_gc(binary: &Path, config: &Path, root: &Path) -> Result<usize> {
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

/// Scenario 2: the reference collects roots this registry wrote; this registry serves what
/// the reference kept.
pub fn reference_collects(cx: &Context<'_>) -> Result {
    plain_round(cx)?;
    untagged_round(cx)
}

/// The reference's `garbage-collect` without flags: every manifest revision stays, blobs no
/// revision names go.
fn plain_round(cx: &Context<'_>) -> Result {
    let root = cx.dir.join("root-plain");
    let mut layout = Layout::create(&cx.dir.join("layout-plain"))?;
    let storage = Backend::Filesystem.storage_yaml(&root, "");
    let ours_dir = cx.dir.join("ours-plain");
    let content = {
        let ours = start_ours(cx.binary, &ours_dir, &storage, "")?;
        fill(cx, &mut layout, &ours.host, &ours.host, true)?
    };
    let mut kept = content.kept_blobs()?;
    kept.extend(content.overwritten_blobs()?);
    let garbage = content.unreferenced_blobs()?;
    check_disjoint(&kept, &garbage)?;

    let reference_config = write_reference_config(&root, &cx.dir.join("reference-gc-plain"))?;
    let removed = reference_gc(&reference_config, &[])?;
    println!(
        "  reference garbage-collect: {} blobs marked, {} blobs and {} manifests removed",
        removed.marked,
        removed.blobs.len(),
        removed.manifests.len()
    );
    ensure(
        removed.blobs == garbage && removed.manifests.is_empty(),
        || {
            format!(
                "the reference's garbage-collect removed blobs {:?} and manifests {:?}; expected blobs {garbage:?}",
                removed.blobs, removed.manifests
            )
        },
    )?;
    check_files(&root, &garbage, false, "after the reference's collection")?;
    check_files(&root, &kept, true, "after the reference's collection")?;

    {
        let ours = start_ours(cx.binary, &ours_dir, &storage, "")?;
        serve_all(cx, &ours.host, "this registry", &content)?;
        let (repo, overwritten) = &content.overwritten;
        pull_image(
            &ours.host,
            &format!("{repo}@{}", overwritten.digest),
            overwritten,
            &cx.dir.join("pulled-overwritten"),
            "this registry",
        )?;
        let http = Http::new()?;
        check_referrers(&http, &ours.host, &content)?;
        if let Some((repo, deleted)) = &content.deleted {
            http.expect_unknown(
                &ours.host,
                &format!("{repo}/manifests/{}", deleted.digest),
                "MANIFEST_UNKNOWN",
                "this registry",
            )?;
            for blob in deleted.references()? {
                http.expect_unknown(
                    &ours.host,
                    &format!("{repo}/blobs/{blob}"),
                    "BLOB_UNKNOWN",
                    "this registry",
                )?;
            }
        }
        for (repo, orphan) in &content.orphans {
            http.expect_unknown(
                &ours.host,
                &format!("{repo}/blobs/{orphan}"),
                "BLOB_UNKNOWN",
                "this registry",
            )?;
        }
    }

    // Ours' own collector on the reference-collected root: plain, nothing is left to remove;
    // with --delete-untagged, exactly the overwritten image (which the reference keeps).
    let config = ours_dir.join("config.yml");
    let plain = ours_gc(cx.binary, &config, &["--dry-run"])?;
    check_nothing_removed(&plain, "this registry's garbage-collect --dry-run")?;
    let untagged = ours_gc(cx.binary, &config, &["--dry-run", "--delete-untagged"])?;
    let overwritten = content.overwritten_blobs()?;
    let listed = string_set(&untagged["removed_blobs"]);
    ensure(listed == overwritten, || {
        format!(
            "this registry's garbage-collect --dry-run --delete-untagged on the reference-collected root lists blobs {listed:?}; expected the overwritten image's {overwritten:?}"
        )
    })?;
    let manifests = string_set(&untagged["removed_manifests"]);
    let expected = BTreeSet::from([format!("gci/over@{}", content.overwritten.1.digest)]);
    ensure(manifests == expected, || {
        format!("this registry's dry run lists manifests {manifests:?}; expected {expected:?}")
    })
}

/// The reference's `garbage-collect --delete-untagged` on single-platform tagged images only.
/// On a multi-platform index it removes the children (no tag names them) and their blobs, and
/// it removes every referrer (referrers are untagged): both images break. That is why this
/// registry has its own collector, which keeps both; this round does not push them.
fn untagged_round(cx: &Context<'_>) -> Result {
    let root = cx.dir.join("root-untagged");
    let mut layout = Layout::create(&cx.dir.join("layout-untagged"))?;
    let storage = Backend::Filesystem.storage_yaml(&root, "");
    let ours_dir = cx.dir.join("ours-untagged");
    let content = {
        let ours = start_ours(cx.binary, &ours_dir, &storage, "")?;
        fill(cx, &mut layout, &ours.host, &ours.host, false)?
    };
    let kept = content.kept_blobs()?;
    let garbage = content.overwritten_blobs()?;
    check_disjoint(&kept, &garbage)?;

    let reference_config = write_reference_config(&root, &cx.dir.join("reference-gc-untagged"))?;
    let removed = reference_gc(&reference_config, &["--delete-untagged"])?;
    println!(
        "  reference garbage-collect --delete-untagged: {} blobs marked, {} blobs and {} manifests removed",
        removed.marked,
        removed.blobs.len(),
        removed.manifests.len()
    );
    let (repo, overwritten) = &content.overwritten;
    let expected_manifests = BTreeSet::from([overwritten.digest.clone()]);
    ensure(
        removed.blobs == garbage && removed.manifests == expected_manifests,
        || {
            format!(
                "the reference's garbage-collect --delete-untagged removed blobs {:?} and manifests {:?}; expected blobs {garbage:?} and manifest {}",
                removed.blobs, removed.manifests, overwritten.digest
            )
        },
    )?;
    check_files(
        &root,
        &garbage,
        false,
        "after the reference's --delete-untagged",
    )?;
    check_files(
        &root,
        &kept,
        true,
        "after the reference's --delete-untagged",
    )?;

    {
        let ours = start_ours(cx.binary, &ours_dir, &storage, "")?;
        serve_all(cx, &ours.host, "this registry", &content)?;
        let http = Http::new()?;
        http.expect_unknown(
            &ours.host,
            &format!("{repo}/manifests/{}", overwritten.digest),
            "MANIFEST_UNKNOWN",
            "this registry",
        )?;
        for blob in overwritten.references()? {
            http.expect_unknown(
                &ours.host,
                &format!("{repo}/blobs/{blob}"),
                "BLOB_UNKNOWN",
                "this registry",
            )?;
        }
    }
    let config = ours_dir.join("config.yml");
    let report = ours_gc(cx.binary, &config, &["--dry-run", "--delete-untagged"])?;
    check_nothing_removed(
        &report,
        "this registry's garbage-collect --dry-run --delete-untagged",
    )
}

/// Pulls every kept image from `host` with skopeo, byte-verified: tagged images, the index
/// with `--all`, the referrer by digest.
fn serve_all(cx: &Context<'_>, host: &str, who: &str, content: &Content) -> Result {
    for (n, (repo_tag, manifest)) in content.tagged.iter().enumerate() {
        pull_image(
            host,
            repo_tag,
            manifest,
            &cx.dir.join(format!("pulled-{}-{n}", who.replace(' ', "-"))),
            who,
        )?;
    }
    if let Some((repo_tag, index, children)) = &content.index {
        pull_index(
            host,
            repo_tag,
            index,
            children,
            &cx.dir
                .join(format!("pulled-index-{}", who.replace(' ', "-"))),
            who,
        )?;
    }
    if let Some((repo, referrer)) = &content.referrer {
        pull_image(
            host,
            &format!("{repo}@{}", referrer.digest),
            referrer,
            &cx.dir
                .join(format!("pulled-referrer-{}", who.replace(' ', "-"))),
            who,
        )?;
    }
    Ok(())
}

fn pull_image(host: &str, source: &str, manifest: &Manifest, out: &Path, who: &str) -> Result {
    let _ = std::fs::remove_dir_all(out);
    let raw = pull_and_check_at(host, source, out.to_owned(), &manifest.digest)
        .map_err(|e| format!("{who} serving {source} ({}): {e}", manifest.digest))?;
    ensure(raw.as_bytes() == manifest.bytes.as_slice(), || {
        format!("{who} serves {source} with other manifest bytes than were pushed")
    })
}

/// `skopeo copy --all` of an index into a `dir:`: the index and each child byte for byte,
/// every blob by digest.
fn pull_index(
    host: &str,
    repo_tag: &str,
    index: &Manifest,
    children: &[Manifest],
    out: &Path,
    who: &str,
) -> Result {
    let _ = std::fs::remove_dir_all(out);
    let failed = |e: String| format!("{who} serving the index {repo_tag} ({}): {e}", index.digest);
    skopeo_copy(
        &format!("docker://{host}/{repo_tag}"),
        &format!("dir:{}", out.display()),
        &["--all"],
    )
    .map_err(failed)?;
    let pulled = std::fs::read(out.join("manifest.json")).map_err(|e| failed(e.to_string()))?;
    ensure(pulled == index.bytes, || {
        failed("the pulled index differs from the pushed one".into())
    })?;
    for child in children {
        let file = out.join(format!("{}.manifest.json", &child.digest[7..]));
        let pulled =
            std::fs::read(&file).map_err(|e| failed(format!("child {}: {e}", child.digest)))?;
        ensure(pulled == child.bytes, || {
            failed(format!(
                "child {} differs from the pushed one",
                child.digest
            ))
        })?;
    }
    check_dir_blobs(out).map_err(failed)
}

/// Ours lists the referrer among its subject's referrers (its `_referrers/` index survived
/// the reference's collection).
fn check_referrers(http: &Http, host: &str, content: &Content) -> Result {
    let Some((repo, referrer)) = &content.referrer else {
        return Ok(());
    };
    let subject = &content.tagged[0].1.digest;
    let (status, body) = http.get(host, &format!("{repo}/referrers/{subject}"))?;
    ensure(status == 200 && body.contains(&referrer.digest), || {
        format!(
            "this registry's referrers of {repo}@{subject} ({status}) lack {}: {body}",
            referrer.digest
        )
    })
}

/// Runs `registry garbage-collect --json ARGS CONFIG`; its JSON report.
fn ours_gc(binary: &Path, config: &Path, args: &[&str]) -> Result<Value> {
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

fn string_set(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// This registry's report removed exactly `garbage` (the overwritten manifest among the
/// manifests), with its byte count.
fn check_report(
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

fn check_nothing_removed(report: &Value, what: &str) -> Result {
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

fn check_disjoint(kept: &BTreeSet<String>, garbage: &BTreeSet<String>) -> Result {
    let shared: Vec<_> = kept.intersection(garbage).collect();
    ensure(shared.is_empty(), || {
        format!("test content error: blobs both kept and garbage: {shared:?}")
    })
}

/// Where the filesystem layout keeps a blob's bytes.
fn data_file(root: &Path, digest: &str) -> PathBuf {
    let hex = digest.trim_start_matches("sha256:");
    root.join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

fn data_sizes(root: &Path, digests: &BTreeSet<String>) -> Result<u64> {
    let mut total = 0;
    for digest in digests {
        let file = data_file(root, digest);
        total += std::fs::metadata(&file)
            .map_err(|e| format!("blob {digest} before collection: {}: {e}", file.display()))?
            .len();
    }
    Ok(total)
}

/// Every blob in `digests` has (`present`) or has not its data file.
fn check_files(root: &Path, digests: &BTreeSet<String>, present: bool, when: &str) -> Result {
    let wrong: Vec<&String> = digests
        .iter()
        .filter(|d| data_file(root, d).is_file() != present)
        .collect();
    ensure(wrong.is_empty(), || {
        format!(
            "{when}: the data files of blobs {wrong:?} are {}",
            if present { "missing" } else { "still there" }
        )
    })
}

/// Every file and directory under `root`: size and modification time.
fn snapshot(root: &Path) -> Result<BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let entry = entry.map_err(|e| e.to_string())?;
            let meta = entry.metadata().map_err(|e| e.to_string())?;
            let path = entry.path();
            if meta.is_dir() {
                pending.push(path.clone());
                out.insert(path, (0, None));
            } else {
                out.insert(path, (meta.len(), meta.modified().ok()));
            }
        }
    }
    Ok(out)
}

type Snapshot = BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)>;

fn check_unchanged(before: &Snapshot, after: &Snapshot) -> Result {
    let changed: Vec<String> = before
        .iter()
        .filter(|(path, state)| after.get(*path) != Some(state))
        .map(|(path, _)| format!("{} changed or went", path.display()))
        .chain(
            after
                .keys()
                .filter(|path| !before.contains_key(*path))
                .map(|path| format!("{} appeared", path.display())),
        )
        .take(10)
        .collect();
    ensure(changed.is_empty(), || {
        format!("this registry's garbage-collect --dry-run changed the root: {changed:?}")
    })
}

/// A config for the reference's `garbage-collect` over a filesystem root (it reads only
/// `storage`).
fn write_reference_config(root: &Path, dir: &Path) -> Result<PathBuf> {
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
struct ReferenceGc {
    marked: usize,
    blobs: BTreeSet<String>,
    manifests: BTreeSet<String>,
}

/// Runs `docker-registry garbage-collect ARGS CONFIG` and reads its output: `manifest eligible
/// for deletion: D`, `blob eligible for deletion: D`, `N blobs marked, ...`.
fn reference_gc(config: &Path, args: &[&str]) -> Result<ReferenceGc> {
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

/// Plain HTTP for what skopeo cannot do: pushes by digest (untagged referrers), blobs no
/// manifest names, and reading error codes.
struct Http {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Result<Self> {
        Ok(Http {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?,
            client: reqwest::Client::new(),
        })
    }

    /// A two-step upload (POST, then PUT with the digest and the bytes); returns the digest.
    fn upload_blob(&self, host: &str, repo: &str, bytes: &[u8]) -> Result<String> {
        let digest = sha256_digest(bytes);
        let failed = |e: String| format!("uploading blob {digest} to {host}/{repo}: {e}");
        self.runtime.block_on(async {
            let response = self
                .client
                .post(format!("http://{host}/v2/{repo}/blobs/uploads/"))
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| failed(format!("{} without Location", response.status())))?;
            let mut url = if location.starts_with("http") {
                location.to_owned()
            } else {
                format!("http://{host}{location}")
            };
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("digest={digest}"));
            let response = self
                .client
                .put(url)
                .header("content-type", "application/octet-stream")
                .body(bytes.to_vec())
                .send()
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status();
            ensure(status.as_u16() == 201, || {
                failed(format!("PUT answered {status}"))
            })?;
            Ok(digest.clone())
        })
    }

    fn put_manifest(&self, host: &str, repo: &str, manifest: &Manifest) -> Result {
        let url = format!("http://{host}/v2/{repo}/manifests/{}", manifest.digest);
        self.runtime.block_on(async {
            let response = self
                .client
                .put(&url)
                .header("content-type", manifest.media_type)
                .body(manifest.bytes.clone())
                .send()
                .await
                .map_err(|e| format!("PUT {url}: {e}"))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            ensure(status.as_u16() == 201, || {
                format!("PUT {url} answered {status}: {body}")
            })
        })
    }

    /// GET `/v2/{path}`: status and body.
    fn get(&self, host: &str, path: &str) -> Result<(u16, String)> {
        let url = format!("http://{host}/v2/{path}");
        self.runtime.block_on(async {
            let response = self
                .client
                .get(&url)
                .header(
                    "accept",
                    "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, \
                     application/vnd.docker.distribution.manifest.v2+json",
                )
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            Ok((status, body))
        })
    }

    /// `who` answers 404 with `code` for `/v2/{path}`.
    fn expect_unknown(&self, host: &str, path: &str, code: &str, who: &str) -> Result {
        let (status, body) = self.get(host, path)?;
        ensure(status == 404 && body.contains(code), || {
            format!("{who} answers GET /v2/{path} with {status} {body}; expected 404 {code}")
        })
    }
}
