//! Manifest bodies by digest, in memory. Content-addressed bytes never change, so this cache is
//! correct with any number of registry instances over the same storage; links, which do
//! change (tags, deletions), are always read from storage.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::domain::Digest;

/// A manifest body and the media type it is served with.
#[derive(Clone)]
pub(crate) struct CachedManifest {
    pub media_type: String,
    pub body: Bytes,
}

pub(crate) struct ContentCache {
    /// Most bytes held; when an insert would pass it, the cache starts over (simple, bounded,
    /// and manifests are re-read cheaply).
    budget: usize,
    entries: Mutex<(HashMap<Digest, CachedManifest>, usize)>,
}

impl ContentCache {
    pub(crate) fn new(budget: usize) -> Self {
        ContentCache {
            budget,
            entries: Mutex::new((HashMap::new(), 0)),
        }
    }

    pub(crate) fn get(&self, digest: &Digest) -> Option<CachedManifest> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.0.get(digest).cloned()
    }

    pub(crate) fn insert(&self, digest: Digest, manifest: CachedManifest) {
        let size = manifest.body.len() + manifest.media_type.len() + digest.as_str().len();
        if size > self.budget / 16 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.1 + size > self.budget {
            entries.0.clear();
            entries.1 = 0;
        }
        if entries.0.insert(digest, manifest).is_none() {
            entries.1 += size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(len: usize) -> CachedManifest {
        CachedManifest {
            media_type: "application/x".into(),
            body: Bytes::from(vec![1u8; len]),
        }
    }

    #[test]
    fn holds_what_fits_and_stays_bounded() {
        let cache = ContentCache::new(16 * 1024);
        let a = Digest::sha256_of(b"a");
        cache.insert(a.clone(), entry(100));
        assert!(cache.get(&a).is_some());
        let big = Digest::sha256_of(b"big");
        cache.insert(big.clone(), entry(2000));
        assert!(
            cache.get(&big).is_none(),
            "larger than a sixteenth of the budget"
        );
        for i in 0..100u32 {
            cache.insert(Digest::sha256_of(&i.to_le_bytes()), entry(900));
        }
        let held = cache.entries.lock().unwrap().1;
        assert!(held <= 16 * 1024, "{held}");
    }
}
