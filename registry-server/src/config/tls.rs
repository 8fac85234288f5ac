//! `http.tls`: serving HTTPS (and mutual TLS) with rustls, from the reference's keys.
//!
//! Only the settings are read here; the certificate, key and CA files are opened when the
//! server starts (`http::tls`), which reports a file it cannot use as a configuration error
//! naming the key.

use std::path::PathBuf;

use rustls::CipherSuite;
use serde_json::Value;

use super::{ConfigError, Section};

/// What `http.tls` asks for; `None` in [`super::HttpConfig::tls`] means plain HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `http.tls.certificate`: PEM, the server certificate first, then its chain.
    pub certificate: PathBuf,
    /// `http.tls.key`: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// `http.tls.clientcas`: PEM files of the CAs whose client certificates are accepted;
    /// empty means no client certificates are asked for.
    pub client_cas: Vec<PathBuf>,
    /// `http.tls.clientauth` (only with `clientcas`).
    pub client_auth: ClientAuth,
    /// `http.tls.minimumtls`.
    pub minimum_version: TlsVersion,
    /// `http.tls.ciphersuites`, as rustls suites; `None` means rustls' defaults (the same
    /// AEAD suites as the reference's default list).
    pub cipher_suites: Option<Vec<CipherSuite>>,
    /// Settings accepted but served differently from the reference, for startup warnings.
    pub warnings: Vec<String>,
}

/// How client certificates are checked when `clientcas` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `require-and-verify-client-cert` (the default): no handshake without a certificate
    /// signed by one of `clientcas`.
    RequireAndVerify,
    /// `verify-client-cert-if-given`: a client may send none, but one it sends must verify.
    VerifyIfGiven,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    Tls12,
    Tls13,
}

/// The reference's cipher-suite names (Go's `crypto/tls`) that rustls implements.
const SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_AES_256_GCM_SHA384",
        CipherSuite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// Names the reference accepts for suites rustls leaves out on purpose (CBC, RC4, 3DES, and
/// RSA key exchange without forward secrecy): a reference config naming them still starts,
/// with a warning.
const ABSENT_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

const KNOWN_KEYS: &[&str] = &[
    "certificate",
    "key",
    "clientcas",
    "clientauth",
    "minimumtls",
    "ciphersuites",
    "letsencrypt",
];

/// Reads `http.tls`. Any setting in it (other than an inactive `letsencrypt`) means TLS is
/// wanted, so a missing certificate or key is an error rather than plain HTTP.
pub(super) fn parse(
    http: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<Option<TlsConfig>, ConfigError> {
    let tls = http.section("tls")?;
    tls.collect_unknown(KNOWN_KEYS, ignored);
    letsencrypt(&tls, ignored)?;

    let certificate = non_empty(tls.string("certificate")?);
    let key = non_empty(tls.string("key")?);
    let client_cas = string_list(&tls, "clientcas")?;
    let client_auth = non_empty(tls.string("clientauth")?);
    let minimum = non_empty(tls.string("minimumtls")?);
    let suites = string_list(&tls, "ciphersuites")?;
    let wanted = certificate.is_some()
        || key.is_some()
        || !client_cas.is_empty()
        || client_auth.is_some()
        || minimum.is_some()
        || !suites.is_empty();
    if !wanted {
        return Ok(None);
    }
    let certificate = certificate.ok_or_else(|| {
        tls.error(
            "certificate",
            "is required when http.tls is configured (this registry does not fall back to \
             plain HTTP)",
        )
    })?;
    let key = key.ok_or_else(|| tls.error("key", "is required with http.tls.certificate"))?;

    let mut warnings = Vec::new();
    let client_auth = match client_auth.as_deref() {
        None | Some("require-and-verify-client-cert") => ClientAuth::RequireAndVerify,
        Some("verify-client-cert-if-given") => ClientAuth::VerifyIfGiven,
        Some(mode @ ("request-client-cert" | "require-any-client-cert")) => {
            return Err(tls.error(
                "clientauth",
                format!(
                    "{mode} accepts client certificates without verifying them, which this \
                     registry does not do; use require-and-verify-client-cert or \
                     verify-client-cert-if-given"
                ),
            ));
        }
        Some(other) => {
            return Err(tls.error(
                "clientauth",
                format!(
                    "{other:?} is not one of require-and-verify-client-cert, \
                     verify-client-cert-if-given"
                ),
            ));
        }
    };
    if client_cas.is_empty() && client_auth != ClientAuth::RequireAndVerify {
        warnings.push("http.tls.clientauth has no effect without http.tls.clientcas".into());
    }

    let minimum_version = match minimum.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("tls1.2") => TlsVersion::Tls12,
        Some("tls1.3") => TlsVersion::Tls13,
        Some(old @ ("tls1.0" | "tls1.1")) => {
            warnings.push(format!(
                "http.tls.minimumtls {old}: TLS 1.2 is the oldest version this registry \
                 speaks (rustls has no TLS 1.0 or 1.1); clients need TLS 1.2 or 1.3"
            ));
            TlsVersion::Tls12
        }
        Some(_) => {
            return Err(tls.error(
                "minimumtls",
                format!(
                    "{:?} is not one of tls1.0, tls1.1, tls1.2, tls1.3",
                    minimum.unwrap_or_default()
                ),
            ));
        }
    };

    let cipher_suites = if suites.is_empty() {
        None
    } else {
        Some(cipher_suites(
            &tls,
            &suites,
            minimum_version,
            &mut warnings,
        )?)
    };

    Ok(Some(TlsConfig {
        certificate: PathBuf::from(certificate),
        key: PathBuf::from(key),
        client_cas: client_cas.into_iter().map(PathBuf::from).collect(),
        client_auth,
        minimum_version,
        cipher_suites,
        warnings,
    }))
}

