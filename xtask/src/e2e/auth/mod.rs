//! Access control and TLS with real clients (issue 12): htpasswd, token auth (a certificate
//! chain and a JWKS), HTTPS and mutual TLS.
//!
//! Each scenario writes ONE `config.yml` (reference keys) and starts, in turn, the reference
//! registry (Debian `docker-registry`, CNCF Distribution 2.8) and this registry with that very
//! file, on the same port and a storage root emptied in between, and runs the same client
//! commands against each. The JWKS scenario runs against this registry only: 2.8 has no
//! `auth.token.jwks`. After each run against this registry its log (stdout and stderr, at
//! `log.level: debug`) is searched for every password, Basic credential and token used.

pub mod config;
mod podman_steps;
mod refusals;
mod scenarios;
mod steps;

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::image::OciImage;
use super::pki::{self, Signer, TlsFiles};
use super::registry::{Kind, RunningRegistry, start_with_config};
use super::token_service::{TokenService, USERS};
use crate::process::{Result, free_port};

use config::{Auth, Config};

/// What a scenario's registry is configured with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Setup {
    Htpasswd,
    TokenChain,
    /// Tokens signed by a root of the bundle itself, named by its libtrust `kid`.
    TokenKid,
    TokenJwks,
    /// HTTPS with htpasswd.
    Tls,
    /// HTTPS requiring a client certificate, no other auth.
    MutualTls,
}

/// Everything a scenario's client commands need, for one registry run.
pub struct Fixture<'a> {
    pub host: String,
    /// Scratch space for this run (auth files, pulled images, podman stores).
    pub dir: PathBuf,
    pub image: OciImage,
    pub tls: Option<&'a TlsFiles>,
    pub realm: Option<String>,
    /// The token service's signing key, to mint tokens no client would send.
    pub signer: Option<&'a Signer>,
}

