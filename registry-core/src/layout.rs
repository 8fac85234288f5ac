//! Where things live in storage: CNCF Distribution's layout, so that a root written by the
//! reference registry is served unchanged and the other way round.
//!
//! ```text
//! /docker/registry/v2/blobs/<alg>/<2 hex>/<hex>/data
//! /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
//! /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
//! /docker/registry/v2/repositories/<name>/_uploads/<id>/startedat
//! ```
//!
//! This project's additions sit in directories the reference never reads: the rest of an
//! upload's directory (its chunks, their hash states and the upload's lease, named in
//! [`crate::registry`]'s uploads module; the reference's own `data` and `hashstates/` are not
//! used, and an upload in progress does not move between the two registries) and
//! `_referrers/<alg>-<subject>/<alg>-<referrer>` (the referrers index; digests in unpadded
//! base64url there, because two hex digests in one key are longer than some S3-compatible
//! servers accept: s3s-fs names a file after each key, and file names end at 255 bytes).

use crate::domain::{Digest, RepositoryName, Tag};

pub const ROOT: &str = "/docker/registry/v2";

pub fn blobs_root() -> String {
    format!("{ROOT}/blobs")
}

pub fn blob_data(digest: &Digest) -> String {
    let hex = digest.hex();
    format!(
        "{ROOT}/blobs/{}/{}/{hex}/data",
        digest.algorithm().name(),
        &hex[..2]
    )
}

pub fn repositories_root() -> String {
    format!("{ROOT}/repositories")
}

pub fn repository(name: &RepositoryName) -> String {
    format!("{ROOT}/repositories/{name}")
}

pub fn layer_link(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}/_layers/{}/{}/link",
        repository(name),
        digest.algorithm().name(),
        digest.hex()
    )
}

pub fn manifests_dir(name: &RepositoryName) -> String {
    format!("{}/_manifests", repository(name))
}

pub fn revision_link(name: &RepositoryName, digest: &Digest) -> String {
    format!(
        "{}/_manifests/revisions/{}/{}/link",
        repository(name),
        digest.algorithm().name(),
        digest.hex()
    )
}

pub fn tags_dir(name: &RepositoryName) -> String {
    format!("{}/_manifests/tags", repository(name))
}

pub fn tag_dir(name: &RepositoryName, tag: &Tag) -> String {
    format!("{}/{tag}", tags_dir(name))
}

/// The digest a link file's content names (`sha256:<hex>`, surrounding whitespace allowed);
/// `None` when it names none.
pub fn link_target(content: &[u8]) -> Option<Digest> {
    std::str::from_utf8(content).ok()?.trim().parse().ok()
}

pub fn tag_current_link(name: &RepositoryName, tag: &Tag) -> String {
    format!("{}/current/link", tag_dir(name, tag))
}

pub fn tag_index_link(name: &RepositoryName, tag: &Tag, digest: &Digest) -> String {
    format!(
        "{}/index/{}/{}/link",
        tag_dir(name, tag),
        digest.algorithm().name(),
        digest.hex()
    )
}

pub fn upload_dir(name: &RepositoryName, id: &str) -> String {
    format!("{}/_uploads/{id}", repository(name))
}

pub fn upload_started_at(name: &RepositoryName, id: &str) -> String {
    format!("{}/startedat", upload_dir(name, id))
}

/// One entry of an upload's directory.
pub fn upload_entry(name: &RepositoryName, id: &str, entry: &str) -> String {
    format!("{}/{entry}", upload_dir(name, id))
}

/// `<alg>-<unpadded base64url of the digest bytes>`: a whole digest, 43 characters for sha256.
fn compact(digest: &Digest) -> String {
    use base64::Engine;
    let bytes = hex::decode(digest.hex()).unwrap_or_default();
    format!(
        "{}-{}",
        digest.algorithm().name(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

pub fn referrers_of(name: &RepositoryName, subject: &Digest) -> String {
    format!("{}/_referrers/{}", repository(name), compact(subject))
}

pub fn referrer_entry(name: &RepositoryName, subject: &Digest, referrer: &Digest) -> String {
    format!("{}/{}", referrers_of(name, subject), compact(referrer))
}

/// This project's garbage-collection state (see [`crate::lifecycle::gc`]): the collector's
/// lease, doom markers and revival records. The reference never reads `_gc`.
pub fn gc_root() -> String {
    format!("{ROOT}/_gc")
}

pub fn gc_lease_dir() -> String {
    format!("{ROOT}/_gc/lease")
}

/// Written at the end of every completed online cycle: its modification time is when the
/// next cycle is due, for every instance over the storage.
pub fn gc_last_cycle() -> String {
    format!("{ROOT}/_gc/last-cycle")
}

pub fn gc_doomed_dir() -> String {
    format!("{ROOT}/_gc/doomed")
}

pub fn gc_revived_dir() -> String {
    format!("{ROOT}/_gc/revived")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_layout() {
        let name: RepositoryName = "library/ubuntu".parse().unwrap();
        let digest: Digest =
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                .parse()
                .unwrap();
        let tag: Tag = "latest".parse().unwrap();
        let hex = digest.hex();
        assert_eq!(
            blob_data(&digest),
            format!("/docker/registry/v2/blobs/sha256/e3/{hex}/data")
        );
        assert_eq!(
            layer_link(&name, &digest),
            format!("/docker/registry/v2/repositories/library/ubuntu/_layers/sha256/{hex}/link")
        );
        assert_eq!(
            revision_link(&name, &digest),
            format!(
                "/docker/registry/v2/repositories/library/ubuntu/_manifests/revisions/sha256/{hex}/link"
            )
        );
        assert_eq!(
            tag_current_link(&name, &tag),
            "/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/current/link"
        );
        assert_eq!(
            tag_index_link(&name, &tag, &digest),
            format!(
                "/docker/registry/v2/repositories/library/ubuntu/_manifests/tags/latest/index/sha256/{hex}/link"
            )
        );
        assert_eq!(
            referrer_entry(&name, &digest, &digest),
            "/docker/registry/v2/repositories/library/ubuntu/_referrers/\
             sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU/\
             sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
        );
        assert_eq!(
            upload_started_at(&name, "abc"),
            "/docker/registry/v2/repositories/library/ubuntu/_uploads/abc/startedat"
        );
    }
}
