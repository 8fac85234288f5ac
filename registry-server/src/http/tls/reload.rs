//! The served certificate, replaced when its files change so that rotation (cert-manager,
//! certbot) needs no restart. Connections already open keep the certificate they were
//! handshaken with; new ones get the new pair.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::pair;

/// How often the files' metadata is looked at.
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The pair handed to every new handshake.
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the key: its Debug is the provider's business, and logs must not hold it.
        f.write_str("CertStore")
    }
}

impl CertStore {
    pub fn new(pair: CertifiedKey) -> Self {
        CertStore {
            current: RwLock::new(Arc::new(pair)),
        }
    }

    fn replace(&self, pair: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(pair);
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// What the files look like from their metadata: size, modification time and inode, for
/// each of certificate and key (`None` where a file cannot be looked at). A Kubernetes secret
/// volume swaps a symlink, which changes the inode even when times and sizes agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint([Option<(u64, Option<SystemTime>, u64)>; 2]);

impl Fingerprint {
    pub fn of(certificate: &Path, key: &Path) -> Fingerprint {
        Fingerprint([file_state(certificate), file_state(key)])
    }
}

fn file_state(path: &Path) -> Option<(u64, Option<SystemTime>, u64)> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
    #[cfg(not(unix))]
    let inode = 0;
    Some((metadata.len(), metadata.modified().ok(), inode))
}

/// The files to watch and how to read them.
pub struct Watch {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub provider: Arc<CryptoProvider>,
    /// Whether TLS 1.2 is served (and so a new key type may not fit the listed suites).
    pub tls12: bool,
    /// The files as they were when the served pair was read.
    pub loaded: Fingerprint,
}

/// Polls the files until the store is gone (the server stopped) and swaps in a new pair once
/// the files have changed and then stayed the same for one poll, so that a rotation caught
/// between writing the certificate and writing the key is not reported as a failure. A pair
/// that does not load leaves the old one in place and is logged once, until the files change
/// again.
pub async fn watch(store: Weak<CertStore>, watch: Watch) {
    let Watch {
        certificate,
        key,
        provider,
        tls12,
        mut loaded,
    } = watch;
    let mut settling: Option<Fingerprint> = None;
    let mut failed: Option<Fingerprint> = None;
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if store.strong_count() == 0 {
            return;
        }
        let (cert_path, key_path) = (certificate.clone(), key.clone());
        let Ok(seen) =
            tokio::task::spawn_blocking(move || Fingerprint::of(&cert_path, &key_path)).await
        else {
            continue;
        };
        if seen == loaded || failed.as_ref() == Some(&seen) {
            settling = None;
            continue;
        }
        if settling.as_ref() != Some(&seen) {
            settling = Some(seen);
            continue;
        }
        settling = None;
        let (cert_path, key_path, loader) = (certificate.clone(), key.clone(), provider.clone());
        let result =
            tokio::task::spawn_blocking(move || pair::load(&cert_path, &key_path, &loader)).await;
        let Some(store) = store.upgrade() else {
            return;
        };
        match result {
            Ok(Ok(pair)) => {
                if tls12 {
                    super::warn_if_tls12_unusable(&provider, &pair);
                }
                let fingerprint = super::fingerprint(&pair);
                store.replace(pair);
                loaded = seen;
                failed = None;
                tracing::info!(
                    certificate = %certificate.display(),
                    sha256 = fingerprint.as_str(),
                    "TLS certificate reloaded; new connections use it"
                );
            }
            Ok(Err(e)) => {
                failed = Some(seen);
                tracing::error!(
                    certificate = %certificate.display(),
                    key = %key.display(),
                    error = %e,
                    "TLS certificate not reloaded; still serving the previous one"
                );
            }
            Err(e) => {
                failed = Some(seen);
                tracing::error!(error = %e, "TLS certificate reload failed");
            }
        }
    }
}
