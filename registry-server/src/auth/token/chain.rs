//! Verifying a token's `x5c` certificate chain up to a root of `rootcertbundle`, as the
//! reference does with Go's `x509.Certificate.Verify`: every certificate within its
//! validity period, each signed by the next, intermediates marked as CAs, the chain ending
//! at (or being) a trusted root; any extended key usage is accepted.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::DecodingKey;
use x509_parser::prelude::{ASN1Time, X509Certificate, parse_x509_certificate};

use super::keys::{Root, signing_key};

/// More than any real chain; bounds the search.
const MAX_DEPTH: usize = 8;

/// The leaf certificate's key, when `x5c` (base64 DER certificates, leaf first) chains up
/// to one of `roots` at `now`.
pub fn verify(x5c: &[String], roots: &[Root], now: ASN1Time) -> Result<DecodingKey, String> {
    let ders: Vec<Vec<u8>> = x5c
        .iter()
        .map(|c| {
            STANDARD
                .decode(c)
                .map_err(|e| format!("x5c: not base64: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let certificates: Vec<X509Certificate<'_>> = ders
        .iter()
        .map(|der| parse(der).map_err(|e| format!("x5c: {e}")))
        .collect::<Result<_, _>>()?;
    let (leaf, intermediates) = certificates
        .split_first()
        .ok_or("x5c: empty certificate chain")?;
    let roots: Vec<X509Certificate<'_>> = roots.iter().filter_map(|r| parse(&r.der).ok()).collect();
    if !chains_to_root(leaf, intermediates, &roots, now, 0) {
        return Err("x5c: certificate chain does not verify up to a trusted root".into());
    }
    signing_key(leaf.public_key())
}

pub fn parse(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match parse_x509_certificate(der) {
        Ok(([], certificate)) => Ok(certificate),
        Ok(_) => Err("trailing bytes after the certificate".into()),
        Err(e) => Err(format!("not an X.509 certificate: {e}")),
    }
}

fn chains_to_root(
    cert: &X509Certificate<'_>,
    intermediates: &[X509Certificate<'_>],
    roots: &[X509Certificate<'_>],
    now: ASN1Time,
    depth: usize,
) -> bool {
    if depth > MAX_DEPTH || !cert.validity().is_valid_at(now) {
        return false;
    }
    // A trusted root presented as the chain itself (Go accepts a leaf found in the pool).
    if roots.iter().any(|root| root.as_raw() == cert.as_raw()) {
        return true;
    }
    let issued_by = |issuer: &X509Certificate<'_>| {
        issuer.subject().as_raw() == cert.issuer().as_raw()
            && cert.verify_signature(Some(issuer.public_key())).is_ok()
    };
    if roots
        .iter()
        .any(|root| root.validity().is_valid_at(now) && issued_by(root))
    {
        return true;
    }
    intermediates.iter().any(|intermediate| {
        intermediate.as_raw() != cert.as_raw()
            && intermediate.is_ca()
            && issued_by(intermediate)
            && chains_to_root(intermediate, intermediates, roots, now, depth + 1)
    })
}