/// The reference obtains certificates by ACME when `letsencrypt.cachefile` is set; this
/// registry does not, and says so rather than serve without the certificate it was asked for.
fn letsencrypt(tls: &Section<'_>, ignored: &mut Vec<String>) -> Result<(), ConfigError> {
    let letsencrypt = tls.section("letsencrypt")?;
    if non_empty(letsencrypt.string("cachefile")?).is_some() {
        return Err(tls.error(
            "letsencrypt",
            "Let's Encrypt (ACME) is not implemented here; obtain the certificate outside \
             the registry (cert-manager, certbot) and set http.tls.certificate and \
             http.tls.key, which are reloaded when their files change",
        ));
    }
    // Without a cache file the reference does not use the section either.
    if !letsencrypt.map.is_empty() {
        ignored.push(tls.key_path("letsencrypt"));
    }
    Ok(())
}

/// The listed suites rustls implements. Go applies the list to TLS 1.2 only; so does this
/// registry when the list names no TLS 1.3 suite (all TLS 1.3 suites stay on), while a list
/// naming TLS 1.3 suites restricts those too.
fn cipher_suites(
    tls: &Section<'_>,
    names: &[String],
    minimum: TlsVersion,
    warnings: &mut Vec<String>,
) -> Result<Vec<CipherSuite>, ConfigError> {
    let mut chosen = Vec::new();
    let mut absent = Vec::new();
    for name in names {
        let upper = name.trim().to_ascii_uppercase();
        if let Some((_, suite)) = SUITES.iter().find(|(n, _)| *n == upper) {
            if !chosen.contains(suite) {
                chosen.push(*suite);
            }
        } else if ABSENT_SUITES.contains(&upper.as_str()) {
            absent.push(upper);
        } else {
            return Err(tls.error(
                "ciphersuites",
                format!("{name:?} is not a TLS cipher suite name"),
            ));
        }
    }
    if !absent.is_empty() {
        warnings.push(format!(
            "http.tls.ciphersuites: ignored, not implemented by rustls: {}",
            absent.join(", ")
        ));
    }
    if chosen.is_empty() {
        return Err(tls.error(
            "ciphersuites",
            format!(
                "none of the listed suites is available here; rustls implements {}",
                SUITES
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let names_tls12 = chosen.iter().any(|s| !is_tls13(*s));
    match minimum {
        TlsVersion::Tls12 if !names_tls12 => warnings.push(
            "http.tls.ciphersuites lists no TLS 1.2 suite: only TLS 1.3 clients can connect".into(),
        ),
        TlsVersion::Tls13 if names_tls12 => warnings.push(
            "http.tls.ciphersuites: the TLS 1.2 suites listed are unused with minimumtls tls1.3"
                .into(),
        ),
        _ => {}
    }
    if !chosen.iter().any(|s| is_tls13(*s)) {
        chosen.extend(SUITES.iter().map(|(_, s)| *s).filter(|s| is_tls13(*s)));
    }
    Ok(chosen)
}

pub(crate) fn is_tls13(suite: CipherSuite) -> bool {
    matches!(
        suite,
        CipherSuite::TLS13_AES_128_GCM_SHA256
            | CipherSuite::TLS13_AES_256_GCM_SHA384
            | CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    )
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// A list of strings: a YAML sequence; the mapping `{"0": .., "1": ..}` that
/// `REGISTRY_HTTP_TLS_CLIENTCAS_0=...` variables build; or one string, either a flow sequence
/// (`[a, b]`, as the reference parses a variable's value) or comma-separated items (as the
/// other list-valued keys here take them from the environment).
fn string_list(section: &Section<'_>, key: &str) -> Result<Vec<String>, ConfigError> {
    let items: Vec<Value> = match section.value(key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(Value::Object(map)) => {
            let mut indexed = Vec::new();
            for (index, value) in map {
                let index: usize = index
                    .parse()
                    .map_err(|_| section.error(key, format!("{index:?} is not a list index")))?;
                indexed.push((index, value.clone()));
            }
            indexed.sort_by_key(|(i, _)| *i);
            indexed.into_iter().map(|(_, v)| v).collect()
        }
        Some(Value::String(text)) if text.trim_start().starts_with('[') => {
            match serde_saphyr::from_str::<Value>(text) {
                Ok(Value::Array(items)) => items,
                _ => return Err(section.error(key, "is not a list")),
            }
        }
        Some(Value::String(text)) => text
            .split(',')
            .map(|item| Value::String(item.trim().to_owned()))
            .collect(),
        Some(other) => vec![other.clone()],
    };
    let mut list = Vec::new();
    for item in &items {
        let text = super::scalar_text(item)
            .map_err(|m| section.error(key, m))?
            .unwrap_or_default();
        if !text.trim().is_empty() {
            list.push(text);
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests;
