//! The client commands of each access-control scenario. They know nothing of which registry
//! they talk to: the same commands run against the reference and against this registry.

use std::path::{Path, PathBuf};

use super::Fixture;
use crate::e2e::clients::{oras_round_trip_as, skopeo_with_input};
use crate::e2e::podman::Podman;
use crate::e2e::scenarios::check_dir_blobs;
use crate::e2e::token_service::{SERVICE, User, user};
use crate::process::Result;

fn ensure(condition: bool, what: impl FnOnce() -> String) -> Result {
    if condition { Ok(()) } else { Err(what()) }
}

/// A command that must fail, and for one of the reasons in `because` (lower case); a failure
/// for another reason (a crash, a typo in a flag) is not a refusal.
fn refused<T>(what: &str, outcome: Result<T>, because: &[&str]) -> Result {
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
const AUTH_REFUSALS: &[&str] = &[
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
enum Transport<'a> {
    Http,
    Https(Option<&'a Path>),
}

impl Transport<'_> {
    fn of<'a>(fx: &Fixture<'a>, cert_dir: Option<&'a Path>) -> Transport<'a> {
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

fn skopeo(args: &[String]) -> Result<String> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    skopeo_with_input(&args, "")
}

fn authfile_arg(authfile: Option<&Path>) -> Vec<String> {
    match authfile {
        Some(f) => vec![format!("--authfile={}", f.display())],
        None => vec![],
    }
}

/// `skopeo login` as `user` with `password` (on stdin), saving to `authfile`.
fn skopeo_login(
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

fn login_as(fx: &Fixture<'_>, user: &User, transport: Transport<'_>) -> Result<PathBuf> {
    let authfile = fx.dir.join(format!("auth-{}.json", user.name));
    skopeo_login(fx, &authfile, user.name, user.password, transport)?;
    Ok(authfile)
}

/// Copies the test image to `repo_tag` on the registry.
fn push(fx: &Fixture<'_>, authfile: Option<&Path>, repo_tag: &str, t: Transport<'_>) -> Result {
    let mut args = vec!["copy".to_owned()];
    args.extend(authfile_arg(authfile));
    args.extend(t.args("dest-"));
    args.push(fx.image.reference());
    args.push(format!("docker://{}/{repo_tag}", fx.host));
    skopeo(&args).map(|_| ())
}

/// Copies `repo_tag` out into a fresh `dir:`; checks the manifest is the one served and every
/// blob hashes to its name.
fn pull_and_check(
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

fn inspect(fx: &Fixture<'_>, authfile: Option<&Path>, repo_tag: &str, t: Transport<'_>) -> Result {
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
fn challenge(url: &str) -> Result<(u16, String)> {
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

fn expect_challenge(url: &str, parts: &[String]) -> Result {
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

pub fn htpasswd_skopeo(fx: &Fixture<'_>) -> Result {
    let t = Transport::Http;
    expect_challenge(
        &format!("http://{}/v2/", fx.host),
        &["Basic realm=\"e2e-basic-realm\"".to_owned()],
    )?;
    let alice = user("alice")?;
    refused(
        "an anonymous inspect",
        inspect(fx, None, "e2e/htpasswd:v1", t),
        AUTH_REFUSALS,
    )?;
    refused(
        "a login with a wrong password",
        skopeo_login(
            fx,
            &fx.dir.join("wrong.json"),
            alice.name,
            "wrong-password",
            t,
        ),
        AUTH_REFUSALS,
    )?;
    let auth = login_as(fx, alice, t)?;
    push(fx, Some(&auth), "e2e/htpasswd:v1", t)?;
    pull_and_check(fx, Some(&auth), "e2e/htpasswd:v1", t)?;
    inspect(fx, Some(&auth), "e2e/htpasswd:v1", t)
}

pub fn htpasswd_oras(fx: &Fixture<'_>) -> Result {
    let alice = user("alice")?;
    oras_round_trip_as(
        &fx.host,
        "e2e/oras:basic",
        &fx.dir.join("oras"),
        2 * 1024 * 1024 + 5,
        None,
        Some((alice.name, alice.password)),
    )?;
    refused(
        "an oras push with a wrong password",
        oras_round_trip_as(
            &fx.host,
            "e2e/oras:wrong",
            &fx.dir.join("oras-wrong"),
            1024,
            None,
            Some((alice.name, "wrong-password")),
        ),
        &["401", "unauthorized", "denied", "authentication"],
    )
}

/// podman: a wrong password refused; login, push from one store, pull into a fresh one.
pub fn podman_login_push_pull(fx: &Fixture<'_>) -> Result {
    podman_push_pull(fx).map(|source| source.remove())
}

/// The same over HTTPS, trusting the test CA through `--cert-dir`.
pub fn tls_podman(fx: &Fixture<'_>) -> Result {
    let source = Podman::new(&fx.dir.join("podman-untrusted"));
    let alice = user("alice")?;
    let untrusted = podman_login(
        &source,
        fx,
        &fx.dir.join("podman-no-ca.json"),
        (alice.name, alice.password),
        &["--tls-verify=true".to_owned()],
    );
    source.remove();
    refused(
        "a podman login without the test CA",
        untrusted,
        UNTRUSTED_SERVER,
    )?;
    podman_login_push_pull(fx)
}

/// podman's TLS flags for this fixture: the test CA's directory over HTTPS.
fn podman_tls(fx: &Fixture<'_>) -> Vec<String> {
    match fx.tls {
        None => vec!["--tls-verify=false".to_owned()],
        Some(tls) => vec![
            "--tls-verify=true".to_owned(),
            format!("--cert-dir={}", tls.ca_only_dir.display()),
        ],
    }
}

fn podman_login(
    podman: &Podman,
    fx: &Fixture<'_>,
    authfile: &Path,
    (who, password): (&str, &str),
    tls: &[String],
) -> Result {
    let mut args = vec!["login".to_owned()];
    args.extend_from_slice(tls);
    args.push(format!("--authfile={}", authfile.display()));
    args.extend([
        "-u".to_owned(),
        who.to_owned(),
        "--password-stdin".to_owned(),
    ]);
    args.push(fx.host.clone());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    podman
        .run_with_input(&args, &format!("{password}\n"))
        .map(|_| ())
}

/// `podman push|pull` with the fixture's TLS flags and `authfile`.
fn podman_transfer(
    podman: &Podman,
    fx: &Fixture<'_>,
    verb: &str,
    authfile: &Path,
    what: &[&str],
) -> Result<String> {
    let mut args = vec![verb.to_owned()];
    if verb == "pull" {
        args.push("-q".to_owned());
    }
    args.extend(podman_tls(fx));
    args.push(format!("--authfile={}", authfile.display()));
    args.extend(what.iter().map(|w| (*w).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    podman.run(&args).map(|out| out.trim().to_owned())
}

/// Returns the source store (holding the image) for further pushes; the caller removes it.
fn podman_push_pull(fx: &Fixture<'_>) -> Result<Podman> {
    let source = Podman::new(&fx.dir.join("podman-source"));
    match podman_push_pull_from(fx, &source) {
        Ok(()) => Ok(source),
        Err(e) => {
            source.remove();
            Err(e)
        }
    }
}

fn podman_push_pull_from(fx: &Fixture<'_>, source: &Podman) -> Result {
    let alice = user("alice")?;
    let image = source.run(&["pull", "-q", &fx.image.reference()])?;
    let image = image.trim().to_owned();
    let tls = podman_tls(fx);
    refused(
        "a podman login with a wrong password",
        podman_login(
            source,
            fx,
            &fx.dir.join("podman-wrong.json"),
            (alice.name, "wrong-password"),
            &tls,
        ),
        AUTH_REFUSALS,
    )?;
    let authfile = fx.dir.join("podman-alice.json");
    podman_login(source, fx, &authfile, (alice.name, alice.password), &tls)?;
    let target = format!("docker://{}/e2e/podman:v1", fx.host);
    podman_transfer(source, fx, "push", &authfile, &[&image, &target])?;
    let sink = Podman::new(&fx.dir.join("podman-sink"));
    let pulled = podman_transfer(&sink, fx, "pull", &authfile, &[&target]);
    sink.remove();
    let pulled = pulled?;
    ensure(pulled == image, || {
        format!("podman pulled image {pulled}, pushed {image}")
    })
}

pub fn token_podman(fx: &Fixture<'_>) -> Result {
    let source = podman_push_pull(fx)?;
    let outcome = (|| {
        let reader = user("reader")?;
        let authfile = fx.dir.join("podman-reader.json");
        let tls = podman_tls(fx);
        podman_login(&source, fx, &authfile, (reader.name, reader.password), &tls)?;
        let image = source.run(&["images", "-q"])?;
        let image = image.lines().next().unwrap_or_default().to_owned();
        let target = format!("docker://{}/e2e/podman-ro:v1", fx.host);
        refused(
            "a podman push by the pull-only user",
            podman_transfer(&source, fx, "push", &authfile, &[&image, &target]),
            AUTH_REFUSALS,
        )?;
        let sink = Podman::new(&fx.dir.join("podman-reader-sink"));
        let pulled = podman_transfer(
            &sink,
            fx,
            "pull",
            &authfile,
            &[&format!("docker://{}/e2e/podman:v1", fx.host)],
        );
        sink.remove();
        pulled.map(|_| ())
    })();
    source.remove();
    outcome
}

/// The challenges of a token-protected registry, as the Docker token spec words them.
fn token_challenges(fx: &Fixture<'_>) -> Result {
    let realm = fx.realm.clone().ok_or("no token service")?;
    let base = [
        format!("Bearer realm=\"{realm}\""),
        format!("service=\"{SERVICE}\""),
    ];
    expect_challenge(&format!("http://{}/v2/", fx.host), &base)?;
    let mut with_scope = base.to_vec();
    with_scope.push("scope=\"repository:e2e/token:pull\"".to_owned());
    expect_challenge(
        &format!("http://{}/v2/e2e/token/manifests/v1", fx.host),
        &with_scope,
    )
}

pub fn token_skopeo(fx: &Fixture<'_>) -> Result {
    let t = Transport::Http;
    token_challenges(fx)?;
    let alice = user("alice")?;
    refused(
        "a login with a wrong password",
        skopeo_login(
            fx,
            &fx.dir.join("wrong.json"),
            alice.name,
            "wrong-password",
            t,
        ),
        AUTH_REFUSALS,
    )?;
    refused(
        "an anonymous push",
        push(fx, None, "e2e/token:anonymous", t),
        AUTH_REFUSALS,
    )?;
    let auth = login_as(fx, alice, t)?;
    push(fx, Some(&auth), "e2e/token:v1", t)?;
    pull_and_check(fx, Some(&auth), "e2e/token:v1", t)?;
    inspect(fx, Some(&auth), "e2e/token:v1", t)?;
    refused(
        "a push outside the user's grants",
        push(fx, Some(&auth), "other/token:v1", t),
        AUTH_REFUSALS,
    )?;
    let reader = login_as(fx, user("reader")?, t)?;
    pull_and_check(fx, Some(&reader), "e2e/token:v1", t)?;
    refused(
        "a push by the pull-only user",
        push(fx, Some(&reader), "e2e/token:reader", t),
        AUTH_REFUSALS,
    )
}

/// skopeo logs in, pushes and pulls; the pull-only user's push is refused.
pub fn token_login_push_pull(fx: &Fixture<'_>) -> Result {
    let t = Transport::Http;
    let auth = login_as(fx, user("alice")?, t)?;
    push(fx, Some(&auth), "e2e/signed:v1", t)?;
    pull_and_check(fx, Some(&auth), "e2e/signed:v1", t)?;
    let reader = login_as(fx, user("reader")?, t)?;
    pull_and_check(fx, Some(&reader), "e2e/signed:v1", t)?;
    refused(
        "a push by the pull-only user",
        push(fx, Some(&reader), "e2e/signed:reader", t),
        AUTH_REFUSALS,
    )
}

/// What skopeo says when it does not trust the server's certificate.
const UNTRUSTED_SERVER: &[&str] = &["x509", "certificate signed by unknown authority"];

/// What a TLS client sees when the server refuses its (missing or foreign) certificate: an
/// alert during the handshake (TLS 1.2) or on the first read after it (TLS 1.3).
const CLIENT_CERT_REFUSED: &[&str] = &[
    "bad certificate",
    "certificate required",
    "unknown certificate authority",
    "unknown ca",
    "handshake",
    "connection reset",
    "broken pipe",
    "eof",
];

pub fn tls_skopeo(fx: &Fixture<'_>) -> Result {
    let tls = fx.tls.ok_or("no TLS files")?;
    let trusted = Transport::of(fx, Some(&tls.ca_only_dir));
    let alice = user("alice")?;
    refused(
        "a login without the test CA",
        skopeo_login(
            fx,
            &fx.dir.join("no-ca.json"),
            alice.name,
            alice.password,
            Transport::of(fx, None),
        ),
        UNTRUSTED_SERVER,
    )?;
    let auth = login_as(fx, alice, trusted)?;
    refused(
        "a push without the test CA",
        push(
            fx,
            Some(&auth),
            "e2e/tls:untrusted",
            Transport::of(fx, None),
        ),
        UNTRUSTED_SERVER,
    )?;
    push(fx, Some(&auth), "e2e/tls:v1", trusted)?;
    pull_and_check(fx, Some(&auth), "e2e/tls:v1", trusted)?;
    inspect(fx, Some(&auth), "e2e/tls:v1", trusted)
}

pub fn mtls_skopeo(fx: &Fixture<'_>) -> Result {
    let tls = fx.tls.ok_or("no TLS files")?;
    let with_client = Transport::of(fx, Some(&tls.with_client_dir));
    push(fx, None, "e2e/mtls:v1", with_client)?;
    pull_and_check(fx, None, "e2e/mtls:v1", with_client)?;
    refused(
        "an inspect without a client certificate",
        inspect(
            fx,
            None,
            "e2e/mtls:v1",
            Transport::of(fx, Some(&tls.ca_only_dir)),
        ),
        CLIENT_CERT_REFUSED,
    )?;
    refused(
        "an inspect with a client certificate of an untrusted CA",
        inspect(
            fx,
            None,
            "e2e/mtls:v1",
            Transport::of(fx, Some(&tls.foreign_client_dir)),
        ),
        CLIENT_CERT_REFUSED,
    )?;
    refused(
        "a push without a client certificate",
        push(
            fx,
            None,
            "e2e/mtls:v2",
            Transport::of(fx, Some(&tls.ca_only_dir)),
        ),
        CLIENT_CERT_REFUSED,
    )
}
