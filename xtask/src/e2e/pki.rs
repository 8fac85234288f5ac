//! Certificates and keys generated at run time for the access-control and TLS scenarios:
//!
//! - the token signer: root CA -> intermediate CA -> RS256 signing leaf. The registry trusts the
//!   root (`auth.token.rootcertbundle`); tokens carry `x5c = [leaf, intermediate]`, so the
//!   registry has to build the chain itself, as with a real token service;
//! - the JWKS signer: a bare RSA key published in a JWKS file (`auth.token.jwks`), tokens name it
//!   by `kid` and carry no certificate;
//! - TLS: a server CA and a server certificate for 127.0.0.1 (IP SAN), a separate client CA and
//!   a client certificate, and the certificate directory layout containers/image reads
//!   (`ca.crt`, `client.cert`, `client.key`).
//!
//! Nothing is written outside the scenario's directory; every run has fresh keys.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{EncodingKey, jwk};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, PublicKeyData,
};
use sha2::{Digest, Sha256};

use crate::process::Result;

fn rc(what: &str) -> impl Fn(rcgen::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, contents).map_err(|e| format!("{}: {e}", path.display()))
}

fn ca_params(name: &str) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rc(name))?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// A CA that can sign further certificates.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn root(name: &str) -> Result<Ca> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rc(name))?;
        let params = ca_params(name)?;
        let cert = params.self_signed(&key).map_err(rc(name))?;
        Ok(Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    fn intermediate(&self, name: &str) -> Result<Ca> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rc(name))?;
        let params = ca_params(name)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rc(name))?;
        Ok(Ca {
            pem: cert.pem(),
            der: cert.der().to_vec(),
            issuer: Issuer::new(params, key),
        })
    }

    /// An end-entity certificate for `key`, with `names` as SANs (IP addresses become IP SANs).
    fn leaf(
        &self,
        name: &str,
        names: &[&str],
        key: &KeyPair,
        usage: &[ExtendedKeyUsagePurpose],
    ) -> Result<(String, Vec<u8>)> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).map_err(rc(name))?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = usage.to_vec();
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(key, &self.issuer).map_err(rc(name))?;
        Ok((cert.pem(), cert.der().to_vec()))
    }
}

/// How a token names the key that signed it.
#[derive(Clone)]
pub enum KeyRef {
    /// `x5c`: the signing certificate and its intermediate, base64 DER (not URL-safe: the JWS
    /// spec and distribution's verifier use standard base64 here).
    Chain(Vec<String>),
    /// `kid`: a key published in the registry's JWKS file.
    Kid(String),
}

/// A token signing key, and what the registry's config points at to trust it.
#[derive(Clone)]
pub struct Signer {
    pub key: EncodingKey,
    pub key_ref: KeyRef,
    /// `auth.token.rootcertbundle` or `auth.token.jwks`, by variant.
    pub trust_file: PathBuf,
}

/// Root CA -> intermediate -> RS256 leaf; the root bundle is written to `dir/token-root.pem`.
pub fn x5c_signer(dir: &Path) -> Result<Signer> {
    let root = Ca::root("e2e token root CA")?;
    let intermediate = root.intermediate("e2e token intermediate CA")?;
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(rc("token signing key"))?;
    let (_, leaf_der) = intermediate.leaf("e2e token signer", &[], &key, &[])?;
    let trust_file = dir.join("token-root.pem");
    write(&trust_file, &root.pem)?;
    Ok(Signer {
        key: rsa_encoding_key(&key)?,
        key_ref: KeyRef::Chain(vec![
            STANDARD.encode(leaf_der),
            STANDARD.encode(&intermediate.der),
        ]),
        trust_file,
    })
}

/// A self-signed RSA root that signs tokens itself, named by `kid` = its libtrust key id: what
/// token services written for Distribution 2.x send (no `x5c`). The root is the bundle.
pub fn kid_signer(dir: &Path) -> Result<Signer> {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(rc("token root key"))?;
    let cert = ca_params("e2e token root CA (signs by kid)")?
        .self_signed(&key)
        .map_err(rc("token root"))?;
    let trust_file = dir.join("token-root-kid.pem");
    write(&trust_file, cert.pem())?;
    Ok(Signer {
        key: rsa_encoding_key(&key)?,
        key_ref: KeyRef::Kid(libtrust_key_id(&key.subject_public_key_info())),
        trust_file,
    })
}