type Steps = fn(&Fixture<'_>) -> Result;

struct Scenario {
    name: &'static str,
    setup: Setup,
    steps: Steps,
}

fn all() -> Vec<Scenario> {
    use Setup::*;
    use podman_steps::{podman_login_push_pull, tls_podman, token_podman};
    use refusals::token_refusals;
    use scenarios::*;
    let table: [(&'static str, Setup, Steps); 12] = [
        ("htpasswd-skopeo", Htpasswd, htpasswd_skopeo),
        ("htpasswd-podman", Htpasswd, podman_login_push_pull),
        ("htpasswd-oras", Htpasswd, htpasswd_oras),
        ("token-x5c-skopeo", TokenChain, token_skopeo),
        ("token-x5c-podman", TokenChain, token_podman),
        ("token-x5c-refusals", TokenChain, token_refusals),
        ("token-kid-skopeo", TokenKid, token_login_push_pull),
        ("token-jwks-skopeo", TokenJwks, token_login_push_pull),
        ("token-jwks-refusals", TokenJwks, token_refusals),
        ("tls-skopeo", Tls, tls_skopeo),
        ("mtls-skopeo", MutualTls, mtls_skopeo),
        ("tls-podman", Tls, tls_podman),
    ];
    table
        .into_iter()
        .map(|(name, setup, steps)| Scenario { name, setup, steps })
        .collect()
}

/// Runs every scenario against each registry in `kinds` (in that order); returns one outcome
/// per scenario and registry.
pub fn run_all(
    binary: &Path,
    image_layout: &Path,
    work: &Path,
    kinds: &[Kind],
) -> Vec<(String, Result)> {
    let mut outcomes = Vec::new();
    for scenario in all() {
        let dir = work.join(scenario.name);
        let prepared = prepare(scenario.setup, &dir);
        for &kind in kinds {
            if scenario.setup == Setup::TokenJwks && kind == Kind::Reference {
                continue;
            }
            let label = format!("{} [{}]", scenario.name, kind.name());
            println!("xtask e2e: {label} ...");
            let outcome = match &prepared {
                Ok(prepared) => run_one(&scenario, prepared, kind, binary, image_layout, &dir),
                Err(e) => Err(format!("setting up: {e}")),
            };
            match &outcome {
                Ok(()) => println!("xtask e2e: PASS {label}"),
                Err(e) => println!("xtask e2e: FAIL {label}: {e}"),
            }
            outcomes.push((label, outcome));
        }
    }
    outcomes
}

/// What stays the same across both registries: the config file, its port, the PKI and the
/// token service.
struct Prepared {
    config: PathBuf,
    port: u16,
    root: PathBuf,
    tls: Option<TlsFiles>,
    tokens: Option<TokenService>,
    signer: Option<Signer>,
}

fn prepare(setup: Setup, dir: &Path) -> Result<Prepared> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let root = dir.join("storage");
    let htpasswd = dir.join("htpasswd");
    let mut tokens = None;
    let mut token_signer = None;
    let auth = match setup {
        Setup::Htpasswd | Setup::Tls => {
            config::write_htpasswd(&htpasswd)?;
            Auth::Htpasswd(htpasswd)
        }
        Setup::TokenChain | Setup::TokenKid => {
            let signer = if setup == Setup::TokenKid {
                pki::kid_signer(dir)?
            } else {
                pki::x5c_signer(dir)?
            };
            let root_bundle = signer.trust_file.clone();
            token_signer = Some(signer.clone());
            let service = TokenService::start(signer)?;
            let realm = service.realm.clone();
            tokens = Some(service);
            Auth::TokenChain { realm, root_bundle }
        }
        Setup::TokenJwks => {
            let signer = pki::jwks_signer(dir)?;
            let jwks = signer.trust_file.clone();
            token_signer = Some(signer.clone());
            let service = TokenService::start(signer)?;
            let realm = service.realm.clone();
            tokens = Some(service);
            Auth::TokenJwks { realm, jwks }
        }
        Setup::MutualTls => Auth::None,
    };
    let tls = if matches!(setup, Setup::Tls | Setup::MutualTls) {
        Some(pki::tls_files(&dir.join("tls"))?)
    } else {
        None
    };
    let config = dir.join("config.yml");
    Config {
        port,
        root: &root,
        auth,
        tls: tls.as_ref(),
        mutual_tls: setup == Setup::MutualTls,
        log_level: "debug",
    }
    .write(&config)?;
    Ok(Prepared {
        config,
        port,
        root,
        tls,
        tokens,
        signer: token_signer,
    })
}

fn run_one(
    scenario: &Scenario,
    prepared: &Prepared,
    kind: Kind,
    binary: &Path,
    image_layout: &Path,
    dir: &Path,
) -> Result {
    // The same root for both runs: each starts empty, so every pull reads what that registry
    // itself stored.
    let _ = std::fs::remove_dir_all(&prepared.root);
    let run_dir = dir.join(kind.name());
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let log = run_dir.join("registry.log");
    let registry: RunningRegistry =
        start_with_config(kind, binary, &prepared.config, prepared.port, &log)?;
    let fixture = Fixture {
        host: registry.host.clone(),
        dir: run_dir,
        image: OciImage {
            layout: image_layout.to_path_buf(),
            tag: "latest",
        },
        tls: prepared.tls.as_ref(),
        realm: prepared.tokens.as_ref().map(|t| t.realm.clone()),
        signer: prepared.signer.as_ref(),
    };
    let outcome = (scenario.steps)(&fixture);
    drop(registry);
    let secrets = match kind {
        Kind::Ours => check_log_secrets(&log, prepared.tokens.as_ref()),
        // The reference's logs are its own business; only this registry is held to it.
        Kind::Reference => Ok(()),
    };
    outcome.and(secrets)
}

/// Fails if the registry's log holds a password, a Basic credential or a token (or a token's
/// signature, which alone would let a reader recognise and, with the rest, replay it).
fn check_log_secrets(log: &Path, tokens: Option<&TokenService>) -> Result {
    let text = std::fs::read_to_string(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut secrets: Vec<(String, String)> = Vec::new();
    for user in USERS {
        secrets.push((
            format!("{}'s password", user.name),
            user.password.to_owned(),
        ));
        secrets.push((
            format!("{}'s Basic credentials", user.name),
            STANDARD.encode(format!("{}:{}", user.name, user.password)),
        ));
    }
    for token in tokens.map(TokenService::issued).unwrap_or_default() {
        if let Some(signature) = token.rsplit('.').next() {
            secrets.push(("a token's signature".into(), signature.to_owned()));
        }
        secrets.push(("a token".into(), token));
    }
    let leaked: Vec<&String> = secrets
        .iter()
        .filter(|(_, secret)| text.contains(secret.as_str()))
        .map(|(what, _)| what)
        .collect();
    if leaked.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the registry log {} contains {leaked:?}",
            log.display()
        ))
    }
}
