//! Reading a certificate chain and its private key from PEM files into a rustls
//! [`CertifiedKey`], refusing a key that does not belong to the certificate.
//!
//! Errors name files and what is wrong with them, never their contents: a key file's bytes
//! must not reach a log line.

use std::path::{Path, PathBuf};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{Error as RustlsError, InconsistentKeys};

/// Why a certificate/key pair cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        part: Part,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not usable PEM: {problem}", path.display())]
    Pem {
        part: Part,
        path: PathBuf,
        problem: &'static str,
    },
    #[error("{} holds no PEM certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} holds no PEM private key", path.display())]
    NoKey { path: PathBuf },
    #[error("the certificate in {} cannot be used: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("the private key in {} cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "the private key in {} does not belong to the certificate in {}",
        key.display(),
        certificate.display()
    )]
    Mismatch { certificate: PathBuf, key: PathBuf },
}

/// Which of the two files a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Certificate,
    Key,
}

impl PairError {
    /// The configuration key an operator has to look at.
    pub fn config_key(&self) -> &'static str {
        let part = match self {
            PairError::Read { part, .. } | PairError::Pem { part, .. } => *part,
            PairError::NoCertificate { .. } | PairError::BadCertificate { .. } => Part::Certificate,
            PairError::NoKey { .. } | PairError::BadKey { .. } | PairError::Mismatch { .. } => {
                Part::Key
            }
        };
        match part {
            Part::Certificate => "http.tls.certificate",
            Part::Key => "http.tls.key",
        }
    }
}

/// Reads and checks the pair; blocking (small files).
pub fn load(
    certificate: &Path,
    key: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, PairError> {
    let chain = certificates(certificate, Part::Certificate)?;
    let key_bytes = read(key, Part::Key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => PairError::NoKey {
            path: key.to_owned(),
        },
        other => pem_error(key, Part::Key, &other),
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| PairError::BadKey {
            path: key.to_owned(),
            reason: e.to_string(),
        })?;
    let pair = CertifiedKey::new(chain, signing_key);
    match pair.keys_match() {
        // `Unknown`: the provider cannot tell; the handshake would fail visibly instead.
        Ok(()) | Err(RustlsError::InconsistentKeys(InconsistentKeys::Unknown)) => Ok(pair),
        Err(RustlsError::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(PairError::Mismatch {
                certificate: certificate.to_owned(),
                key: key.to_owned(),
            })
        }
        Err(other) => Err(PairError::BadCertificate {
            path: certificate.to_owned(),
            reason: other.to_string(),
        }),
    }
}

/// Every PEM certificate in `path` (a bundle may hold several); at least one.
pub fn certificates(path: &Path, part: Part) -> Result<Vec<CertificateDer<'static>>, PairError> {
    let bytes = read(path, part)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, part, &e))?;
    if chain.is_empty() {
        return Err(PairError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read(path: &Path, part: Part) -> Result<Vec<u8>, PairError> {
    std::fs::read(path).map_err(|source| PairError::Read {
        part,
        path: path.to_owned(),
        source,
    })
}

/// A fixed description of a PEM problem: some of the parser's errors quote the file.
fn pem_error(path: &Path, part: Part, error: &pem::Error) -> PairError {
    let problem = match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        pem::Error::NoItemsFound => "nothing of the expected kind in it",
        _ => "cannot be parsed",
    };
    PairError::Pem {
        part,
        path: path.to_owned(),
        problem,
    }
}
