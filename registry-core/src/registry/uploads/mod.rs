//! Blob uploads: monolithic, streamed and chunked, resumable on any registry instance, and
//! safe under any interleaving of requests, from one instance or many.
//!
//! An upload is a directory `_uploads/<id>` (see [`entries`] for its names): `startedat`, and
//! one immutable chunk per request that sent bytes, each with a record that places it in the
//! upload and holds the hash state after it. Why no interleaving can publish bytes that differ
//! from their digest:
//!
//! - A request never writes into data that another request can see or continue. Its bytes go
//!   to a new object under a fresh nonce, through a writer that nobody else resumes, and become
//!   part of the upload only when the request has finished them and stored their record.
//!   Published blobs are made from such finished chunks only, so a request still writing (a
//!   stalled PATCH, a killed instance) cannot add bytes to what is verified or published.
//! - A hash state is used only for the bytes it was computed from: the record that holds it
//!   names its chunk's nonce and the parent chunk it continues, and each is written once.
//! - Completion computes the digest from those states (or from the chunks themselves) and then
//!   moves or copies exactly those chunks, checking their sizes; nothing is visible at the
//!   blob's path before that succeeds, and an existing blob is never written again.
//!
//! On top of that, [`lease`] lets one request at a time write to an upload, so that of two
//! racing requests one fails cleanly (`BLOB_UPLOAD_INVALID`) instead of both appearing to
//! succeed. Cheap requests stay cheap: the status is one `list`; a PATCH whose range is wrong
//! costs a `stat`, a `put`, a `list` and a `delete`; a cancel a `stat` and a `delete`.

mod entries;
mod hash_state;
mod lease;
mod publish;
mod receive;

use std::time::SystemTime;

use bytes::Bytes;
use futures::Stream;

use super::Registry;
use super::error::{OrMissing, RegistryError, Result};
use crate::domain::{Digest, RepositoryName};
use crate::layout;

pub(crate) use entries::lease_expiry;
use entries::{Chunk, end_of};
use lease::Lease;

