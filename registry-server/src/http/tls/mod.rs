//! HTTPS with rustls: the server configuration built from `http.tls`, with the certificate
//! reloaded when its files change and, with `clientcas`, client certificates verified.
//!
//! The crypto provider is chosen here (aws-lc-rs) and passed everywhere explicitly: both
//! rustls providers are compiled in (the cloud SDKs pull them), so rustls' process-wide
//! default would be a guess, or a panic.

mod pair;
mod reload;

use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::version::{TLS12, TLS13};

use crate::config::{ClientAuth, ConfigError, TlsConfig, TlsVersion};

/// A loaded `http.tls`: what the listener serves with, and the reloader to start with it.
pub struct TlsServer {
    config: rustls::ServerConfig,
    store: Arc<reload::CertStore>,
    watch: reload::Watch,
    mode: &'static str,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl TlsServer {
    /// Reads the certificate, key and client CAs. A file that cannot be used is a
    /// configuration error naming its key, so that the registry does not start without it.
    pub fn load(settings: &TlsConfig) -> Result<TlsServer, ConfigError> {
        let provider = Arc::new(provider(settings));
        // Taken before reading, so that a change made while the files are read is seen.
        let loaded = reload::Fingerprint::of(&settings.certificate, &settings.key);
        let pair = pair::load(&settings.certificate, &settings.key, &provider)
            .map_err(|e| ConfigError::new(e.config_key(), e.to_string()))?;
        if settings.minimum_version == TlsVersion::Tls12 {
            warn_if_tls12_unusable(&provider, &pair);
        }
        let store = Arc::new(reload::CertStore::new(pair));

        let versions: &[&rustls::SupportedProtocolVersion] = match settings.minimum_version {
            TlsVersion::Tls12 => &[&TLS13, &TLS12],
            TlsVersion::Tls13 => &[&TLS13],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| ConfigError::new("http.tls.ciphersuites", e.to_string()))?;
        let (builder, mode) = if settings.client_cas.is_empty() {
            (builder.with_no_client_auth(), "tls")
        } else {
            let roots = client_roots(settings)?;
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let mode = match settings.client_auth {
                ClientAuth::RequireAndVerify => "mutual tls (client certificate required)",
                ClientAuth::VerifyIfGiven => {
                    verifier = verifier.allow_unauthenticated();
                    "mutual tls (client certificate verified if sent)"
                }
            };
            let verifier = verifier
                .build()
                .map_err(|e| ConfigError::new("http.tls.clientcas", e.to_string()))?;
            (builder.with_client_cert_verifier(verifier), mode)
        };
        // ALPN (h2, http/1.1) is set by actix-web when it takes the configuration.
        let config = builder.with_cert_resolver(store.clone());
        Ok(TlsServer {
            config,
            store,
            watch: reload::Watch {
                certificate: settings.certificate.clone(),
                key: settings.key.clone(),
                provider,
                tls12: settings.minimum_version == TlsVersion::Tls12,
                loaded,
            },
            mode,
        })
    }

    /// `tls`, or which kind of mutual TLS, for the startup log.
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// The rustls configuration for the listener, after starting the reloader on the current
    /// actix system (it ends with the system, or when the configuration is dropped).
    pub(super) fn start(self) -> rustls::ServerConfig {
        actix_web::rt::spawn(reload::watch(Arc::downgrade(&self.store), self.watch));
        self.config
    }
}

/// aws-lc-rs, restricted to `http.tls.ciphersuites` when set.
fn provider(settings: &TlsConfig) -> CryptoProvider {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if let Some(wanted) = &settings.cipher_suites {
        provider
            .cipher_suites
            .retain(|suite| wanted.contains(&suite.suite()));
    }
    provider
}

/// A TLS 1.2 suite signs with one kind of key (`ECDHE_ECDSA_...` or `ECDHE_RSA_...`): when
/// `ciphersuites` lists only the other kind, TLS 1.2 clients cannot connect, which the
/// operator should hear about rather than find out from failing clients.
fn warn_if_tls12_unusable(provider: &CryptoProvider, pair: &CertifiedKey) {
    let algorithm = pair.key.algorithm();
    let mut tls12 = provider
        .cipher_suites
        .iter()
        .filter(|s| s.version() == &TLS12)
        .peekable();
    if tls12.peek().is_some() && !tls12.any(|s| s.usable_for_signature_algorithm(algorithm)) {
        tracing::warn!(
            key_algorithm = ?algorithm,
            "none of the TLS 1.2 suites in http.tls.ciphersuites fits the certificate's key: \
             only TLS 1.3 clients can connect"
        );
    }
}

/// The CAs of `http.tls.clientcas`; every file must hold at least one certificate.
fn client_roots(settings: &TlsConfig) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    for path in &settings.client_cas {
        let certificates = pair::certificates(path, pair::Part::Certificate)
            .map_err(|e| ConfigError::new("http.tls.clientcas", e.to_string()))?;
        for certificate in certificates {
            roots.add(certificate).map_err(|e| {
                ConfigError::new(
                    "http.tls.clientcas",
                    format!("{}: not a usable CA certificate: {e}", path.display()),
                )
            })?;
        }
    }
    Ok(roots)
}

/// The SHA-256 of the served (leaf) certificate, to tell certificates apart in logs.
fn fingerprint(pair: &CertifiedKey) -> String {
    pair.end_entity_cert()
        .map(|der| {
            registry_core::domain::Digest::sha256_of(der)
                .hex()
                .to_owned()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
