//! Blob uploads: monolithic, streamed and chunked, resumable on any registry instance.
//!
//! An upload is a directory `_uploads/<id>` with `startedat`, the data (written through one
//! storage writer that is closed after every request and resumed by the next) and the running
//! hash state. The blob becomes visible only after the final digest is verified: the data is
//! then moved to its content-addressed place and linked into the repository.

mod hash_state;

use std::time::SystemTime;

use bytes::Bytes;
use futures::{Stream, StreamExt};

use super::Registry;
use super::error::{OrMissing, RegistryError, Result};
use crate::domain::{Digest, DigestHasher, RepositoryName};
use crate::layout;
use crate::storage::FileWriter;

use hash_state::RUNNING;

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: String,
    /// Bytes received so far.
    pub size: u64,
}

/// An upload opened for more data: its writer and the hash of what it holds.
struct OpenUpload {
    writer: Box<dyn FileWriter>,
    hasher: DigestHasher,
    /// Size when opened (where the saved hash state was).
    opened_at: u64,
}

/// Bytes hashed per task on the blocking pool: hashing a large body then runs beside the
/// request's thread, which keeps receiving (and the writer keeps writing) meanwhile.
const HASH_BATCH: usize = 1024 * 1024;

impl OpenUpload {
    /// Writes `body` into the upload and its hash. A failing body leaves the upload
    /// consistent at what was received, so the client can resume.
    async fn receive<S, E>(&mut self, mut body: S) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let algorithm = self.hasher.algorithm();
        let mut hasher = std::mem::replace(&mut self.hasher, DigestHasher::new(algorithm));
        let mut in_flight: Option<tokio::task::JoinHandle<DigestHasher>> = None;
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0;
        let writer = &mut self.writer;
        let received: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| RegistryError::ClientBody(e.to_string()))?;
                if chunk.is_empty() {
                    continue;
                }
                batched += chunk.len();
                batch.push(chunk.clone());
                writer.write(chunk).await?;
                if batched >= HASH_BATCH {
                    if let Some(task) = in_flight.take() {
                        hasher = joined(task).await?;
                    }
                    let work = std::mem::take(&mut batch);
                    batched = 0;
                    let mut next = std::mem::replace(&mut hasher, DigestHasher::new(algorithm));
                    in_flight = Some(tokio::task::spawn_blocking(move || {
                        for piece in &work {
                            next.update(piece);
                        }
                        next
                    }));
                }
            }
            Ok(())
        }
        .await;
        // Whatever happened, the hash must cover exactly what was handed to the writer.
        if let Some(task) = in_flight.take() {
            hasher = joined(task).await?;
        }
        for piece in &batch {
            hasher.update(piece);
        }
        self.hasher = hasher;
        received
    }
}

async fn joined(task: tokio::task::JoinHandle<DigestHasher>) -> Result<DigestHasher> {
    task.await.map_err(|e| {
        RegistryError::Storage(crate::storage::StorageError::backend(
            "registry",
            "hashing an upload",
            e,
        ))
    })
}

fn parse_id(id: &str) -> Result<String> {
    // Upload ids are UUIDs in the form they are handed out (lowercase, hyphenated): anything
    // else is unknown and never reaches a storage path. Other spellings of the same UUID
    // (braced, simple, uppercase) are not aliases of the upload.
    uuid::Uuid::try_parse(id)
        .ok()
        .map(|u| u.hyphenated().to_string())
        .filter(|canonical| canonical == id)
        .ok_or(RegistryError::BlobUploadUnknown)
}

impl Registry {
    /// Starts an upload (`POST /v2/<name>/blobs/uploads/`).
    pub async fn start_upload(&self, repo: &RepositoryName) -> Result<UploadStatus> {
        self.ensure_writable()?;
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let started = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        self.storage
            .put_content(&layout::upload_started_at(repo, &id), Bytes::from(started))
            .await?;
        // An empty, closed writer: the data exists (and resumes) from the first request on.
        let writer = self
            .storage
            .writer(&layout::upload_data(repo, &id), false)
            .await?;
        writer.close().await?;
        Ok(UploadStatus { id, size: 0 })
    }

