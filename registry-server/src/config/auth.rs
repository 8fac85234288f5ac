//! The `auth` section, with the reference's keys: exactly one of `htpasswd` (`realm`,
//! `path`) or `token` (`realm`, `service`, `issuer`, `rootcertbundle`, `jwks`,
//! `autoredirect`, `autoredirectpath`, `signingalgorithms`).
//!
//! An `auth` section this registry cannot honour is a startup error, never an open
//! registry: an unknown type, a missing key, or (when the section is turned into an access
//! controller, see `startup`) an unreadable file.

use std::path::PathBuf;

use jsonwebtoken::Algorithm;

use super::{ConfigError, Section};
use crate::auth::TokenSettings;
use crate::auth::token::DEFAULT_ALGORITHMS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// No `auth` section: anyone may do anything.
    None,
    Htpasswd {
        realm: String,
        path: PathBuf,
    },
    Token(TokenSettings),
}

pub(super) fn read(root: &Section<'_>) -> Result<AuthConfig, ConfigError> {
    let auth = root.section("auth")?;
    let kinds: Vec<&String> = auth.map.keys().collect();
    let kind = match kinds.as_slice() {
        [] => return Ok(AuthConfig::None),
        [one] => one.as_str(),
        many => {
            let names: Vec<&str> = many.iter().map(|s| s.as_str()).collect();
            return Err(ConfigError::new(
                "auth",
                format!(
                    "exactly one access controller may be configured, found {}",
                    names.join(", ")
                ),
            ));
        }
    };
    let settings = auth.section(kind)?;
    match kind.to_ascii_lowercase().as_str() {
        "htpasswd" => Ok(AuthConfig::Htpasswd {
            realm: required(&settings, "realm")?,
            path: PathBuf::from(required(&settings, "path")?),
        }),
        "token" => token(&settings).map(AuthConfig::Token),
        other => Err(ConfigError::new(
            "auth",
            format!(
                "{other:?} is not an access controller this registry has (htpasswd, token); refusing to start without access control"
            ),
        )),
    }
}

fn token(settings: &Section<'_>) -> Result<TokenSettings, ConfigError> {
    let root_cert_bundle = settings.string("rootcertbundle")?.map(PathBuf::from);
    let jwks = settings.string("jwks")?.map(PathBuf::from);
    if root_cert_bundle.is_none() && jwks.is_none() {
        return Err(settings.error(
            "rootcertbundle",
            "is required (or jwks): token auth needs the keys tokens are signed with",
        ));
    }
    let auto_redirect_path = if settings.bool("autoredirect", false)? {
        let path = settings
            .string("autoredirectpath")?
            .unwrap_or_else(|| "/auth/token".to_owned());
        if !path.starts_with('/') {
            return Err(settings.error("autoredirectpath", "must start with /"));
        }
        Some(path)
    } else {
        None
    };
    let algorithms = match settings.strings("signingalgorithms")? {
        None => DEFAULT_ALGORITHMS.to_vec(),
        Some(names) if names.is_empty() => DEFAULT_ALGORITHMS.to_vec(),
        Some(names) => names
            .iter()
            .map(|name| algorithm(name).ok_or_else(|| settings.error("signingalgorithms", format!("{name:?} is not a supported signing algorithm (EdDSA, HS256/384/512, RS256/384/512, ES256/384, PS256/384/512)"))))
            .collect::<Result<_, _>>()?,
    };
    Ok(TokenSettings {
        realm: required(settings, "realm")?,
        service: required(settings, "service")?,
        issuer: required(settings, "issuer")?,
        root_cert_bundle,
        jwks,
        auto_redirect_path,
        algorithms,
    })
}

fn algorithm(name: &str) -> Option<Algorithm> {
    DEFAULT_ALGORITHMS
        .iter()
        .copied()
        .find(|alg| format!("{alg:?}") == name)
}

fn required(section: &Section<'_>, key: &str) -> Result<String, ConfigError> {
    section
        .string(key)?
        .ok_or_else(|| section.error(key, "is required"))
}
