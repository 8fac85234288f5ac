//! `blobdescriptor: inmemory`: the store in this process's memory, bounded by
//! `blobdescriptorsize` entries. When full it starts over (entries and tokens together, so a
//! token never disappears while an entry that recorded it stays).

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use bytes::Bytes;

use super::store::{CacheError, CacheStore};

pub struct MemoryStore {
    /// Most keys held: the entries asked for, and room for their tokens.
    capacity: usize,
    map: Mutex<HashMap<String, Bytes>>,
}

impl MemoryStore {
    pub fn new(entries: usize) -> Self {
        MemoryStore {
            capacity: entries.saturating_mul(4).max(64),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn insert(&self, map: &mut HashMap<String, Bytes>, key: &str, value: Bytes) {
        if map.len() >= self.capacity && !map.contains_key(key) {
            map.clear();
        }
        map.insert(key.to_owned(), value);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl CacheStore for MemoryStore {
    fn name(&self) -> &'static str {
        "inmemory"
    }

    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let map = self.lock();
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        let mut map = self.lock();
        self.insert(&mut map, key, value);
        Ok(())
    }

    async fn init_tokens(
        &self,
        keys: &[String],
        fresh: &[String],
    ) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut map = self.lock();
        for (key, value) in keys.iter().zip(fresh) {
            if !map.contains_key(key) {
                self.insert(&mut map, key, Bytes::from(value.clone()));
            }
        }
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }

    async fn set_token(&self, key: &str, value: &str) -> Result<(), CacheError> {
        let mut map = self.lock();
        self.insert(&mut map, key, Bytes::from(value.to_owned()));
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}