/// Where an upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadStatus {
    pub id: String,
    /// Bytes received so far.
    pub size: u64,
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
        Ok(UploadStatus { id, size: 0 })
    }

    /// Where an upload stands (`GET /v2/<name>/blobs/uploads/<id>`): one listing.
    pub async fn upload_status(&self, repo: &RepositoryName, id: &str) -> Result<UploadStatus> {
        let id = parse_id(id)?;
        let entries = self
            .storage
            .list(&layout::upload_dir(repo, &id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        let listing = entries::Listing::of(&entries);
        if !listing.started {
            return Err(RegistryError::BlobUploadUnknown);
        }
        Ok(UploadStatus {
            size: end_of(&listing.chain()),
            id,
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
        let leased = self.lease_upload(repo, &id).await;
        let (mut lease, listing) = self.explain_failure(repo, &id, leased).await?;
        let chain = listing.chain();
        let appended = match check_start(start, &chain) {
            Ok(()) => self.append_leased(repo, &id, chain, body, &mut lease).await,
            Err(e) => Err(e),
        };
        let appended = self.explain_failure(repo, &id, appended).await;
        settle_lease(lease, &appended).await;
        appended.map(|size| UploadStatus { id, size })
    }

    async fn append_leased<S, E>(
        &self,
        repo: &RepositoryName,
        id: &str,
        chain: Vec<Chunk>,
        body: S,
        lease: &mut Lease,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let hasher = self.hash_through(repo, id, &chain).await?;
        let received = self.receive_chunk(&chain, hasher, body, lease).await?;
        let listing = confirm_keeping(lease, received.chunk.as_ref()).await?;
        match received.body_error {
            Some(e) => Err(e),
            None => Ok(end_of(&listing.chain())),
        }
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
        let leased = self.lease_upload(repo, &id).await;
        let (mut lease, listing) = self.explain_failure(repo, &id, leased).await?;
        let chain = listing.chain();
        let completed = match check_start(start, &chain) {
            Ok(()) => {
                self.complete_leased(repo, &id, digest, chain, body, &mut lease)
                    .await
            }
            Err(e) => Err(e),
        };
        let completed = self.explain_failure(repo, &id, completed).await;
        match &completed {
            // Done, or refused for good: the upload (and the lease with it) goes.
            Ok(_) | Err(RegistryError::DigestInvalid(_)) => {
                self.remove_upload(repo, &id).await;
                lease.forget();
            }
            _ => settle_lease(lease, &completed).await,
        }
        completed
    }

    async fn complete_leased<S, E>(
        &self,
        repo: &RepositoryName,
        id: &str,
        digest: &Digest,
        mut chain: Vec<Chunk>,
        body: S,
        lease: &mut Lease,
    ) -> Result<u64>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let hasher = self.hash_through(repo, id, &chain).await?;
        let received = self.receive_chunk(&chain, hasher, body, lease).await?;
        let listing = confirm_keeping(lease, received.chunk.as_ref()).await?;
        if let Some(e) = received.body_error {
            return Err(e);
        }
        chain.extend(received.chunk);
        if listing.chain() != chain {
            // Only after a lease expired under a request that still wrote: refuse to guess.
            return Err(RegistryError::BlobUploadInvalid(
                "the upload changed while it was being completed".into(),
            ));
        }
        let computed = if digest.algorithm() == received.hasher.algorithm() {
            received.hasher.finish()
        } else {
            self.hash_chain(repo, id, &chain, digest.algorithm())
                .await?
                .finish()
        };
        if &computed != digest {
            return Err(RegistryError::DigestInvalid(format!(
                "the uploaded content has digest {computed}, not {digest}"
            )));
        }
        self.publish_chain(repo, id, &chain, digest).await?;
        Ok(end_of(&chain))
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
            // The client holds no Location to resume with.
            self.remove_upload(repo, &status.id).await;
        }
        result
    }

    /// Cancels an upload (`DELETE /v2/<name>/blobs/uploads/<id>`). It takes no lease: a
    /// request still writing finds the upload gone when it finishes, and fails.
    pub async fn cancel_upload(&self, repo: &RepositoryName, id: &str) -> Result<()> {
        self.ensure_writable()?;
        let id = parse_id(id)?;
        self.storage
            .stat(&layout::upload_started_at(repo, &id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        self.storage
            .delete(&layout::upload_dir(repo, &id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)
    }

    /// A storage failure while an upload was being written is most often the upload's
    /// removal by a cancel (the driver then misses what it was writing): that is an unknown
    /// upload, not a server error.
    async fn explain_failure<T>(
        &self,
        repo: &RepositoryName,
        id: &str,
        outcome: Result<T>,
    ) -> Result<T> {
        let Err(RegistryError::Storage(failure)) = outcome else {
            return outcome;
        };
        match self
            .storage
            .stat(&layout::upload_started_at(repo, id))
            .await
        {
            Err(e) if e.is_not_found() => Err(RegistryError::BlobUploadUnknown),
            _ => Err(RegistryError::Storage(failure)),
        }
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

/// A chunk that names where it starts must start where the upload stands.
fn check_start(start: Option<u64>, chain: &[Chunk]) -> Result<()> {
    let size = end_of(chain);
    match start {
        Some(start) if start != size => Err(RegistryError::ChunkOutOfOrder { expected: size }),
        _ => Ok(()),
    }
}

/// Checks that the lease still holds after a chunk was stored. If another request took over
/// an expired lease meanwhile, the chunk is withdrawn, so that the upload is as that request
/// sees it.
async fn confirm_keeping(lease: &Lease, chunk: Option<&Chunk>) -> Result<entries::Listing> {
    let confirmed = lease.confirm().await;
    if let (Err(RegistryError::BlobUploadInvalid(_)), Some(chunk)) = (&confirmed, chunk) {
        lease.remove_entry(&chunk.record_name()).await;
        lease.remove_entry(&chunk.data_name()).await;
    }
    confirmed
}

/// Gives the lease back after a request: an upload found gone takes what the request left in
/// its place with it.
async fn settle_lease<T>(lease: Lease, outcome: &Result<T>) {
    match outcome {
        Err(RegistryError::BlobUploadUnknown) => lease.abandon_upload().await,
        _ => lease.release().await,
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
