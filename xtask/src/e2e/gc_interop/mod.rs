//! Garbage collection across registries (issue 13, interop): one filesystem root, collected by
//! one registry and served by the other.
//!
//! - `gc-interop-ours-collects`: ours and the reference fill a root (OCI and Docker images,
//!   a multi-platform index with untagged children, an untagged referrer, an overwritten tag,
//!   a manifest deleted by digest, blobs never referenced); `registry garbage-collect
//!   --delete-untagged` (after a `--dry-run` that must change nothing) removes exactly the
//!   garbage; the reference then serves every kept image byte for byte, and its own
//!   `garbage-collect --dry-run` finds nothing left to collect, also beside the `_gc/` files
//!   (lease, doom marker) a crashed cycle of ours leaves.
//! - `gc-interop-reference-collects`: ours fills a root, the reference's `garbage-collect`
//!   collects it (plain, and on a second root `--delete-untagged`), and ours serves every image
//!   the reference kept, answers 404 for what it removed, and its own collector runs cleanly on
//!   the result.

mod collectors;
mod content;
mod http;
mod layouts;
mod pulls;
mod root_files;

use std::collections::BTreeSet;
use std::path::Path;

use collectors::{
    check_disjoint, check_nothing_removed, check_report, crash_ours_gc, ours_gc, reference_gc,
    string_set, write_reference_config,
};
use content::{Content, fill};
use http::Http;
use layouts::{Layout, random_bytes};
use pulls::{check_referrers, pull_image, serve_all};
use root_files::{check_files, check_unchanged, data_sizes, snapshot};

use super::registry::{Backend, start_ours, start_reference};
use super::scenarios::{Context, ensure};
use crate::process::Result;

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
    http.expect_image_removed(&reference.host, repo, overwritten, "the reference")?;
    Ok(())
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
            http.expect_image_removed(&ours.host, repo, deleted, "this registry")?;
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
        http.expect_image_removed(&ours.host, repo, overwritten, "this registry")?;
    }
    let config = ours_dir.join("config.yml");
    let report = ours_gc(cx.binary, &config, &["--dry-run", "--delete-untagged"])?;
    check_nothing_removed(
        &report,
        "this registry's garbage-collect --dry-run --delete-untagged",
    )
}
