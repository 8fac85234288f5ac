//! The SDK clients of one driver instance: one HTTP connection pool, the retry policy, the
//! credentials, and the container.

use std::sync::Arc;
use std::time::Duration;

use azure_core::{ExponentialRetryOptions, RetryOptions, StatusCode, TransportOptions};
use azure_storage::{CloudLocation, StorageCredentials};
use azure_storage_blobs::prelude::{BlobClient, ClientBuilder, ContainerClient};
use registry_core::storage::{Result, StorageError};

use crate::config::{AzureConfig, AzureCredentials};
use crate::driver::NAME;
use crate::error::{code_of, status_of};
use crate::sas::SasSigner;

/// A connection that makes no progress for this long is dead; the request is retried.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Azure's load balancers drop connections idle for about four minutes; close them first.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The container as this driver instance talks to it.
#[derive(Debug)]
pub(crate) struct Container {
    client: ContainerClient,
    pub(crate) signer: SasSigner,
    /// The pooled HTTP client the SDK uses, for the one request it cannot make (a listing
    /// that includes uncommitted blobs; see [`crate::pending`]).
    pub(crate) http: reqwest::Client,
}

impl Container {
    pub(crate) fn connect(config: &AzureConfig) -> Result<Self> {
        let credentials = match &config.credentials {
            AzureCredentials::SharedKey { account_key } => {
                StorageCredentials::access_key(config.account_name.clone(), account_key.clone())
            }
            AzureCredentials::DefaultCredentials => {
                let credential = azure_identity::create_default_credential().map_err(|e| {
                    StorageError::backend(NAME, "setting up default_credentials", e)
                })?;
                StorageCredentials::token_credential(credential)
            }
        };
        let http = http_client()?;
        let location = CloudLocation::Custom {
            account: config.account_name.clone(),
            uri: config.service_url.as_str().trim_end_matches('/').to_owned(),
        };
        let service = ClientBuilder::with_location(location, credentials)
            .transport(TransportOptions::new(Arc::new(http.clone())))
            .retry(retry_options(config.max_retries))
            .blob_service_client();
        let signer = SasSigner::new(config, service.clone());
        Ok(Container {
            client: service.container_client(config.container.clone()),
            signer,
            http,
        })
    }

    pub(crate) fn blob(&self, name: impl Into<String>) -> BlobClient {
        self.client.blob_client(name)
    }

    pub(crate) fn client(&self) -> &ContainerClient {
        &self.client
    }

    pub(crate) fn name(&self) -> &str {
        self.client.container_name()
    }

    /// Checks the account is reachable with these credentials, and creates the container when
    /// it does not exist, as CNCF Distribution's Azure driver does: a registry pointed at a new
    /// storage account starts without a manual step. A refusal to create it (an identity
    /// without that right) is reported as such.
    pub(crate) async fn ensure_exists(&self) -> Result<()> {
        let probe = self.client.get_properties().await;
        let Err(error) = probe else {
            return Ok(());
        };
        if code_of(&error) != Some("ContainerNotFound") {
            return Err(StorageError::backend(
                NAME,
                format!("checking container {}", self.name()),
                error,
            ));
        }
        tracing::info!(container = self.name(), "creating the missing container");
        match self.client.create().await {
            Ok(_) => Ok(()),
            Err(e) if status_of(&e) == Some(StatusCode::Conflict) => Ok(()), // created meanwhile
            Err(e) => Err(StorageError::backend(
                NAME,
                format!("creating missing container {}", self.name()),
                e,
            )),
        }
    }
}

/// One pooled client per driver instance. The SDK's own default turns connection reuse off (a
/// workaround for a long-fixed hyper bug), which would cost a TCP and TLS handshake per request.
fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(Duration::from_secs(30))
        .build()
        .map_err(|e| StorageError::backend(NAME, "building the HTTP client", e))
}

/// The SDK retries 408, 429 (honouring `Retry-After`), 500, 502, 503, 504 and I/O errors with
/// these exponential delays; every request body the driver sends is in memory, so each retry
/// resends it whole.
fn retry_options(max_retries: u32) -> RetryOptions {
    RetryOptions::exponential(
        ExponentialRetryOptions::default()
            .max_retries(max_retries)
            .initial_delay(Duration::from_millis(200))
            .max_delay(Duration::from_secs(30))
            .max_total_elapsed(Duration::from_secs(120)),
    )
}
