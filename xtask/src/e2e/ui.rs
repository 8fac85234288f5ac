//! The web view in a real browser: skopeo pushes the test image, the `oras` client pushes a
//! signature, an SBOM and an attestation referring to it (one annotation hostile markup),
//! then headless Chromium loads the repositories, tags and manifest pages and the delete
//! confirmation. The rendered DOM must show the repository, its tags, the sizes the manifest
//! declares, the layers and the referrers by kind, with the hostile annotation as text; a
//! screenshot of each page is kept under `<target>/e2e-artifacts/web-ui/<backend>/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::browser::Browser;
use super::clients::{skopeo, skopeo_copy_digest};
use super::registry::{RunningRegistry, start_ours_with_env};
use super::scenarios::Context;
use crate::cache::workspace_root;
use crate::process::{Result, run};

const REPO: &str = "e2e/web";

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result {
    if condition { Ok(()) } else { Err(what()) }
}

/// Where the screenshots of a backend's run go.
pub fn artifacts_dir(backend: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("e2e-artifacts").join("web-ui").join(backend)
}

/// The web view's rendering of a size (`registry_server::ui::format::human_size`).
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn start(cx: &Context<'_>) -> Result<RunningRegistry> {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = cx.dir.join("ours");
    let storage = cx
        .backend
        .storage_yaml(&dir.join("storage"), &format!("ui{unique}"));
    start_ours_with_env(
        cx.binary,
        &dir,
        &storage,
        "",
        &[("REGISTRY_UI_ENABLED", "true")],
    )
}

pub fn web_ui(cx: &Context<'_>) -> Result {
    let browser = Browser::new(&cx.dir.join("chromium"))?;
    let registry = start(cx)?;
    let host = &registry.host;
    let pushed = skopeo_copy_digest(
        &cx.image.reference(),
        &format!("docker://{host}/{REPO}:v1"),
        &[],
        cx.dir,
    )?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/push_referrers.py");
    run(Command::new("python3")
        .arg(script)
        .arg(host)
        .arg(REPO)
        .arg("v1")
        .arg(cx.dir.join("referrers")))?;

    // What the pages must show, from the manifest as a client reads it.
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{host}/{REPO}:v1"),
    ])?;
    let manifest: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
    let size = |v: &serde_json::Value| v["size"].as_u64().unwrap_or_default();
    let layers: Vec<u64> = manifest["layers"]
        .as_array()
        .ok_or("the manifest lists no layers")?
        .iter()
        .map(size)
        .collect();
    let total = size(&manifest["config"]) + layers.iter().sum::<u64>();

    let base = format!("http://{host}");
    let shots = artifacts_dir(cx.backend.name());
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).map_err(|e| format!("{}: {e}", shots.display()))?;

    // `/` leads to the repositories page.
    let dom = browser.dump_dom(&format!("{base}/"))?;
    ensure(
        dom.contains("<title>Repositories · registry</title>"),
        || format!("/ did not lead to the repositories page:\n{dom}"),
    )?;
    ensure(
        dom.contains(&format!("href=\"/ui/r/{REPO}\">{REPO}</a>")),
        || format!("the repositories page does not list {REPO}:\n{dom}"),
    )?;
    browser.screenshot(
        &format!("{base}/ui/"),
        &shots.join("1-repositories.png"),
        700,
    )?;

    let tags_url = format!("{base}/ui/r/{REPO}");
    let dom = browser.dump_dom(&tags_url)?;
    for tag in ["v1", "v1-sig", "v1-sbom", "v1-att"] {
        ensure(dom.contains(&format!("data-tag=\"{tag}\"")), || {
            format!("the tags page lacks {tag}:\n{dom}")
        })?;
    }
    let total_shown = format!("title=\"{total} bytes\">{}</span>", human_size(total));
    ensure(dom.contains(&total_shown), || {
        format!("the tags page does not show v1's size as {total_shown}:\n{dom}")
    })?;
    ensure(dom.contains(&format!("title=\"{pushed}\"")), || {
        format!("the tags page does not show v1's digest {pushed}")
    })?;
    ensure(
        dom.contains(&format!("docker pull {host}/{REPO}:v1")),
        || "the tags page has no pull command".into(),
    )?;
    browser.screenshot(&tags_url, &shots.join("2-tags.png"), 700)?;

    let manifest_url = format!("{base}/ui/r/{REPO}/-/m/v1");
    let dom = browser.dump_dom(&manifest_url)?;
    ensure(dom.contains(&format!("Layers ({})", layers.len())), || {
        format!(
            "the manifest page does not list {} layers:\n{dom}",
            layers.len()
        )
    })?;
    for layer in &layers {
        let shown = format!("title=\"{layer} bytes\">{}</span>", human_size(*layer));
        ensure(dom.contains(&shown), || {
            format!("the manifest page lacks a layer of {layer} bytes ({shown})")
        })?;
    }
    for group in ["Signatures (1)", "SBOMs (1)", "Attestations (1)"] {
        ensure(dom.contains(group), || {
            format!("the manifest page lacks the referrer group {group}:\n{dom}")
        })?;
    }
    for artifact_type in [
        "application/vnd.dev.cosign.artifact.sig.v1+json",
        "application/spdx+json",
        "application/vnd.in-toto+json",
    ] {
        ensure(dom.contains(artifact_type), || {
            format!("the manifest page lacks a referrer of type {artifact_type}")
        })?;
    }
    // The hostile annotation is text: escaped in the DOM, and no script but the page's own.
    ensure(
        dom.contains("&lt;script&gt;alert('x')&lt;/script&gt;\"onload=alert(1)"),
        || format!("the hostile annotation is not shown as text:\n{dom}"),
    )?;
    ensure(dom.matches("<script").count() == 1, || {
        format!("a script element besides the page's own:\n{dom}")
    })?;
    browser.screenshot(&manifest_url, &shots.join("3-manifest.png"), 1600)?;

    let confirm_url = format!("{base}/ui/r/{REPO}/-/delete/v1-att");
    let dom = browser.dump_dom(&confirm_url)?;
    ensure(dom.contains("Delete tag v1-att?"), || {
        format!("no delete confirmation:\n{dom}")
    })?;
    browser.screenshot(&confirm_url, &shots.join("4-delete-confirmation.png"), 500)?;
    // Asking deleted nothing.
    let tags = skopeo(&[
        "list-tags",
        "--tls-verify=false",
        &format!("docker://{host}/{REPO}"),
    ])?;
    ensure(tags.contains("\"v1-att\""), || {
        format!("the confirmation page deleted the tag: {tags}")
    })?;
    println!(
        "xtask e2e: web-ui screenshots in {} (total size {} shown as {})",
        shots.display(),
        total,
        human_size(total)
    );
    Ok(())
}
