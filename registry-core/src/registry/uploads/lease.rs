//! One writer at a time per upload, across every instance over the same storage.
//!
//! A request that writes (PATCH, the closing PUT) first takes the upload's lease: it stores
//! `lock-<expiry>-<nonce>`, then lists the directory. If another lock that has not expired is
//! there, it removes its own and fails. Why at most one request holds the lease: storage
//! is read-after-write and list-after-write consistent (the filesystem, the in-memory driver,
//! S3 since December 2020, Azure Blob), so of two requests X and Y that both stored a lock,
//! the one that lists second sees the other's lock (which was stored before the first one
//! listed, hence before the second one listed); at most the first can see only its own. Both
//! may back off when they race; neither is then harmed, and the client retries.
//!
//! A lease lasts [`LEASE`] and is renewed while its request is alive (every
//! [`RENEW_AFTER`], even while the client's body stalls), so a crashed instance blocks an
//! upload for at most one lease. A request whose lease expired anyway (a paused process, a
//! clock far off) can still only add a chunk under a fresh nonce, never change one: the
//! integrity of what is published does not rest on the lease (see the module above), only
//! the clean failure of one of two racing requests does.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::entries::{Listing, Lock, new_nonce};
use crate::domain::RepositoryName;
use crate::layout;
use crate::registry::Registry;
use crate::registry::error::{OrMissing, RegistryError, Result};
use crate::storage::Storage;

/// How long a lease is valid without renewal.
pub(super) const LEASE: Duration = Duration::from_secs(60);

/// A lease is renewed once it is this old, leaving two thirds of it as margin for a slow
/// storage call and clock differences between instances.
pub(super) const RENEW_AFTER: Duration = Duration::from_secs(20);

/// How often a request tries to take a lease that another request holds.
const LEASE_ATTEMPTS: u32 = 3;

/// A held lease. Dropping it unreleased (a request cancelled mid-way) removes the lock in
/// the background; a crash leaves it to expire.
pub(super) struct Lease {
    storage: Storage,
    repo: RepositoryName,
    id: String,
    lock: Lock,
    renewed: Instant,
    released: bool,
}

impl Registry {
    /// Takes the lease of upload `id`, with the listing seen under it. An unknown upload is
    /// `BlobUploadUnknown`; a lease held by another request is `BlobUploadInvalid`.
    pub(super) async fn lease_upload(
        &self,
        repo: &RepositoryName,
        id: &str,
    ) -> Result<(Lease, Listing)> {
        // Checked first so that a request for an unknown upload writes nothing.
        self.storage
            .stat(&layout::upload_started_at(repo, id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        let mut attempt = 0;
        let (lease, listing) = loop {
            let (lease, listing) = self.try_lease(repo, id).await?;
            if listing
                .live_locks_besides(&lease.lock.nonce)
                .next()
                .is_none()
            {
                break (lease, listing);
            }
            lease.release().await;
            attempt += 1;
            if attempt == LEASE_ATTEMPTS {
                return Err(RegistryError::BlobUploadInvalid(
                    "another request is writing to this upload".into(),
                ));
            }
            // Two requests that stored their locks at the same moment both back off; a short
            // random wait makes one of them try again alone. A lease held by a request that
            // is really writing is still there after the last attempt.
            let jitter = uuid::Uuid::new_v4().as_u128() % 40;
            tokio::time::sleep(Duration::from_millis(10 + jitter as u64)).await;
        };
        for stale in listing.locks.iter().filter(|l| l.expired()) {
            lease.remove_entry(&stale.name()).await;
        }
        Ok((lease, listing))
    }

    /// Stores a lock and lists the upload once; the caller looks for other locks.
    async fn try_lease(&self, repo: &RepositoryName, id: &str) -> Result<(Lease, Listing)> {
        let lock = Lock::new(new_nonce(), LEASE);
        self.storage
            .put_content(&layout::upload_entry(repo, id, &lock.name()), Bytes::new())
            .await?;
        let lease = Lease {
            storage: self.storage.clone(),
            repo: repo.clone(),
            id: id.to_owned(),
            lock,
            renewed: Instant::now(),
            released: false,
        };
        let listing = lease.list().await?;
        if !listing.started {
            // Cancelled or completed in between: leave nothing behind in its place.
            lease.abandon_upload().await;
            return Err(RegistryError::BlobUploadUnknown);
        }
        Ok((lease, listing))
    }
}

impl Lease {
    /// The upload's directory, listed now.
    pub async fn list(&self) -> Result<Listing> {
        let entries = self
            .storage
            .list(&layout::upload_dir(&self.repo, &self.id))
            .await
            .or_missing(|| RegistryError::BlobUploadUnknown)?;
        Ok(Listing::of(&entries))
    }

    /// Renews the lease if it is due: a new lock first, then the old one goes, so the upload
    /// is never without a live lock of this request.
    pub async fn renew_if_due(&mut self) -> Result<()> {
        if self.renewed.elapsed() < RENEW_AFTER {
            return Ok(());
        }
        let renewed = Lock::new(self.lock.nonce.clone(), LEASE);
        self.storage
            .put_content(&self.entry(&renewed.name()), Bytes::new())
            .await?;
        let old = std::mem::replace(&mut self.lock, renewed);
        self.renewed = Instant::now();
        self.remove_entry(&old.name()).await;
        Ok(())
    }

    /// The upload's listing, if this request still holds the lease: the upload was not
    /// cancelled or completed meanwhile, and no one took over an expired lease.
    pub async fn confirm(&self) -> Result<Listing> {
        let listing = self.list().await?;
        if !listing.started {
            return Err(RegistryError::BlobUploadUnknown);
        }
        if !listing.holds(&self.lock) {
            return Err(RegistryError::BlobUploadInvalid(
                "this request's lease on the upload expired and was taken over".into(),
            ));
        }
        Ok(listing)
    }

    pub async fn release(mut self) {
        self.released = true;
        self.remove_entry(&self.lock.name()).await;
    }

    /// For when the whole upload directory was removed (the lock with it).
    pub fn forget(mut self) {
        self.released = true;
    }

    /// Removes the whole directory of an upload that no longer exists (what this request
    /// wrote there after it was cancelled or completed).
    pub async fn abandon_upload(mut self) {
        self.released = true;
        let dir = layout::upload_dir(&self.repo, &self.id);
        if let Err(e) = self.storage.delete(&dir).await
            && !e.is_not_found()
        {
            tracing::warn!(upload = %self.id, error = %e, "could not remove a gone upload's leftovers");
        }
    }

    pub fn entry(&self, name: &str) -> String {
        layout::upload_entry(&self.repo, &self.id, name)
    }

    pub async fn remove_entry(&self, name: &str) {
        if let Err(e) = self.storage.delete(&self.entry(name)).await
            && !e.is_not_found()
        {
            tracing::warn!(upload = %self.id, entry = name, error = %e, "could not remove an upload entry");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let storage = self.storage.clone();
        let path = self.entry(&self.lock.name());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = storage.delete(&path).await;
            });
        }
    }
}
