//! [`CachedDriver`]: the storage decorator, and the lookup / fill / invalidate steps of the
//! protocol the module docs argue for.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use registry_core::storage::{
    ByteStream, FileInfo, FileWriter, RedirectMethod, Result, Storage, StorageDriver, StoragePath,
    TimedContent, WalkFn,
};

use super::keys::{self, Kind};
use super::{DescriptorCache, MAX_BODY, entry};

/// A storage driver that answers cacheable reads from a [`DescriptorCache`] and invalidates
/// it on every delete and every write to a cached path, before answering.
pub struct CachedDriver {
    inner: Arc<dyn StorageDriver>,
    cache: Arc<DescriptorCache>,
}

impl CachedDriver {
    /// `storage` with every call going through `cache`.
    pub fn wrap(storage: &Storage, cache: Arc<DescriptorCache>) -> Storage {
        Storage::new(Arc::new(CachedDriver {
            inner: storage.driver().clone(),
            cache,
        }))
    }
}

/// What a lookup found.
enum Lookup {
    Hit(Bytes),
    /// Not cached (or not usable); `tokens` to fill under, when the cache may be filled.
    Miss {
        tokens: Option<Vec<u8>>,
    },
}

impl DescriptorCache {
    /// Whether the store may be used now. Replaces the root token first when an earlier
    /// invalidation could not be made (which invalidates every entry).
    async fn usable(&self) -> bool {
        if !self.health.may_try() {
            return false;
        }
        if self.health.needs_flush() {
            let root = keys::token(&self.namespace, "/");
            match self.store.set_token(&root, &entry::fresh_token()).await {
                Ok(()) => {
                    self.health.set_needs_flush(false);
                    tracing::info!(
                        cache = self.store.name(),
                        "invalidated every cache entry after a missed invalidation"
                    );
                }
                Err(e) => {
                    self.health.failed(&e.to_string());
                    return false;
                }
            }
        }
        true
    }

    fn outcome<T>(&self, result: std::result::Result<T, super::CacheError>) -> Option<T> {
        match result {
            Ok(value) => {
                self.health.succeeded();
                Some(value)
            }
            Err(e) => {
                self.health.failed(&e.to_string());
                None
            }
        }
    }

    async fn lookup(&self, kind: Kind, path: &StoragePath) -> Lookup {
        let lookup = self.lookup_in_store(kind, path).await;
        match &lookup {
            Lookup::Hit(_) => self.counters.hit(kind),
            Lookup::Miss { .. } => self.counters.miss(kind),
        }
        lookup
    }

    async fn lookup_in_store(&self, kind: Kind, path: &StoragePath) -> Lookup {
        let unusable = Lookup::Miss { tokens: None };
        if !self.usable().await {
            return unusable;
        }
        let token_keys = keys::tokens_of(&self.namespace, path);
        let mut all = Vec::with_capacity(token_keys.len() + 1);
        all.push(keys::entry(&self.namespace, kind, path));
        all.extend(token_keys.iter().cloned());
        let Some(mut values) = self.outcome(self.store.get(&all).await) else {
            return unusable;
        };
        if values.len() != all.len() {
            return unusable;
        }
        let tokens = values.split_off(1);
        if let Some(line) = entry::token_line(&tokens) {
            if let Some(found) = &values[0]
                && let Some(payload) = entry::valid_payload(found, &line)
            {
                return Lookup::Hit(payload);
            }
            return Lookup::Miss { tokens: Some(line) };
        }
        // Some prefix has no token yet: create the missing ones before storage is read.
        let fresh: Vec<String> = token_keys.iter().map(|_| entry::fresh_token()).collect();
        let tokens = self.outcome(self.store.init_tokens(&token_keys, &fresh).await);
        Lookup::Miss {
            tokens: tokens.and_then(|t| entry::token_line(&t)),
        }
    }

    async fn fill(&self, kind: Kind, path: &StoragePath, tokens: &[u8], payload: &[u8]) {
        let result = self
            .store
            .put(
                &keys::entry(&self.namespace, kind, path),
                entry::encode(tokens, payload),
            )
            .await;
        self.outcome(result);
    }

    /// Makes every entry at or below `path` invalid. Awaited before the change answers.
    pub(crate) async fn invalidate(&self, path: &StoragePath) {
        if !self.health.may_try() {
            self.health.set_needs_flush(true);
            return;
        }
        let result = self
            .store
            .set_token(
                &keys::token(&self.namespace, path.as_str()),
                &entry::fresh_token(),
            )
            .await;
        if self.outcome(result).is_none() {
            tracing::warn!(
                path = path.as_str(),
                "cache invalidation failed; the cache is bypassed until all of it is invalidated"
            );
            self.health.set_needs_flush(true);
        }
    }
}

