//! The skopeo and oras scenarios. They know nothing of which registry they talk to: the same
//! commands run against the reference and against this registry.

use super::Fixture;
use super::steps::{
    AUTH_REFUSALS, CLIENT_CERT_REFUSED, Transport, UNTRUSTED_SERVER, expect_challenge, inspect,
    login_as, pull_and_check, push, refused, skopeo_login,
};
use crate::e2e::clients::oras_round_trip_as;
use crate::e2e::token_service::{SERVICE, user};
use crate::process::Result;

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
