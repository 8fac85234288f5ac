//! Pulling what a registry kept with skopeo, byte for byte.

use std::path::Path;

use super::content::Content;
use super::http::Http;
use super::layouts::Manifest;
use crate::e2e::clients::skopeo_copy;
use crate::e2e::scenarios::{Context, check_dir_blobs, ensure, pull_and_check_at};
use crate::process::Result;

/// Pulls every kept image from `host` with skopeo, byte-verified: tagged images, the index
/// with `--all`, the referrer by digest.
pub(super) fn serve_all(cx: &Context<'_>, host: &str, who: &str, content: &Content) -> Result {
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

pub(super) fn pull_image(
    host: &str,
    source: &str,
    manifest: &Manifest,
    out: &Path,
    who: &str,
) -> Result {
    let _ = std::fs::remove_dir_all(out);
    let raw = pull_and_check_at(host, source, out.to_owned(), &manifest.digest)
        .map_err(|e| format!("{who} serving {source} ({}): {e}", manifest.digest))?;
    ensure(raw.as_bytes() == manifest.bytes.as_slice(), || {
        format!("{who} serves {source} with other manifest bytes than were pushed")
    })
}

/// `skopeo copy --all` of an index into a `dir:`: the index and each child byte for byte,
/// every blob by digest.
pub(super) fn pull_index(
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
pub(super) fn check_referrers(http: &Http, host: &str, content: &Content) -> Result {
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
