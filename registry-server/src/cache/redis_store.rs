//! `blobdescriptor: redis`: the store in Redis, through one multiplexed connection that
//! redis-rs' `ConnectionManager` re-opens after a failure (a restarted Redis is used again
//! without a registry restart). Every call is bounded by the configured timeouts.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo, TlsCertificates};

use super::ENTRY_TTL;
use super::store::{CacheError, CacheStore};
use crate::config::{ConfigError, RedisConfig};

pub struct RedisStore {
    connection: ConnectionManager,
    /// The longest a call may take: the read timeout plus the write timeout.
    timeout: Duration,
}

impl RedisStore {
    /// Prepares the connection; the first call connects.
    pub fn open(config: &RedisConfig) -> Result<Self, ConfigError> {
        let addr = match &config.tls {
            None => ConnectionAddr::Tcp(config.host.clone(), config.port),
            Some(_) => ConnectionAddr::TcpTls {
                host: config.host.clone(),
                port: config.port,
                insecure: false,
                tls_params: None,
            },
        };
        let mut settings = RedisConnectionInfo::default().set_db(config.db);
        if let Some(username) = &config.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &config.password {
            settings = settings.set_password(password);
        }
        let info = addr
            .into_connection_info()
            .map_err(|e| ConfigError::new("redis.addr", e.to_string()))?
            .set_redis_settings(settings);
        let client = match &config.tls {
            None => redis::Client::open(info),
            Some(tls) => {
                // redis-rs builds its rustls configuration with the process-wide provider;
                // this binary compiles two, so one must be chosen (the one the server uses).
                let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
                let read = |key: &str, path: &std::path::Path| {
                    std::fs::read(path).map_err(|e| {
                        ConfigError::new(
                            format!("redis.tls.{key}"),
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })
                };
                let client_tls = match &tls.client {
                    None => None,
                    Some((cert, key)) => Some(redis::ClientTlsConfig {
                        client_cert: read("certificate", cert)?,
                        client_key: read("key", key)?,
                    }),
                };
                let mut roots = Vec::new();
                for ca in &tls.root_cas {
                    roots.extend(read("rootcas", ca)?);
                    roots.push(b'\n');
                }
                redis::Client::build_with_tls(
                    info,
                    TlsCertificates {
                        client_tls,
                        root_cert: (!roots.is_empty()).then_some(roots),
                    },
                )
            }
        }
        .map_err(|e| ConfigError::new("redis", e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.dial_timeout))
            .set_response_timeout(Some(config.read_timeout))
            // Our own fallback is storage, not waiting: one reconnection attempt per call.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(100));
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config)
            .map_err(|e| ConfigError::new("redis", e.to_string()))?;
        Ok(RedisStore {
            connection,
            timeout: config.read_timeout + config.write_timeout,
        })
    }

    /// Runs one command or pipeline within the timeout.
    async fn run<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(CacheError::Timeout("redis")),
            Ok(Err(e)) => Err(CacheError::Failed {
                store: "redis",
                message: e.to_string(),
            }),
            Ok(Ok(value)) => Ok(value),
        }
    }
}

fn to_bytes(values: Vec<Option<Vec<u8>>>) -> Vec<Option<Bytes>> {
    values.into_iter().map(|v| v.map(Bytes::from)).collect()
}

#[async_trait]
impl CacheStore for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn get(&self, keys: &[String]) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("MGET").arg(keys).clone();
        self.run(async move { command.query_async(&mut connection).await })
            .await
            .map(to_bytes)
    }

    async fn put(&self, key: &str, value: Bytes) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET")
            .arg(key)
            .arg(value.as_ref())
            .arg("EX")
            .arg(ENTRY_TTL.as_secs())
            .clone();
        self.run(async move { command.query_async::<()>(&mut connection).await })
            .await
    }

    async fn init_tokens(
        &self,
        keys: &[String],
        fresh: &[String],
    ) -> Result<Vec<Option<Bytes>>, CacheError> {
        let mut pipe = redis::pipe();
        for (key, value) in keys.iter().zip(fresh) {
            pipe.cmd("SET").arg(key).arg(value).arg("NX").ignore();
        }
        pipe.cmd("MGET").arg(keys);
        let mut connection = self.connection.clone();
        let (values,): (Vec<Option<Vec<u8>>>,) = self
            .run(async move { pipe.query_async(&mut connection).await })
            .await?;
        Ok(to_bytes(values))
    }

    async fn set_token(&self, key: &str, value: &str) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET").arg(key).arg(value).clone();
        self.run(async move { command.query_async::<()>(&mut connection).await })
            .await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut connection = self.connection.clone();
        let command = redis::cmd("PING");
        self.run(async move { command.query_async::<String>(&mut connection).await })
            .await
            .map(|_| ())
    }
}
