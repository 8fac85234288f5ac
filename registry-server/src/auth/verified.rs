//! Credentials verified recently, so that a client sending the same Basic credentials or
//! bearer token on every request pays for bcrypt or a signature check once per TTL, not
//! per request.
//!
//! Entries are keyed by SHA-256 over a per-process random salt and the secret: the cache
//! never holds a secret, and what it holds cannot be checked against guesses without the
//! salt. Only successful verifications are kept, so a wrong password always costs a full
//! check.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Above this many entries the expired ones are dropped, and if that is not enough, all.
const CAPACITY: usize = 10_000;

pub struct VerifiedCache<V> {
    salt: [u8; 32],
    ttl: Duration,
    entries: RwLock<HashMap<[u8; 32], (V, Instant)>>,
}

impl<V: Clone> VerifiedCache<V> {
    pub fn new(ttl: Duration) -> Self {
        VerifiedCache {
            salt: rand::random(),
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The cache key of a secret (the parts are length-prefixed, so that `a`+`bc` and
    /// `ab`+`c` differ).
    pub fn key(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        hasher.finalize().into()
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let (value, expires) = entries.get(key)?;
        (Instant::now() < *expires).then(|| value.clone())
    }

    /// Keeps `value` for the cache's TTL, or until `not_after` if that comes first.
    pub fn insert(&self, key: [u8; 32], value: V, not_after: Option<Instant>) {
        let now = Instant::now();
        let mut expires = now + self.ttl;
        if let Some(limit) = not_after {
            expires = expires.min(limit);
        }
        if expires <= now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CAPACITY {
            entries.retain(|_, (_, expires)| *expires > now);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(key, (value, expires));
    }

    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_until_expiry() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let key = cache.key(&[b"alice", b"pw"]);
        assert_ne!(key, cache.key(&[b"alic", b"epw"]));
        assert_eq!(cache.get(&key), None);
        cache.insert(key, 7, None);
        assert_eq!(cache.get(&key), Some(7));
        cache.clear();
        assert_eq!(cache.get(&key), None);
        cache.insert(key, 8, Some(Instant::now()));
        assert_eq!(cache.get(&key), None, "already expired: not kept");
    }

    #[test]
    fn keys_depend_on_the_salt() {
        let a: VerifiedCache<()> = VerifiedCache::new(Duration::from_secs(1));
        let b: VerifiedCache<()> = VerifiedCache::new(Duration::from_secs(1));
        assert_ne!(a.key(&[b"x"]), b.key(&[b"x"]));
    }

    #[test]
    fn stays_bounded() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        for i in 0..(CAPACITY as u32 + 10) {
            cache.insert(cache.key(&[&i.to_be_bytes()]), i, None);
        }
        assert!(cache.entries.read().unwrap().len() <= CAPACITY);
    }
}
