//! The one `config.yml` both registries are started with: reference keys only (plus
//! `auth.token.jwks`, which the reference 2.8 does not know and which only our registry gets).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::e2e::pki::TlsFiles;
use crate::e2e::token_service::{ISSUER, SERVICE, USERS};
use crate::process::Result;

/// bcrypt cost of the htpasswd entries: Go's `bcrypt.DefaultCost`, what the reference's
/// documentation and most tools produce.
pub const BCRYPT_COST: u32 = 10;

pub enum Auth {
    None,
    Htpasswd(PathBuf),
    /// Tokens from `realm`, trusted through a root certificate bundle.
    TokenChain {
        realm: String,
        root_bundle: PathBuf,
    },
    /// Tokens from `realm`, trusted through a JWKS file.
    TokenJwks {
        realm: String,
        jwks: PathBuf,
    },
}

pub struct Config<'a> {
    pub port: u16,
    pub root: &'a Path,
    pub auth: Auth,
    pub tls: Option<&'a TlsFiles>,
    /// Require client certificates from `tls.client_ca`.
    pub mutual_tls: bool,
    /// `log.level`: `debug` in the scenarios (the logs are searched for secrets), `warn` in the
    /// benchmark as in its other rows.
    pub log_level: &'a str,
}

/// Writes an htpasswd file with a bcrypt entry for every test user.
pub fn write_htpasswd(path: &Path) -> Result {
    let mut text = String::new();
    for user in USERS {
        let hash = bcrypt::hash_with_result(user.password, BCRYPT_COST)
            .map_err(|e| format!("bcrypt: {e}"))?
            .format_for_version(bcrypt::Version::TwoY);
        let _ = writeln!(text, "{}:{hash}", user.name);
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

impl Config<'_> {
    pub fn yaml(&self) -> String {
        let mut y = format!(
            "version: 0.1\n\
             log:\n  level: {}\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: e2e-shared-http-secret\n",
            self.log_level,
            self.root.display(),
            self.port
        );
        if let Some(tls) = self.tls {
            let _ = write!(
                y,
                "  tls:\n    certificate: {}\n    key: {}\n    minimumtls: tls1.2\n",
                tls.certificate.display(),
                tls.key.display()
            );
            if self.mutual_tls {
                let _ = write!(y, "    clientcas:\n      - {}\n", tls.client_ca.display());
            }
        }
        match &self.auth {
            Auth::None => {}
            Auth::Htpasswd(path) => {
                let _ = write!(
                    y,
                    "auth:\n  htpasswd:\n    realm: e2e-basic-realm\n    path: {}\n",
                    path.display()
                );
            }
            Auth::TokenChain { realm, root_bundle } => {
                y.push_str(&token_section(realm, "rootcertbundle", root_bundle));
            }
            Auth::TokenJwks { realm, jwks } => {
                y.push_str(&token_section(realm, "jwks", jwks));
            }
        }
        y
    }

    pub fn write(&self, path: &Path) -> Result {
        std::fs::write(path, self.yaml()).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn token_section(realm: &str, trust_key: &str, trust: &Path) -> String {
    format!(
        "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    {trust_key}: {}\n    autoredirect: false\n    signingalgorithms:\n      - RS256\n",
        trust.display()
    )
}
