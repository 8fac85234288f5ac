//! A complete in-memory storage driver. Objects live in one ordered map behind a lock; the
//! lock is never held across an await, so concurrent requests only contend for map updates.
//!
//! Writers buffer their bytes privately and publish them on `commit`; `close` parks the
//! progress in the shared store, where a writer opened later with `append` picks it up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, Result, StorageDriver, StorageError, StoragePath,
    TimedContent,
};

const NAME: &str = "inmemory";

/// Chunk size of reader streams: large enough to be cheap, small enough to interleave.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Default)]
struct Store {
    /// Committed objects by absolute path. Directories are implicit prefixes.
    objects: BTreeMap<String, Object>,
    /// Progress parked by `FileWriter::close`, by path.
    parked: HashMap<String, Bytes>,
}

#[derive(Clone)]
struct Object {
    data: Bytes,
    mod_time: SystemTime,
}

/// The in-memory driver. Clones (and [`InMemoryDriver::reopen`]) share the same store.
#[derive(Clone, Default)]
pub struct InMemoryDriver {
    store: Arc<Mutex<Store>>,
}

impl InMemoryDriver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Another driver instance over the same store, as a second process would see it.
    pub fn reopen(&self) -> Self {
        self.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the maps half-updated: every update is a
        // single insert or remove. So a poisoned lock is still consistent.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `path/` for ranging over what lies below `path`.
fn dir_prefix(path: &StoragePath) -> String {
    if path.is_root() {
        "/".to_owned()
    } else {
        format!("{path}/")
    }
}

impl Store {
    fn keys_below<'a>(&'a self, path: &StoragePath) -> impl Iterator<Item = &'a String> + 'a {
        let prefix = dir_prefix(path);
        self.objects
            .range(prefix.clone()..)
            .map(|(k, _)| k)
            .take_while(move |k| k.starts_with(&prefix))
    }

    fn is_dir(&self, path: &StoragePath) -> bool {
        self.keys_below(path).next().is_some()
    }

    fn object(&self, path: &StoragePath) -> Result<&Object> {
        self.objects
            .get(path.as_str())
            .ok_or_else(|| StorageError::not_found(NAME, path))
    }
}

fn child_path(key: &str, prefix_len: usize) -> Option<StoragePath> {
    let rest = &key[prefix_len..];
    let name = rest.split('/').next()?;
    StoragePath::parse(&key[..prefix_len + name.len()]).ok()
}

#[async_trait]
impl StorageDriver for InMemoryDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        Ok(self.lock().object(path)?.data.clone())
    }

    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        let store = self.lock();
        let object = store.object(path)?;
        Ok(TimedContent {
            content: object.data.clone(),
            mod_time: object.mod_time,
        })
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        let object = Object {
            data: content,
            mod_time: SystemTime::now(),
        };
        self.lock().objects.insert(path.to_string(), object);
        Ok(())
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        let data = self.lock().object(path)?.data.clone();
        let start = usize::try_from(offset)
            .ok()
            .filter(|&o| o <= data.len())
            .ok_or_else(|| StorageError::invalid_offset(NAME, path, offset as i64))?;
        let rest = data.slice(start..);
        let chunks: Vec<Result<Bytes>> = (0..rest.len())
            .step_by(READ_CHUNK)
            .map(|at| Ok(rest.slice(at..rest.len().min(at + READ_CHUNK))))
            .collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        let mut buffer = BytesMut::new();
        if append {
            let store = self.lock();
            let resumed = match store.parked.get(path.as_str()) {
                Some(parked) => parked.clone(),
                None => store.object(path)?.data.clone(),
            };
            buffer.extend_from_slice(&resumed);
        }
        Ok(Box::new(InMemoryWriter {
            driver: self.clone(),
            path: path.to_string(),
            buffer,
        }))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        let store = self.lock();
        if let Some(object) = store.objects.get(path.as_str()) {
            return Ok(FileInfo {
                path: path.clone(),
                size: object.data.len() as u64,
                mod_time: object.mod_time,
                is_dir: false,
            });
        }
        if path.is_root() || store.is_dir(path) {
            return Ok(FileInfo {
                path: path.clone(),
                size: 0,
                mod_time: SystemTime::UNIX_EPOCH,
                is_dir: true,
            });
        }
        Err(StorageError::not_found(NAME, path))
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        let store = self.lock();
        let prefix_len = dir_prefix(path).len();
        let mut children: Vec<StoragePath> = Vec::new();
        for key in store.keys_below(path) {
            let Some(child) = child_path(key, prefix_len) else {
                continue;
            };
            // Keys are sorted, so a child's descendants are adjacent.
            if children.last() != Some(&child) {
                children.push(child);
            }
        }
        if children.is_empty() && !path.is_root() {
            return Err(StorageError::not_found(NAME, path));
        }
        Ok(children)
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        let mut store = self.lock();
        // A missing source first, as the other drivers find it.
        if !store.objects.contains_key(source.as_str()) {
            return Err(StorageError::not_found(NAME, source));
        }
        if store.objects.contains_key(dest.parent().as_str()) {
            return Err(StorageError::backend(
                NAME,
                format!("move to {dest}"),
                "parent is a file",
            ));
        }
        let object = store
            .objects
            .remove(source.as_str())
            .ok_or_else(|| StorageError::not_found(NAME, source))?;
        store.objects.insert(dest.to_string(), object);
        Ok(())
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        let mut store = self.lock();
        let below: Vec<String> = store.keys_below(path).cloned().collect();
        let removed_file = store.objects.remove(path.as_str()).is_some();
        if below.is_empty() && !removed_file {
            return Err(StorageError::not_found(NAME, path));
        }
        for key in &below {
            store.objects.remove(key);
        }
        let prefix = dir_prefix(path);
        store
            .parked
            .retain(|key, _| key != path.as_str() && !key.starts_with(&prefix));
        Ok(())
    }
}

struct InMemoryWriter {
    driver: InMemoryDriver,
    path: String,
    buffer: BytesMut,
}

#[async_trait]
impl FileWriter for InMemoryWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.buffer.extend_from_slice(&data);
        Ok(())
    }

    fn size(&self) -> u64 {
        self.buffer.len() as u64
    }

    async fn close(self: Box<Self>) -> Result<()> {
        let InMemoryWriter {
            driver,
            path,
            buffer,
        } = *self;
        driver.lock().parked.insert(path, buffer.freeze());
        Ok(())
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.driver.lock().parked.remove(&self.path);
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let InMemoryWriter {
            driver,
            path,
            buffer,
        } = *self;
        let mut store = driver.lock();
        store.parked.remove(&path);
        let object = Object {
            data: buffer.freeze(),
            mod_time: SystemTime::now(),
        };
        store.objects.insert(path, object);
        Ok(())
    }
}
