//! Finding the uploads below a repositories root: one walk of the tree, skipping every
//! reserved directory except `_uploads`, as the reference's `getOutstandingUploads` does.
//!
//! Only what lies below `_uploads/<id>/` is kept (names, sizes and times of each upload's
//! entries), so memory grows with the number of outstanding uploads, not with the number of
//! repositories, manifests or blobs the walk passes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::storage::{FileInfo, Result, Storage, WalkControl};

const UPLOADS_DIR: &str = "_uploads";

/// One object of an upload's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// The path below the upload's directory (`startedat`, `data-...`, or deeper for the
    /// reference's `hashstates/...`).
    pub name: String,
    pub size: u64,
    pub modified: SystemTime,
}

/// One upload's directory as the walk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FoundUpload {
    /// The directory, `<root>/<repository>/_uploads/<id>`.
    pub dir: String,
    pub id: String,
    pub entries: Vec<Entry>,
}

impl FoundUpload {
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}

/// Every upload directory below `root` (a repositories root) that holds at least one object,
/// in walk order. A missing root has none.
pub(super) async fn find_uploads(storage: &Storage, root: &str) -> Result<Vec<FoundUpload>> {
    let mut uploads: BTreeMap<String, FoundUpload> = BTreeMap::new();
    let prefix = format!("{}/", root.trim_end_matches('/'));
    let mut visit = |info: &FileInfo| -> Result<WalkControl> {
        let Some(relative) = info.path.as_str().strip_prefix(&prefix) else {
            return Ok(WalkControl::Continue);
        };
        let components: Vec<&str> = relative.split('/').collect();
        let Some(last) = components.last() else {
            return Ok(WalkControl::Continue);
        };
        let uploads_at = components.iter().position(|c| *c == UPLOADS_DIR);
        if info.is_dir && last.starts_with('_') && uploads_at.is_none() {
            // `_layers`, `_manifests`: nothing of an upload lives there.
            return Ok(WalkControl::SkipDir);
        }
        let Some(at) = uploads_at else {
            return Ok(WalkControl::Continue);
        };
        if info.is_dir {
            return Ok(WalkControl::Continue);
        }
        // `<repository>/_uploads/<id>/<name...>`; anything else below `_uploads` is not an
        // upload this registry or the reference made, and is left alone.
        let (Some(id), true) = (components.get(at + 1), components.len() > at + 2) else {
            return Ok(WalkControl::Continue);
        };
        if uuid::Uuid::try_parse(id).is_err() {
            return Ok(WalkControl::Continue);
        }
        let dir = format!("{prefix}{}", components[..at + 2].join("/"));
        let entry = Entry {
            name: components[at + 2..].join("/"),
            size: info.size,
            modified: info.mod_time,
        };
        uploads
            .entry(dir.clone())
            .or_insert_with(|| FoundUpload {
                dir,
                id: (*id).to_owned(),
                entries: Vec::new(),
            })
            .entries
            .push(entry);
        Ok(WalkControl::Continue)
    };
    match storage.walk(root, None, &mut visit).await {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    Ok(uploads.into_values().collect())
}

/// The upload id a path below a repositories root belongs to: the component after
/// `_uploads`, if that is a UUID.
pub(super) fn upload_id_of(path: &str) -> Option<&str> {
    let mut components = path.split('/');
    components.find(|c| *c == UPLOADS_DIR)?;
    let id = components.next()?;
    uuid::Uuid::try_parse(id).ok().map(|_| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_ids_of_paths() {
        let id = "8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f";
        assert_eq!(
            upload_id_of(&format!("/r/a/b/_uploads/{id}/data-1")),
            Some(id)
        );
        assert_eq!(upload_id_of("/r/a/_uploads/not-a-uuid/data"), None);
        assert_eq!(upload_id_of("/r/a/_layers/x"), None);
        assert_eq!(upload_id_of("/r/a/_uploads"), None);
    }
}
