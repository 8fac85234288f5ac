//! `storage.cache`: the reference's blob-descriptor cache switch, `blobdescriptor: inmemory |
//! redis` (empty or absent: no cache), and `blobdescriptorsize` (entries of the in-memory
//! cache; default 10000, as the reference's).

use super::redis::RedisConfig;
use super::{ConfigError, Section};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheConfig {
    /// In this process only: each instance fills its own, and a delete through another
    /// instance is not seen by it (use Redis for several instances).
    InMemory { entries: usize },
    /// Shared by every instance through the `redis` section.
    Redis(RedisConfig),
}

pub const DEFAULT_IN_MEMORY_ENTRIES: usize = 10_000;

pub(super) fn read(
    storage: &Section<'_>,
    redis: Option<&RedisConfig>,
    ignored: &mut Vec<String>,
) -> Result<Option<CacheConfig>, ConfigError> {
    let cache = storage.section("cache")?;
    cache.collect_unknown(&["blobdescriptor", "blobdescriptorsize"], ignored);
    let entries = cache.count("blobdescriptorsize", DEFAULT_IN_MEMORY_ENTRIES)?;
    let kind = cache
        .string("blobdescriptor")?
        .map(|k| k.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match kind.as_str() {
        "" => Ok(None),
        "inmemory" => Ok(Some(CacheConfig::InMemory { entries })),
        "redis" => match redis {
            Some(redis) => Ok(Some(CacheConfig::Redis(redis.clone()))),
            None => Err(cache.error(
                "blobdescriptor",
                "is redis, but the redis section gives no address (redis.addr or redis.addrs)",
            )),
        },
        other => Err(cache.error(
            "blobdescriptor",
            format!("{other:?} is not inmemory or redis"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn cache(yaml: &str) -> Result<Option<CacheConfig>, ConfigError> {
        Config::from_yaml(yaml, Vec::new()).map(|c| c.cache)
    }

    #[test]
    fn absent_or_empty_is_no_cache() {
        assert_eq!(cache("storage: {inmemory: {}}").unwrap(), None);
        assert_eq!(
            cache("storage: {inmemory: {}, cache: {blobdescriptor: ''}}").unwrap(),
            None
        );
    }

    #[test]
    fn inmemory_with_its_size() {
        assert_eq!(
            cache("storage: {inmemory: {}, cache: {blobdescriptor: inmemory}}").unwrap(),
            Some(CacheConfig::InMemory { entries: 10_000 })
        );
        assert_eq!(
            cache(
                "storage: {inmemory: {}, cache: {blobdescriptor: inmemory, blobdescriptorsize: 5}}"
            )
            .unwrap(),
            Some(CacheConfig::InMemory { entries: 5 })
        );
    }

    #[test]
    fn redis_takes_the_redis_section() {
        let config = cache(
            "storage: {inmemory: {}, cache: {blobdescriptor: redis}}\nredis: {addr: 'r:6379'}",
        )
        .unwrap();
        match config {
            Some(CacheConfig::Redis(redis)) => assert_eq!(redis.host, "r"),
            other => panic!("{other:?}"),
        }
        let config = Config::from_yaml(
            "storage: {inmemory: {}}\nredis: {addr: 'r:6379'}",
            vec![(
                "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR".to_owned(),
                "redis".to_owned(),
            )],
        )
        .unwrap();
        assert!(matches!(config.cache, Some(CacheConfig::Redis(_))));
    }

    #[test]
    fn mistakes_name_their_key() {
        for (yaml, key) in [
            (
                "storage: {inmemory: {}, cache: {blobdescriptor: redis}}",
                "storage.cache.blobdescriptor",
            ),
            (
                "storage: {inmemory: {}, cache: {blobdescriptor: memcached}}",
                "storage.cache.blobdescriptor",
            ),
            (
                "storage: {inmemory: {}, cache: {blobdescriptor: inmemory, blobdescriptorsize: 0}}",
                "storage.cache.blobdescriptorsize",
            ),
        ] {
            assert_eq!(cache(yaml).unwrap_err().key, key, "{yaml}");
        }
    }
}
