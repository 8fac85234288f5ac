//! The keys tokens may be signed with: the certificates of `rootcertbundle` (as chain roots,
//! and by `kid`), and the keys of a `jwks` file (by `kid`).
//!
//! A root certificate's key is known by two ids, so that tokens from token services written
//! for either reference version verify: the libtrust key id of CNCF Distribution 2.x
//! (SHA-256 of the DER public key, first 240 bits, base32 in 12 groups of 4) and the RFC 7638
//! JWK thumbprint (SHA-256, base64url) of 3.x.

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::JwkSet;
use sha2::{Digest, Sha256};
use x509_parser::oid_registry::{
    OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
    OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
};
use x509_parser::pem::Pem;
use x509_parser::prelude::SubjectPublicKeyInfo;
use x509_parser::public_key::PublicKey;

use super::chain;

/// A trusted root certificate (DER).
#[derive(Debug, Clone)]
pub struct Root {
    pub der: Vec<u8>,
}

#[derive(Default)]
pub struct TrustedKeys {
    pub roots: Vec<Root>,
    pub by_kid: HashMap<String, DecodingKey>,
}

impl TrustedKeys {
    /// Reads the PEM certificates of `path` (other PEM blocks are skipped, as the reference
    /// does). A file without a certificate is an error.
    pub fn add_root_bundle(&mut self, path: &Path) -> Result<(), String> {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let mut found = 0;
        for block in Pem::iter_from_buffer(&bytes) {
            let block = block.map_err(|e| format!("{}: not PEM: {e}", path.display()))?;
            if block.label != "CERTIFICATE" {
                continue;
            }
            let certificate =
                chain::parse(&block.contents).map_err(|e| format!("{}: {e}", path.display()))?;
            let key = signing_key(certificate.public_key())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            for kid in key_ids(certificate.public_key()) {
                self.by_kid.insert(kid, key.clone());
            }
            self.roots.push(Root {
                der: block.contents.clone(),
            });
            found += 1;
        }
        if found == 0 {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        Ok(())
    }

    /// Reads a JWKS file (`{"keys": [...]}`); every key needs a `kid`.
    pub fn add_jwks(&mut self, path: &Path) -> Result<(), String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let set: JwkSet = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a JWKS document: {e}", path.display()))?;
        if set.keys.is_empty() {
            return Err(format!("{} holds no key", path.display()));
        }
        for (i, jwk) in set.keys.iter().enumerate() {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| format!("{}: key {i} has no \"kid\"", path.display()))?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| format!("{}: key {kid:?}: {e}", path.display()))?;
            self.by_kid.insert(kid, key);
        }
        Ok(())
    }
}

/// The key a certificate's public key verifies JWT signatures with.
pub fn signing_key(spki: &SubjectPublicKeyInfo<'_>) -> Result<DecodingKey, String> {
    let algorithm = &spki.algorithm.algorithm;
    let bits = spki.subject_public_key.data.as_ref();
    if *algorithm == OID_PKCS1_RSAENCRYPTION {
        Ok(DecodingKey::from_rsa_der(bits))
    } else if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        Ok(DecodingKey::from_ec_der(bits))
    } else if *algorithm == OID_SIG_ED25519 {
        Ok(DecodingKey::from_ed_der(bits))
    } else {
        Err(format!("unsupported public key algorithm {algorithm}"))
    }
}

/// The ids a root certificate's key may be named by in a token's `kid`.
fn key_ids(spki: &SubjectPublicKeyInfo<'_>) -> Vec<String> {
    let mut ids = vec![libtrust_key_id(spki.raw)];
    ids.extend(thumbprints(spki));
    ids
}

/// CNCF Distribution 2.x's libtrust fingerprint of a DER SubjectPublicKeyInfo.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    let digest = Sha256::digest(spki_der);
    let encoded = base32(&digest[..30]);
    encoded
        .as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// RFC 4648 base32 without padding (30 bytes encode to exactly 48 characters).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u64, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u64::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// RFC 7638 thumbprints, with the coordinates as CNCF Distribution 3.x writes them (leading
/// zero bytes dropped) and, where that differs, padded to the curve's size as the RFC says.
fn thumbprints(spki: &SubjectPublicKeyInfo<'_>) -> Vec<String> {
    let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let hash = |json: String| URL_SAFE_NO_PAD.encode(Sha256::digest(json.as_bytes()));
    let minimal = |bytes: &[u8]| -> Vec<u8> {
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        bytes[start..].to_vec()
    };
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => vec![hash(format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            b64(&minimal(rsa.exponent)),
            b64(&minimal(rsa.modulus))
        ))],
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            let name = match curve {
                Some(oid) if oid == OID_EC_P256 => "P-256",
                Some(oid) if oid == OID_NIST_EC_P384 => "P-384",
                Some(oid) if oid == OID_NIST_EC_P521 => "P-521",
                _ => return Vec::new(),
            };
            let data = point.data();
            // Uncompressed points only: 0x04 || x || y.
            if data.first() != Some(&4) || data.len() % 2 != 1 {
                return Vec::new();
            }
            let (x, y) = data[1..].split_at((data.len() - 1) / 2);
            let mut ids = vec![hash(format!(
                r#"{{"crv":"{name}","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(&minimal(x)),
                b64(&minimal(y))
            ))];
            let padded = hash(format!(
                r#"{{"crv":"{name}","kty":"EC","x":"{}","y":"{}"}}"#,
                b64(x),
                b64(y)
            ));
            if !ids.contains(&padded) {
                ids.push(padded);
            }
            ids
        }
        _ if spki.algorithm.algorithm == OID_SIG_ED25519 => vec![hash(format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64(spki.subject_public_key.data.as_ref())
        ))],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foob"), "MZXW6YQ");
        assert_eq!(base32(b"fooba"), "MZXW6YTB");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn libtrust_ids_have_twelve_groups() {
        let id = libtrust_key_id(b"anything");
        assert_eq!(id.len(), 12 * 4 + 11);
        assert_eq!(id.split(':').count(), 12);
    }
}
