//! What the scenarios share: refusals that must be for the right reason, and skopeo commands
//! over plain HTTP or HTTPS with a certificate directory.

use std::path::{Path, PathBuf};

use super::Fixture;
use crate::e2e::clients::skopeo_with_input;
use crate::e2e::scenarios::check_dir_blobs;
use crate::e2e::token_service::User;
use crate::process::Result;

pub(super) fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result {
    if condition { Ok(()) } else { Err(what()) }
}

/// A command that must fail, and for one of the reasons in `because` (lower case); a failure
/// for another reason (a crash, a typo in a flag) is not a refusal.
pub(super) fn refused<T>(what: &str, outcome: Result<T>, because: &[&str]) -> Result {
    match outcome {
        Ok(_) => Err(format!("{what} succeeded but must be refused")),
        Err(e) => {
            let lower = e.to_lowercase();
            if because.iter().any(|b| lower.contains(b)) {
                println!("xtask e2e:   refused as expected: {what}");
                Ok(())
            } else {
                Err(format!(
                    "{what} failed, but not as a refusal ({because:?}): {e}"
                ))
            }
        }
    }
}

/// What skopeo says when credentials are missing, wrong or not enough.
pub(super) const AUTH_REFUSALS: &[&str] = &[
    "invalid username/password",
    "401",
    "403",
    "unauthorized",
    "denied",
    "authentication required",
    "insufficient_scope",
];

/// How skopeo reaches the registry: plain HTTP, or HTTPS with an optional certificate
/// directory (`ca.crt`, `client.cert`, `client.key`).
#[derive(Clone, Copy)]
pub(super) enum Transport<'a> {
    Http,
    Https(Option<&'a Path>),
}

impl Transport<'_> {
    pub(super) fn of<'a>(fx: &Fixture<'a>, cert_dir: Option<&'a Path>) -> Transport<'a> {
        match fx.tls {
            None => Transport::Http,
            Some(_) => Transport::Https(cert_dir),
        }
    }

    /// Flags for one side (`""`, `"src-"`, `"dest-"`).
    fn args(self, side: &str) -> Vec<String> {
        match self {
            Transport::Http => vec![format!("--{side}tls-verify=false")],
            Transport::Https(dir) => {
                let mut args = vec![format!("--{side}tls-verify=true")];
                if let Some(dir) = dir {
                    args.push(format!("--{side}cert-dir={}", dir.display()));
                }
                args
            }
        }
    }
}

pub(super) fn skopeo(args: &[String]) -> Result<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo_with_input(&args, "")
}

pub(super) fn authfile_arg(authfile: Option<&Path>) -> Vec<String> {
    match authfile {
        Some(f) => vec![format!("--authfile={}", f.display())],
        None => vec![],
    }
}

/// `skopeo login` as `user` with `password` (on stdin), saving to `authfile`.
pub(super) fn skopeo_login(
    fx: &Fixture<'_>,
    authfile: &Path,
    who: &str,
    password: &str,
    transport: Transport<'_>,
) -> Result {
    let mut args = vec!["login".to_owned()];
    args.extend(authfile_arg(Some(authfile)));
    args.extend(transport.args(""));
    args.extend([
        "-u".to_owned(),
        who.to_owned(),
        "--password-stdin".to_owned(),
    ]);
    args.push(fx.host.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo_with_input(&args, &format!("{password}\n")).map(|_| ())
}

pub(super) fn login_as(fx: &Fixture<'_>, user: &User, transport: Transport<'_>) -> Result<PathBuf> {
    let authfile = fx.dir.join(format!("auth-{}.json", user.name));
    skopeo_login(fx, &authfile, user.name, user.password, transport)?;
    Ok(authfile)
}

/// Copies the test image to `repo_tag` on the registry.
pub(super) fn push(
    fx: &Fixture<'_>,
    authfile: Option<&Path>,
    repo_tag: &str,
    t: Transport<'_>,
) -> Result {
    let mut args = vec!["copy".to_owned()];
    args.extend(authfile_arg(authfile));
    args.extend(t.args("dest-"));
    args.push(fx.image.reference());
    args.push(format!("docker://{}/{repo_tag}", fx.host));
    skopeo(&args).map(|_| ())
}

/// Copies `repo_tag` out into a fresh `dir:`; checks the manifest is the one served and every
/// blob hashes to its name.
pub(super) fn pull_and_check(
    fx: &Fixture<'_>,
    authfile: Option<&Path>,
    repo_tag: &str,
    t: Transport<'_>,
) -> Result {
    let out = fx
        .dir
        .join(format!("pulled-{}", repo_tag.replace(['/', ':'], "_")));
    let _ = std::fs::remove_dir_all(&out);
    let source = format!("docker://{}/{repo_tag}", fx.host);
    let mut args = vec!["copy".to_owned()];
    args.extend(authfile_arg(authfile));
    args.extend(t.args("src-"));
    args.push(source.clone());
    args.push(format!("dir:{}", out.display()));
    skopeo(&args)?;
    let mut inspect = vec!["inspect".to_owned(), "--raw".to_owned()];
    inspect.extend(authfile_arg(authfile));
    inspect.extend(t.args(""));
    inspect.push(source);
    let raw = skopeo(&inspect)?;
    let pulled = std::fs::read_to_string(out.join("manifest.json")).map_err(|e| e.to_string())?;
    ensure(pulled == raw, || {
        "the pulled manifest differs from the served one".into()
    })?;
    check_dir_blobs(&out)
}

pub(super) fn inspect(
    fx: &Fixture<'_>,
    authfile: Option<&Path>,
    repo_tag: &str,
    t: Transport<'_>,
) -> Result {
    let mut args = vec!["inspect".to_owned()];
    match authfile {
        Some(_) => args.extend(authfile_arg(authfile)),
        None => args.push("--no-creds".to_owned()),
    }
    args.extend(t.args(""));
    args.push(format!("docker://{}/{repo_tag}", fx.host));
    let text = skopeo(&args)?;
    let tag = repo_tag.rsplit(':').next().unwrap_or_default();
    ensure(text.contains(&format!("\"{tag}\"")), || {
        format!("inspect of {repo_tag} lacks its tag: {text}")
    })
}

/// The registry's answer to an anonymous GET: status and `WWW-Authenticate`.
pub(super) fn challenge(url: &str) -> Result<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let response = reqwest::get(url).await.map_err(|e| format!("{url}: {e}"))?;
        let header = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((response.status().as_u16(), header))
    })
}

pub(super) fn expect_challenge(url: &str, parts: &[String]) -> Result {
    let (status, header) = challenge(url)?;
    ensure(status == 401, || {
        format!("GET {url}: {status}, expected 401")
    })?;
    for part in parts {
        ensure(header.contains(part.as_str()), || {
            format!("GET {url}: WWW-Authenticate {header:?} lacks {part}")
        })?;
    }
    Ok(())
}

/// What skopeo says when it does not trust the server's certificate.
pub(super) const UNTRUSTED_SERVER: &[&str] = &["x509", "certificate signed by unknown authority"];

/// What a TLS client sees when the server refuses its (missing or foreign) certificate: an
/// alert during the handshake (TLS 1.2) or on the first read after it (TLS 1.3).
pub(super) const CLIENT_CERT_REFUSED: &[&str] = &[
    "bad certificate",
    "certificate required",
    "unknown certificate authority",
    "unknown ca",
    "handshake",
    "connection reset",
    "broken pipe",
    "eof",
];