#[async_trait]
impl StorageDriver for CachedDriver {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn get_content(&self, path: &StoragePath) -> Result<Bytes> {
        let Some(kind) = keys::content_kind(path) else {
            return self.inner.get_content(path).await;
        };
        let tokens = match self.cache.lookup(kind, path).await {
            Lookup::Hit(content) => return Ok(content),
            Lookup::Miss { tokens } => tokens,
        };
        let content = self.inner.get_content(path).await?;
        if let Some(tokens) = tokens
            && (kind != Kind::Body || content.len() <= MAX_BODY)
        {
            self.cache.fill(kind, path, &tokens, &content).await;
        }
        Ok(content)
    }

    /// Not cached: the callers want the stored time, which the cache does not keep.
    async fn get_content_timed(&self, path: &StoragePath) -> Result<TimedContent> {
        self.inner.get_content_timed(path).await
    }

    async fn put_content(&self, path: &StoragePath, content: Bytes) -> Result<()> {
        let result = self.inner.put_content(path, content).await;
        if keys::is_cached_path(path) {
            self.cache.invalidate(path).await;
        }
        result
    }

    async fn reader(&self, path: &StoragePath, offset: u64) -> Result<ByteStream> {
        self.inner.reader(path, offset).await
    }

    async fn range_reader(
        &self,
        path: &StoragePath,
        offset: u64,
        length: u64,
    ) -> Result<ByteStream> {
        self.inner.range_reader(path, offset, length).await
    }

    async fn writer(&self, path: &StoragePath, append: bool) -> Result<Box<dyn FileWriter>> {
        let writer = self.inner.writer(path, append).await?;
        if !keys::is_cached_path(path) {
            return Ok(writer);
        }
        Ok(Box::new(InvalidatingWriter {
            inner: writer,
            path: path.clone(),
            cache: self.cache.clone(),
        }))
    }

    async fn stat(&self, path: &StoragePath) -> Result<FileInfo> {
        if !keys::is_blob_data(path) {
            return self.inner.stat(path).await;
        }
        let tokens = match self.cache.lookup(Kind::BlobStat, path).await {
            Lookup::Hit(payload) => {
                if let Some(info) = entry::decode_stat(path, &payload) {
                    return Ok(info);
                }
                None
            }
            Lookup::Miss { tokens } => tokens,
        };
        let info = self.inner.stat(path).await?;
        if let Some(tokens) = tokens
            && !info.is_dir
        {
            self.cache
                .fill(Kind::BlobStat, path, &tokens, &entry::stat_payload(&info))
                .await;
        }
        Ok(info)
    }

    async fn list(&self, path: &StoragePath) -> Result<Vec<StoragePath>> {
        self.inner.list(path).await
    }

    async fn move_to(&self, source: &StoragePath, dest: &StoragePath) -> Result<()> {
        let result = self.inner.move_to(source, dest).await;
        if keys::is_cached_path(source) {
            self.cache.invalidate(source).await;
        }
        if keys::is_cached_path(dest) {
            self.cache.invalidate(dest).await;
        }
        result
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        let result = self.inner.delete(path).await;
        // Whatever storage answered (a directory delete may have got halfway).
        if keys::may_hold_cached(path) {
            self.cache.invalidate(path).await;
        }
        result
    }

    async fn redirect_url(
        &self,
        path: &StoragePath,
        method: RedirectMethod,
        expiry: Duration,
    ) -> Result<Option<String>> {
        self.inner.redirect_url(path, method, expiry).await
    }

    async fn walk(
        &self,
        path: &StoragePath,
        start_after: Option<&StoragePath>,
        visit: &mut WalkFn<'_>,
    ) -> Result<()> {
        self.inner.walk(path, start_after, visit).await
    }
}

/// A writer to a cached path: its commit replaces what may be cached there.
struct InvalidatingWriter {
    inner: Box<dyn FileWriter>,
    path: StoragePath,
    cache: Arc<DescriptorCache>,
}

#[async_trait]
impl FileWriter for InvalidatingWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.inner.write(data).await
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }

    async fn flush(&mut self) -> Result<()> {
        self.inner.flush().await
    }

    async fn close(self: Box<Self>) -> Result<()> {
        self.inner.close().await
    }

    async fn cancel(self: Box<Self>) -> Result<()> {
        self.inner.cancel().await
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        let result = self.inner.commit().await;
        self.cache.invalidate(&self.path).await;
        result
    }
}
