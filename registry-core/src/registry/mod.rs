//! The registry's rules on top of any storage driver: blobs, uploads, manifests, tags,
//! referrers and the catalog, in the on-storage layout of [`crate::layout`]. HTTP-free, so the
//! server only translates requests into these calls.

mod blobs;
mod browse;
mod catalog;
pub mod consistency;
mod content_cache;
mod error;
mod fetched;
mod gc_hooks;
mod links;
mod manifests;
mod pagination;
pub mod ranges;
mod redirect;
mod referrers;
mod tags;
mod uploads;

use crate::storage::Storage;

pub use blobs::{BlobContent, BlobRead};
pub use error::{RegistryError, Result};
pub use fetched::IncomingBlob;
pub use manifests::{PutManifest, StoredManifest};
pub use pagination::Page;
pub use ranges::{BlobParts, ByteRange, PartChunk};
pub use redirect::{MultiRange, RedirectPolicy, RedirectTarget, parse_origin};
pub use referrers::{
    PAGE_BYTES as REFERRERS_PAGE_BYTES, PAGE_ENTRIES as REFERRERS_PAGE_ENTRIES, ReferrersPage,
};
pub use uploads::UploadStatus;
pub(crate) use uploads::lease_expiry;

/// Operator settings that change registry behaviour.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// `storage.delete.enabled`: allow deleting manifests, tags and blobs.
    pub delete_enabled: bool,
    /// `storage.maintenance.readonly.enabled`: refuse every write.
    pub read_only: bool,
    /// Largest manifest accepted, in bytes.
    pub max_manifest_bytes: usize,
    /// `catalog.maxentries`: the most repositories one catalog page returns.
    pub catalog_max_entries: usize,
    /// `storage.redirect`: blob downloads by presigned (or CDN) URL.
    pub redirect: RedirectPolicy,
    /// `gc.reliancewindow` and `gc.revivewait`: the garbage collector's protocol bounds,
    /// which requests that rely on existing content follow (see [`crate::lifecycle`]).
    pub gc_timing: crate::lifecycle::protocol::Timing,
}

impl Default for RegistrySettings {
    fn default() -> Self {
        RegistrySettings {
            delete_enabled: false,
            read_only: false,
            max_manifest_bytes: 4 * 1024 * 1024,
            catalog_max_entries: 1000,
            redirect: RedirectPolicy::default(),
            gc_timing: crate::lifecycle::protocol::Timing::default(),
        }
    }
}

/// The registry over one storage driver. Cheap to clone; holds no state of its own, so any
/// number of instances may serve the same storage.
#[derive(Clone)]
pub struct Registry {
    storage: Storage,
    settings: std::sync::Arc<RegistrySettings>,
    manifests: std::sync::Arc<content_cache::ContentCache>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("storage", &self.storage)
            .field("settings", &self.settings)
            .finish()
    }
}

/// Memory for manifest bodies read from storage (they are immutable, so always current).
const MANIFEST_CACHE_BYTES: usize = 8 * 1024 * 1024;

impl Registry {
    pub fn new(storage: Storage, settings: RegistrySettings) -> Self {
        Registry {
            storage,
            settings: std::sync::Arc::new(settings),
            manifests: std::sync::Arc::new(content_cache::ContentCache::new(MANIFEST_CACHE_BYTES)),
        }
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn settings(&self) -> &RegistrySettings {
        &self.settings
    }

    fn ensure_writable(&self) -> Result<()> {
        if self.settings.read_only {
            Err(RegistryError::ReadOnly)
        } else {
            Ok(())
        }
    }

    fn ensure_delete_enabled(&self) -> Result<()> {
        self.ensure_writable()?;
        if self.settings.delete_enabled {
            Ok(())
        } else {
            Err(RegistryError::Unsupported(
                "deletes are disabled (storage.delete.enabled)".into(),
            ))
        }
    }
}
