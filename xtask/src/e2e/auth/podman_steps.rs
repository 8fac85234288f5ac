//! podman against the registry: login (a wrong password refused), push from one store, pull
//! into a fresh one; over HTTP or HTTPS with the test CA; the pull-only user's push refused.

use std::path::Path;

use super::Fixture;
use super::steps::{AUTH_REFUSALS, UNTRUSTED_SERVER, ensure, refused};
use crate::e2e::podman::Podman;
use crate::e2e::token_service::user;
use crate::process::Result;

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
