//! At most one collection cycle at a time, across every instance and the offline command.
//!
//! Built like an upload's lease (`registry/uploads/lease.rs`): a cycle stores
//! `_gc/lease/lock-<expiry ms>-<nonce>`, then lists the directory; another lock that has not
//! expired makes it withdraw. With read-after-write and list-after-write consistency, of two
//! cycles that both stored a lock the one that lists second sees the other's, so at most one
//! proceeds. The lock is renewed (a new one, then the old one goes) while the cycle runs; a
//! crashed cycle's lock expires after [`LEASE`]. A cycle checks that it still holds the lease
//! before each delete batch and stops when it does not.
//!
//! The lock's presence is also what requests look at first (see
//! [`crate::lifecycle::protocol`]): a cycle removes its lock only after its markers.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::layout;
use crate::storage::{Storage, StorageError};

/// How long a lock is valid without renewal.
pub const LEASE: Duration = Duration::from_secs(120);

/// A lock is renewed once it is this old.
const RENEW_AFTER: Duration = Duration::from_secs(30);

pub struct GcLease {
    storage: Storage,
    nonce: String,
    name: String,
    renewed: Instant,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn lock_name(nonce: &str) -> String {
    format!("lock-{}-{nonce}", now_ms() + LEASE.as_millis())
}

/// `(expiry ms, nonce)` of a lock file name.
fn parse_lock(name: &str) -> Option<(u128, &str)> {
    let rest = name.strip_prefix("lock-")?;
    let (expiry, nonce) = rest.split_once('-')?;
    Some((expiry.parse().ok()?, nonce))
}

impl GcLease {
    /// Takes the lease; `None` when another live cycle holds it.
    pub async fn take(storage: &Storage) -> Result<Option<GcLease>, StorageError> {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let name = lock_name(&nonce);
        storage.put_content(&path(&name), Bytes::new()).await?;
        let lease = GcLease {
            storage: storage.clone(),
            nonce,
            name,
            renewed: Instant::now(),
        };
        let others = lease.other_locks().await?;
        let now = now_ms();
        if others.iter().any(|(expiry, _)| *expiry > now) {
            lease.release().await;
            return Ok(None);
        }
        for (_, stale) in others {
            let _ = lease.storage.delete(&path(&stale)).await;
        }
        Ok(Some(lease))
    }

    /// The cycle id written into doom markers.
    pub fn cycle_id(&self) -> &str {
        &self.nonce
    }

    /// `(expiry, name)` of the locks of other cycles.
    async fn other_locks(&self) -> Result<Vec<(u128, String)>, StorageError> {
        let entries = match self.storage.list(&layout::gc_lease_dir()).await {
            Ok(entries) => entries,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(entries
            .iter()
            .filter_map(|p| {
                let name = p.file_name();
                let (expiry, nonce) = parse_lock(name)?;
                (nonce != self.nonce).then(|| (expiry, name.to_owned()))
            })
            .collect())
    }

    /// Renews the lock when due, and fails when another cycle took over meanwhile (this
    /// process was paused past the lease).
    pub async fn keep(&mut self) -> Result<(), LeaseLost> {
        if self.renewed.elapsed() >= RENEW_AFTER {
            let renewed = lock_name(&self.nonce);
            self.storage
                .put_content(&path(&renewed), Bytes::new())
                .await
                .map_err(|e| LeaseLost(e.to_string()))?;
            let old = std::mem::replace(&mut self.name, renewed);
            let _ = self.storage.delete(&path(&old)).await;
            self.renewed = Instant::now();
        }
        if self.renewed.elapsed() > LEASE - RENEW_AFTER {
            return Err(LeaseLost("the lease could not be renewed in time".into()));
        }
        let others = self
            .other_locks()
            .await
            .map_err(|e| LeaseLost(e.to_string()))?;
        let now = now_ms();
        if others.iter().any(|(expiry, _)| *expiry > now) {
            return Err(LeaseLost("another collection cycle holds the lease".into()));
        }
        Ok(())
    }

    /// Sleeps `total`, renewing the lease on the way.
    pub async fn wait(&mut self, total: Duration) -> Result<(), LeaseLost> {
        let until = Instant::now() + total;
        loop {
            self.keep().await?;
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            tokio::time::sleep(left.min(RENEW_AFTER / 2)).await;
        }
    }

    pub async fn release(self) {
        if let Err(e) = self.storage.delete(&path(&self.name)).await
            && !e.is_not_found()
        {
            tracing::warn!(error = %e, "could not remove the garbage collector's lock");
        }
    }
}

fn path(name: &str) -> String {
    format!("{}/{name}", layout::gc_lease_dir())
}

/// The cycle no longer holds the lease; it must stop deleting.
#[derive(Debug, thiserror::Error)]
#[error("garbage collection lease lost: {0}")]
pub struct LeaseLost(pub String);
