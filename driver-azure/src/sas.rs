//! Read-only SAS URLs for single blobs: for `redirect_url`, and to authorize the source of a
//! server-side copy under token credentials.
//!
//! With an account key the URL is signed locally (service SAS). With token credentials there
//! is no key to sign with: the driver asks the service for a user-delegation key and signs with
//! that; keys are cached and reused while they outlive the URL being signed.

use std::time::{Duration, SystemTime};

use azure_core::Url;
use azure_core::auth::Secret;
use azure_storage::shared_access_signature::SasProtocol;
use azure_storage::shared_access_signature::service_sas::{
    BlobSasPermissions, BlobSharedAccessSignature, BlobSignedResource, SasKey, UserDeligationKey,
};
use azure_storage_blobs::prelude::{BlobClient, BlobServiceClient, ContainerClient};
use tokio::sync::Mutex;

use crate::config::{AzureConfig, AzureCredentials};

/// The service's limit on a user-delegation key's (and so its SAS's) validity.
const MAX_DELEGATION_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);
/// Delegation keys are requested for at least this long, so that one key serves many URLs.
const MIN_DELEGATION_VALIDITY: Duration = Duration::from_secs(6 * 3600);
/// The key's start is backdated by this much against clock skew between us and the service.
const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

#[derive(Debug)]
pub(crate) struct SasSigner {
    account: String,
    https_only: bool,
    key: SigningKey,
}

#[derive(Debug)]
enum SigningKey {
    Account(Secret),
    UserDelegation(Box<DelegationKeys>),
}

/// Where user-delegation keys come from, and the current one.
#[derive(Debug)]
struct DelegationKeys {
    service: BlobServiceClient,
    cached: Mutex<Option<UserDeligationKey>>,
}

impl SasSigner {
    pub(crate) fn new(config: &AzureConfig, service: BlobServiceClient) -> Self {
        let key = match &config.credentials {
            AzureCredentials::SharedKey { account_key } => {
                SigningKey::Account(Secret::new(account_key.clone()))
            }
            AzureCredentials::DefaultCredentials => {
                SigningKey::UserDelegation(Box::new(DelegationKeys {
                    service,
                    cached: Mutex::new(None),
                }))
            }
        };
        SasSigner {
            account: config.account_name.clone(),
            https_only: config.service_url.scheme() == "https",
            key,
        }
    }

    /// A URL that lets its holder read (GET or HEAD, ranges included) `blob` until `expiry`
    /// from now, and nothing else. Under token credentials the expiry is capped at the
    /// service's seven days.
    pub(crate) async fn read_url(
        &self,
        blob: &BlobClient,
        expiry: Duration,
    ) -> azure_core::Result<Url> {
        let (key, expires_at) = match &self.key {
            SigningKey::Account(secret) => {
                (SasKey::Key(secret.clone()), SystemTime::now() + expiry)
            }
            SigningKey::UserDelegation(keys) => {
                let expires_at = SystemTime::now() + expiry.min(MAX_DELEGATION_VALIDITY);
                let key = keys.valid_until(expires_at).await?;
                (SasKey::UserDelegationKey(key), expires_at)
            }
        };
        let resource = format!(
            "/blob/{}/{}/{}",
            self.account,
            blob.container_client().container_name(),
            blob.blob_name()
        );
        let permissions = BlobSasPermissions {
            read: true,
            ..Default::default()
        };
        let mut signature = BlobSharedAccessSignature::new(
            key,
            resource,
            permissions,
            expires_at.into(),
            BlobSignedResource::Blob,
        );
        if self.https_only {
            signature = signature.protocol(SasProtocol::Https);
        }
        blob.generate_signed_blob_url(&signature)
    }

    /// A URL that lets its holder list `container` (and nothing else) for `expiry` from now.
    pub(crate) async fn list_url(
        &self,
        container: &ContainerClient,
        expiry: Duration,
    ) -> azure_core::Result<Url> {
        let expires_at = SystemTime::now() + expiry.min(MAX_DELEGATION_VALIDITY);
        let key = match &self.key {
            SigningKey::Account(secret) => SasKey::Key(secret.clone()),
            SigningKey::UserDelegation(keys) => {
                SasKey::UserDelegationKey(keys.valid_until(expires_at).await?)
            }
        };
        let resource = format!("/blob/{}/{}", self.account, container.container_name());
        let permissions = BlobSasPermissions {
            list: true,
            ..Default::default()
        };
        let mut signature = BlobSharedAccessSignature::new(
            key,
            resource,
            permissions,
            expires_at.into(),
            BlobSignedResource::Container,
        );
        if self.https_only {
            signature = signature.protocol(SasProtocol::Https);
        }
        container.generate_signed_container_url(&signature)
    }

    /// How a server-side copy names its source `blob`. A shared-key request authorizes a source
    /// in the same account by itself, so the plain URL is used: a SAS would gain nothing, and
    /// makes Azurite fetch the whole source into one string to check it (which fails past
    /// 512 MiB). A token-authorized copy gets a read SAS for the source, valid for a day.
    pub(crate) async fn copy_source_url(&self, blob: &BlobClient) -> azure_core::Result<Url> {
        match &self.key {
            SigningKey::Account(_) => blob.url(),
            SigningKey::UserDelegation(_) => {
                self.read_url(blob, Duration::from_secs(24 * 3600)).await
            }
        }
    }
}

impl DelegationKeys {
    /// The cached key if it is valid beyond `until`, or a new one.
    async fn valid_until(&self, until: SystemTime) -> azure_core::Result<UserDeligationKey> {
        let mut cached = self.cached.lock().await;
        if let Some(key) = cached.as_ref()
            && SystemTime::from(key.signed_expiry) >= until
        {
            return Ok(key.clone());
        }
        let now = SystemTime::now();
        let validity = until
            .duration_since(now)
            .unwrap_or_default()
            .max(MIN_DELEGATION_VALIDITY)
            .min(MAX_DELEGATION_VALIDITY);
        let response = self
            .service
            .get_user_deligation_key((now - CLOCK_SKEW).into(), (now + validity).into())
            .await?;
        let key = response.user_deligation_key;
        *cached = Some(key.clone());
        Ok(key)
    }
}
