//! The reference's health checks: the storage driver, a file whose presence takes the
//! instance out of rotation, an HTTP endpoint, a TCP port. Their names and messages are the
//! reference's, with the cause added where it helps an operator.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use registry_core::storage::Storage;

use super::HealthCheck;

/// `health.storagedriver`: stats the storage root. A missing root passes, as in the
/// reference: the backend answered, it is just empty.
pub struct StorageCheck {
    pub storage: Storage,
}

#[async_trait]
impl HealthCheck for StorageCheck {
    fn name(&self) -> String {
        format!("storagedriver_{}", self.storage.driver_name())
    }

    async fn check(&self) -> Result<(), String> {
        match self.storage.stat("/").await {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// `health.file`: fails while the file exists.
pub struct FileCheck {
    pub path: PathBuf,
}

#[async_trait]
impl HealthCheck for FileCheck {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    async fn check(&self) -> Result<(), String> {
        let path = std::path::absolute(&self.path).map_err(|e| {
            format!(
                "failed to get absolute path for {:?}: {e}",
                self.path.display()
            )
        })?;
        match tokio::fs::metadata(&path).await {
            Ok(_) => Err("file exists".into()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// `health.http`: a HEAD request must answer `status`.
pub struct HttpCheck {
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub status: u16,
    client: reqwest::Client,
}

impl HttpCheck {
    pub fn new(
        uri: String,
        headers: Vec<(String, String)>,
        status: u16,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(HttpCheck {
            uri,
            headers,
            status,
            client,
        })
    }
}

#[async_trait]
impl HealthCheck for HttpCheck {
    fn name(&self) -> String {
        self.uri.clone()
    }

    async fn check(&self) -> Result<(), String> {
        let mut request = self.client.head(&self.uri);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("error while checking: {}: {e}", self.uri))?;
        let status = response.status().as_u16();
        if status != self.status {
            return Err(format!(
                "downstream service returned unexpected status: {status}"
            ));
        }
        Ok(())
    }
}

/// `health.tcp`: a connection must open within `timeout`.
pub struct TcpCheck {
    pub addr: String,
    pub timeout: Duration,
}

#[async_trait]
impl HealthCheck for TcpCheck {
    fn name(&self) -> String {
        self.addr.clone()
    }

    async fn check(&self) -> Result<(), String> {
        let failed = |why: String| format!("connection to {} failed: {why}", self.addr);
        match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(&self.addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!("no answer within {:?}", self.timeout))),
        }
    }
}

/// The blob-descriptor cache's store (Redis): a `PING` within its read timeout. Advisory:
/// requests fall back to storage while it fails.
pub struct CacheCheck {
    pub cache: std::sync::Arc<crate::cache::DescriptorCache>,
}

#[async_trait]
impl HealthCheck for CacheCheck {
    fn name(&self) -> String {
        self.cache.kind().to_owned()
    }

    async fn check(&self) -> Result<(), String> {
        self.cache.check().await
    }
}