/// libtrust's key id: the first 240 bits of SHA-256 of the DER SubjectPublicKeyInfo, in
/// base32 (RFC 4648, 48 characters), as 12 groups of 4 joined by ':'.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(spki_der);
    let mut chars = Vec::with_capacity(48);
    // 30 bytes are 6 groups of 5 bytes = 40 bits = 8 characters each: no padding.
    for group in digest[..30].chunks(5) {
        let bits = group.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            chars.push(ALPHABET[((bits >> (i * 5)) & 31) as usize]);
        }
    }
    chars
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// A bare RSA key published as `{"keys":[{kty,kid,use,alg,n,e}]}` in `dir/token-jwks.json`.
pub fn jwks_signer(dir: &Path) -> Result<Signer> {
    let kid = "e2e-jwks-key-1".to_owned();
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256).map_err(rc("JWKS signing key"))?;
    let encoding = rsa_encoding_key(&key)?;
    let mut public = jwk::Jwk::from_encoding_key(&encoding, jsonwebtoken::Algorithm::RS256)
        .map_err(|e| format!("JWKS public key: {e}"))?;
    public.common.key_id = Some(kid.clone());
    public.common.public_key_use = Some(jwk::PublicKeyUse::Signature);
    let set = jwk::JwkSet { keys: vec![public] };
    let trust_file = dir.join("token-jwks.json");
    let json = serde_json::to_string_pretty(&set).map_err(|e| e.to_string())?;
    write(&trust_file, json)?;
    Ok(Signer {
        key: encoding,
        key_ref: KeyRef::Kid(kid),
        trust_file,
    })
}

fn rsa_encoding_key(key: &KeyPair) -> Result<EncodingKey> {
    EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes())
        .map_err(|e| format!("RSA signing key: {e}"))
}

/// Files for `http.tls`, and the certificate directories skopeo and podman read.
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    /// `http.tls.clientcas`: the client CA (not the server CA, so trusting one does not mean
    /// trusting the other).
    pub client_ca: PathBuf,
    /// `ca.crt` only: trusts the server, presents no client certificate.
    pub ca_only_dir: PathBuf,
    /// `ca.crt`, `client.cert`, `client.key`: trusts the server and presents the client
    /// certificate.
    pub with_client_dir: PathBuf,
    /// A client certificate from a CA the registry does not trust.
    pub foreign_client_dir: PathBuf,
}

/// Server CA + server certificate for 127.0.0.1, client CA + client certificate, under `dir`.
pub fn tls_files(dir: &Path) -> Result<TlsFiles> {
    let server_ca = Ca::root("e2e server CA")?;
    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rc("server key"))?;
    let (server_pem, _) = server_ca.leaf(
        "127.0.0.1",
        &["127.0.0.1", "localhost"],
        &server_key,
        &[ExtendedKeyUsagePurpose::ServerAuth],
    )?;
    let client_ca = Ca::root("e2e client CA")?;
    let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rc("client key"))?;
    let (client_pem, _) = client_ca.leaf(
        "e2e-client",
        &[],
        &client_key,
        &[ExtendedKeyUsagePurpose::ClientAuth],
    )?;
    let foreign_ca = Ca::root("e2e untrusted client CA")?;
    let foreign_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(rc("client key"))?;
    let (foreign_pem, _) = foreign_ca.leaf(
        "e2e-foreign-client",
        &[],
        &foreign_key,
        &[ExtendedKeyUsagePurpose::ClientAuth],
    )?;

    let files = TlsFiles {
        certificate: dir.join("server.crt"),
        key: dir.join("server.key"),
        client_ca: dir.join("client-ca.crt"),
        ca_only_dir: dir.join("certs-ca-only"),
        with_client_dir: dir.join("certs-client"),
        foreign_client_dir: dir.join("certs-foreign-client"),
    };
    write(&files.certificate, &server_pem)?;
    write(&files.key, server_key.serialize_pem())?;
    write(&files.client_ca, &client_ca.pem)?;
    write(&files.ca_only_dir.join("ca.crt"), &server_ca.pem)?;
    for (cert_dir, pem, key) in [
        (&files.with_client_dir, &client_pem, &client_key),
        (&files.foreign_client_dir, &foreign_pem, &foreign_key),
    ] {
        write(&cert_dir.join("ca.crt"), &server_ca.pem)?;
        write(&cert_dir.join("client.cert"), pem)?;
        write(&cert_dir.join("client.key"), key.serialize_pem())?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtrust_key_id_has_twelve_groups_of_base32() {
        let id = super::libtrust_key_id(b"any bytes");
        let groups: Vec<&str> = id.split(':').collect();
        assert_eq!(groups.len(), 12);
        assert!(groups.iter().all(|g| {
            g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        }));
        // Python: base64.b32encode(hashlib.sha256(b"").digest()[:30]).
        assert_eq!(
            super::libtrust_key_id(b""),
            "4OYM:IQUY:7QOB:JGX3:6TEJ:S35Z:EQT2:4QPE:MSNZ:GTFE:SWMR:W6CS"
        );
    }
}
