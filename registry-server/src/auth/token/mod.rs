//! `auth.token`: bearer tokens of the Docker token specification, verified as CNCF
//! Distribution verifies them: signed by the leaf of an `x5c` chain up to a root of
//! `rootcertbundle`, or by a key named by `kid` (a root's key, or a `jwks` key); `iss` the
//! configured issuer, `aud` containing the service, `exp` and `nbf` with 60 s of leeway;
//! the `access` claim lists what the bearer may do.

mod chain;
mod claims;
mod keys;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use x509_parser::prelude::ASN1Time;

pub use claims::Claimed;
use keys::TrustedKeys;

use super::verified::VerifiedCache;

/// Clock skew allowed on `exp` and `nbf`, as in the reference.
const LEEWAY_SECONDS: i64 = 60;
/// How long a verified token is remembered at most (never past its expiry).
const VERIFIED_TTL: Duration = Duration::from_secs(300);

/// Token parts are base64url; some issuers pad them.
const JOSE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Every algorithm the reference accepts by default that can be verified here (ES512 has
/// no implementation in the JWT library; a token using it is refused).
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::EdDSA,
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The `auth.token` settings, as read from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    pub realm: String,
    pub service: String,
    pub issuer: String,
    pub root_cert_bundle: Option<PathBuf>,
    pub jwks: Option<PathBuf>,
    /// `autoredirect` on: the realm is this path on the host the request came to.
    pub auto_redirect_path: Option<String>,
    pub algorithms: Vec<Algorithm>,
}

/// Why a token was refused. Only logged: every refusal is `invalid_token` to the client.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("signing algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("signing key not trusted: {0}")]
    Key(String),
    #[error("bad signature")]
    Signature,
    #[error("issuer {0:?} is not the configured issuer")]
    Issuer(String),
    #[error("audience {0:?} does not name this service")]
    Audience(Vec<String>),
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
}

pub struct TokenAuth {
    settings: TokenSettings,
    keys: TrustedKeys,
    verified: VerifiedCache<Arc<Claimed>>,
}

impl TokenAuth {
    /// Loads the trusted keys. `Err` names the setting at fault (`rootcertbundle`, `jwks`)
    /// and why.
    pub fn new(settings: TokenSettings) -> Result<TokenAuth, (&'static str, String)> {
        let mut keys = TrustedKeys::default();
        if let Some(path) = &settings.root_cert_bundle {
            keys.add_root_bundle(path)
                .map_err(|e| ("rootcertbundle", e))?;
        }
        if let Some(path) = &settings.jwks {
            keys.add_jwks(path).map_err(|e| ("jwks", e))?;
        }
        if keys.roots.is_empty() && keys.by_kid.is_empty() {
            return Err((
                "rootcertbundle",
                "token auth needs at least one signing key: set rootcertbundle or jwks".into(),
            ));
        }
        Ok(TokenAuth {
            settings,
            keys,
            verified: VerifiedCache::new(VERIFIED_TTL),
        })
    }

    /// The realm to send clients to: the configured one, or with `autoredirect` this
    /// registry's own host (`X-Forwarded-Proto` or https).
    pub fn realm(&self, host: &str, forwarded_proto: Option<&str>) -> String {
        match &self.settings.auto_redirect_path {
            Some(path) => format!("{}://{host}{path}", forwarded_proto.unwrap_or("https")),
            None => self.settings.realm.clone(),
        }
    }

    pub fn service(&self) -> &str {
        &self.settings.service
    }

    /// What `token` grants, once its signature, issuer, audience and validity hold.
    pub fn verify(&self, token: &str) -> Result<Arc<Claimed>, TokenError> {
        let key = self.verified.key(&[token.as_bytes()]);
        if let Some(claimed) = self.verified.get(&key)
            && claimed.is_current(unix_now(), LEEWAY_SECONDS)
        {
            return Ok(claimed);
        }
        let claimed = Arc::new(self.verify_uncached(token, unix_now())?);
        let remaining = claimed.expires_at + LEEWAY_SECONDS - unix_now();
        let not_after = Instant::now() + Duration::from_secs(remaining.max(0) as u64);
        self.verified
            .insert(key, Arc::clone(&claimed), Some(not_after));
        Ok(claimed)
    }

    fn verify_uncached(&self, token: &str, now: i64) -> Result<Claimed, TokenError> {
        let malformed = |what: &str| TokenError::Malformed(what.to_owned());
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not three dot-separated parts"));
        };
        let header_json = JOSE_BASE64
            .decode(header_b64)
            .map_err(|_| malformed("header is not base64url"))?;
        // `alg: none` and unknown algorithms fail here: they are no `Algorithm`.
        let header: Header = serde_json::from_slice(&header_json)
            .map_err(|e| TokenError::Malformed(format!("header: {e}")))?;
        if !self.settings.algorithms.contains(&header.alg) {
            return Err(TokenError::Algorithm(header.alg));
        }
        let key = self.signing_key(&header, now)?;
        let signed = &token[..header_b64.len() + 1 + claims_b64.len()];
        let signature = JOSE_BASE64
            .decode(signature)
            .map(|bytes| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|_| malformed("signature is not base64url"))?;
        match jsonwebtoken::crypto::verify(&signature, signed.as_bytes(), &key, header.alg) {
            Ok(true) => {}
            _ => return Err(TokenError::Signature),
        }
        let claims_json = JOSE_BASE64
            .decode(claims_b64)
            .map_err(|_| malformed("claims are not base64url"))?;
        let claimed = Claimed::parse(&claims_json).map_err(TokenError::Malformed)?;
        if claimed.issuer != self.settings.issuer {
            return Err(TokenError::Issuer(claimed.issuer));
        }
        if !claimed.audience.contains(&self.settings.service) {
            return Err(TokenError::Audience(claimed.audience));
        }
        if now > claimed.expires_at + LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        if now < claimed.not_before - LEEWAY_SECONDS {
            return Err(TokenError::NotYetValid);
        }
        Ok(claimed)
    }

    /// The key the header says signed the token, if it is trusted: an `x5c` chain first,
    /// then an embedded `jwk` (its own chain, or its `kid`), then `kid`.
    fn signing_key(&self, header: &Header, now: i64) -> Result<DecodingKey, TokenError> {
        let at = ASN1Time::from_timestamp(now).map_err(|e| TokenError::Key(e.to_string()))?;
        if let Some(x5c) = &header.x5c {
            return chain::verify(x5c, &self.keys.roots, at).map_err(TokenError::Key);
        }
        if let Some(jwk) = &header.jwk {
            // Its own chain: the signature is then checked with the chain's leaf key (as
            // the reference does), so the embedded key material itself is never trusted.
            if let Some(x5c) = &jwk.common.x509_chain {
                return chain::verify(x5c, &self.keys.roots, at).map_err(TokenError::Key);
            }
            return self.trusted_kid(jwk.common.key_id.as_deref());
        }
        self.trusted_kid(header.kid.as_deref())
    }

    fn trusted_kid(&self, kid: Option<&str>) -> Result<DecodingKey, TokenError> {
        let kid = kid.ok_or_else(|| TokenError::Key("no x5c, jwk or kid".into()))?;
        self.keys
            .by_kid
            .get(kid)
            .cloned()
            .ok_or_else(|| TokenError::Key(format!("unknown kid {kid:?}")))
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
