//! Where entries and tokens live: the few key-value operations the cache needs, implemented
//! by Redis ([`super::redis_store`]) and by this process's memory ([`super::memory`]).

use async_trait::async_trait;
use bytes::Bytes;

/// A failed cache call. Never reaches a client: the cache falls back to storage.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("{0} did not answer in time")]
    Timeout(&'static str),
    #[error("{store}: {message}")]
    Failed {
        store: &'static str,
        message: String,
    },
}

#[async_trait]
pub trait CacheStore: Send + Sync + 'static {
    /// `redis` or `inmemory`.
    fn name(&self) -> &'static str;

    /// The values of `keys`, in order (`MGET`).
    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError>;

    /// Stores an entry (which may expire or be evicted).
    async fn put(&self, key: &str, value: Bytes) -> Result<(), CacheError>;

    /// Gives each of `keys` that has no value the matching one of `fresh` (`SET NX`), and
    /// returns the values all of them have then.
    async fn init_tokens(
        &self,
        keys: &[String],
        fresh: &[String],
    ) -> Result<Vec<Option<Bytes>>, CacheError>;

    /// Replaces a token.
    async fn set_token(&self, key: &str, value: &str) -> Result<(), CacheError>;

    /// A round trip that proves the store answers.
    async fn ping(&self) -> Result<(), CacheError>;
}
