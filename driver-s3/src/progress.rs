//! The persisted progress of a closed writer: what `writer(path, append = true)` resumes, in
//! this process or any other.
//!
//! A closed writer's bytes are the parts of a multipart upload to the final key (invisible until
//! completed) followed by a tail: the last bytes, fewer than S3's minimum part size, which
//! cannot be a part yet and are stored as a private object instead. The record lists the upload
//! id and the parts, because some S3-compatible services lack ListMultipartUploads.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::bucket::{Bucket, PartRecord};
use crate::error::S3Error;

const VERSION: u32 = 1;

/// The tail object of a closed writer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tail {
    pub key: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Progress {
    pub version: u32,
    /// Identifies this record's write (a new one per close), so that a writer removing the
    /// record it resumed does not remove a newer one.
    pub generation: String,
    /// The object key the upload completes to.
    pub key: String,
    pub upload_id: Option<String>,
    pub parts: Vec<PartRecord>,
    pub tail: Option<Tail>,
}

impl Progress {
    pub(crate) fn new(
        key: String,
        upload_id: Option<String>,
        parts: Vec<PartRecord>,
        tail: Option<Tail>,
    ) -> Self {
        Progress {
            version: VERSION,
            generation: uuid::Uuid::new_v4().simple().to_string(),
            key,
            upload_id,
            parts,
            tail,
        }
    }

    /// Bytes written so far.
    pub(crate) fn size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum::<u64>() + self.tail.as_ref().map_or(0, |t| t.size)
    }

    /// The record at `key`, or `None` when no writer at that path was closed.
    pub(crate) async fn load(bucket: &Bucket, key: &str) -> Result<Option<Progress>, S3Error> {
        let bytes = match bucket.get_bytes(key).await {
            Ok(bytes) => bytes,
            Err(e) if e.is_no_such_key() => return Ok(None),
            Err(e) => return Err(e),
        };
        let corrupt = |reason: String| S3Error::CorruptProgress {
            key: key.to_owned(),
            reason,
        };
        let progress: Progress =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        progress.check().map_err(corrupt)?;
        Ok(Some(progress))
    }

    pub(crate) async fn store(&self, bucket: &Bucket, key: &str) -> Result<(), S3Error> {
        let json = serde_json::to_vec(self).map_err(|e| S3Error::CorruptProgress {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        bucket.put(key, Bytes::from(json)).await
    }

    /// The invariants a resumed writer relies on.
    fn check(&self) -> Result<(), String> {
        if self.version != VERSION {
            return Err(format!("unknown version {}", self.version));
        }
        if self.parts.is_empty() != self.upload_id.is_none() {
            return Err("parts without an upload, or an upload without parts".to_owned());
        }
        for (index, part) in self.parts.iter().enumerate() {
            if usize::try_from(part.number).ok() != Some(index + 1) {
                return Err(format!("part {} out of sequence", part.number));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: i32, size: u64) -> PartRecord {
        PartRecord {
            number,
            etag: format!("\"etag-{number}\""),
            size,
        }
    }

    #[test]
    fn size_and_checks() {
        let tail = Some(Tail {
            key: "t".to_owned(),
            size: 7,
        });
        let p = Progress::new(
            "k".into(),
            Some("u".to_owned()),
            vec![part(1, 10), part(2, 5)],
            tail,
        );
        assert_eq!(p.size(), 22);
        assert!(p.check().is_ok());
        let json = serde_json::to_vec(&p).unwrap();
        assert_eq!(serde_json::from_slice::<Progress>(&json).unwrap(), p);

        assert!(
            Progress::new("k".into(), None, vec![part(1, 1)], None)
                .check()
                .is_err()
        );
        assert!(
            Progress::new("k".into(), Some("u".into()), vec![], None)
                .check()
                .is_err()
        );
        let gap = Progress::new(
            "k".into(),
            Some("u".into()),
            vec![part(1, 1), part(3, 1)],
            None,
        );
        assert!(gap.check().is_err());
        assert!(
            Progress::new("k".into(), None, vec![], None)
                .check()
                .is_ok()
        );
    }
}