    async fn ensure_upload_exists(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        self.storage
            .stat(&layout::upload_started_at(repo, id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        Ok(())
    }

    /// Where an upload stands (`GET /v2/<name>/blobs/uploads/<id>`).
    pub async fn upload_status(&self, repo: &RepositoryName, id: &str) -> Result<UploadStatus> {
        let id = parse_id(id)?;
        self.ensure_upload_exists(repo, &id).await?;
        let writer = self
            .storage
            .writer(&layout::upload_data(repo, &id), true)
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        // Only the size was wanted: dropping a resumed writer leaves its progress as it was.
        Ok(UploadStatus {
            size: writer.size(),
            id,
        })
    }

    /// Opens an upload's writer with the hash of the data it already holds.
    async fn open_upload(&self, repo: &RepositoryName, id: &str) -> Result<OpenUpload> {
        self.ensure_upload_exists(repo, id).await?;
        let data = layout::upload_data(repo, id);
        let writer = self
            .storage
            .writer(&data, true)
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        let offset = writer.size();
        if let Some(hasher) = self.load_hash_state(repo, id, offset).await? {
            return Ok(OpenUpload {
                writer,
                hasher,
                opened_at: offset,
            });
        }
        // No state for this size: make the data readable, hash it, and go on from there.
        tracing::info!(
            upload = id,
            offset,
            "no saved hash state; re-hashing the upload"
        );
        writer.commit().await?;
        let hasher = self.hash_stored(&data, RUNNING).await?;
        let writer = self.storage.writer(&data, true).await?;
        Ok(OpenUpload {
            writer,
            hasher,
            opened_at: 0,
        })
    }

    /// Appends a request body to an upload (`PATCH`). With `start` (from `Content-Range`), the
    /// chunk must begin exactly where the upload stands.
    pub async fn append_upload<S, E>(
        &self,
        repo: &RepositoryName,
        id: &str,
        start: Option<u64>,
        body: S,
    ) -> Result<UploadStatus>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.ensure_writable()?;
        let id = parse_id(id)?;
        let mut upload = self.open_upload(repo, &id).await?;
        let size = upload.writer.size();
        if let Some(start) = start
            && start != size
        {
            return Err(RegistryError::ChunkOutOfOrder { expected: size });
        }
        let received = upload.receive(body).await;
        let size = upload.writer.size();
        upload.writer.close().await?;
        self.save_hash_state(repo, &id, &upload.hasher, size, upload.opened_at)
            .await?;
        received?;
        Ok(UploadStatus { id, size })
    }

    /// Completes an upload (`PUT ...?digest=`), with an optional last chunk: verifies the
    /// digest, then makes the blob visible and links it into `repo`. On a digest mismatch the
    /// upload is removed and nothing becomes visible.
    pub async fn complete_upload<S, E>(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        start: Option<u64>,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.ensure_writable()?;
        let id = parse_id(id)?;
        let mut upload = self.open_upload(repo, &id).await?;
        if let Some(start) = start
            && start != upload.writer.size()
        {
            return Err(RegistryError::ChunkOutOfOrder {
                expected: upload.writer.size(),
            });
        }
        if let Err(e) = upload.receive(body).await {
            let size = upload.writer.size();
            upload.writer.close().await?;
            self.save_hash_state(repo, &id, &upload.hasher, size, upload.opened_at)
                .await?;
            return Err(e);
        }
        let size = upload.writer.size();
        let data = layout::upload_data(repo, &id);
        upload.writer.commit().await?;
        let computed = if digest.algorithm() == upload.hasher.algorithm() {
            upload.hasher.finish()
        } else {
            self.hash_stored(&data, digest.algorithm()).await?.finish()
        };
        if &computed != digest {
            self.remove_upload(repo, &id).await;
            return Err(RegistryError::DigestInvalid(format!(
                "the uploaded content has digest {computed}, not {digest}"
            )));
        }
        self.publish_blob(repo, &data, digest).await?;
        self.remove_upload(repo, &id).await;
        Ok(size)
    }

    /// Moves verified data to its content address (unless identical content is already there)
    /// and links it into `repo`.
    async fn publish_blob(&self, repo: &RepositoryName, data: &str, digest: &Digest) -> Result<()> {
        if self.blob_stored(digest).await?.is_none() {
            self.storage
                .move_to(data, &layout::blob_data(digest))
                .await?;
        }
        self.link_blob(repo, digest).await
    }

    /// A whole blob in one request (`POST ...?digest=` with a body).
    pub async fn upload_monolithic<S, E>(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        body: S,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let status = self.start_upload(repo).await?;
        let result = self
            .complete_upload(repo, &status.id, digest, None, body)
            .await;
        if result.is_err() {
            self.remove_upload(repo, &status.id).await;
        }
        result
    }

    /// Cancels an upload (`DELETE /v2/<name>/blobs/uploads/<id>`).
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        self.ensure_writable()?;
        let id = parse_id(id)?;
        self.ensure_upload_exists(repo, &id).await?;
        self.storage
            .delete(&layout::upload_dir(repo, &id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)
    }

    /// Best-effort removal of an upload's directory; a leftover is only garbage.
    async fn remove_upload(&self, repo: &RepositoryName, id: &str) {
        if let Err(e) = self.storage.delete(&layout::upload_dir(repo, id)).await
            && !e.is_not_found()
        {
            tracing::warn!(upload = id, error = %e, "could not remove a finished upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_id;

    #[test]
    fn upload_ids_are_canonical_uuids_only() {
        let id = "8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f";
        assert_eq!(parse_id(id).unwrap(), id);
        for alias in [
            "8D6C1F7E-3A2B-4C5D-9E8F-0A1B2C3D4E5F",
            "8d6c1f7e3a2b4c5d9e8f0a1b2c3d4e5f",
            "{8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f}",
            "urn:uuid:8d6c1f7e-3a2b-4c5d-9e8f-0a1b2c3d4e5f",
            "..",
            "",
        ] {
            assert!(parse_id(alias).is_err(), "{alias}");
        }
    }
}
