//! Tokens a registry must refuse, sent straight over HTTP (no client would send them): expired,
//! not yet valid, another issuer, another audience, signed by a key outside the trusted root,
//! a payload swapped under a valid signature, `alg: none`; and a pull-only token used to push,
//! which must be answered with `error="insufficient_scope"`. A valid token is accepted first,
//! so every 401 below is the token's fault.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::Fixture;
use crate::e2e::pki::{self, KeyRef};
use crate::e2e::token_service::{Access, Validity, mint, mint_with};
use crate::process::Result;

const REPO: &str = "e2e/refusals";

/// Status and `WWW-Authenticate` of `method url` with `Authorization: Bearer token`.
fn send(method: &str, url: &str, token: &str) -> Result<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let response = reqwest::Client::new()
            .request(method, url)
            .bearer_auth(token)
            .header("Content-Length", "0")
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((response.status().as_u16(), challenge))
    })
}

fn pull_access() -> Vec<Access> {
    vec![Access {
        kind: "repository".into(),
        name: REPO.into(),
        actions: vec!["pull".into()],
    }]
}

pub fn token_refusals(fx: &Fixture<'_>) -> Result {
    let signer = fx.signer.ok_or("no token signer")?;
    let base = format!("http://{}/v2/", fx.host);
    let lifetime = Duration::from_secs(300);
    let valid = mint(signer, "alice", &pull_access(), lifetime)?;
    let (status, _) = send("GET", &base, &valid)?;
    if status != 200 {
        return Err(format!(
            "GET {base} with a valid token: {status}, expected 200"
        ));
    }

    let bent = |change: fn(&mut Validity)| {
        let mut validity = Validity::valid_for(lifetime);
        change(&mut validity);
        mint_with(signer, "alice", &pull_access(), &validity)
    };
    // Beyond the reference's 60 s leeway either way.
    let expired = bent(|v| {
        v.not_before = -7200;
        v.expires = -3600;
    })?;
    let not_yet = bent(|v| {
        v.not_before = 3600;
        v.expires = 7200;
    })?;
    let other_issuer = bent(|v| v.issuer = "someone-else")?;
    let other_audience = bent(|v| v.audience = "another-registry")?;
    let foreign = mint(
        &pki::x5c_signer(&fx.dir)?,
        "alice",
        &pull_access(),
        lifetime,
    )?;
    let swapped = {
        // The payload of a token granting push, under the signature of the pull-only one.
        let mut push = pull_access();
        push[0].actions.push("push".into());
        let pushing = mint(signer, "alice", &push, lifetime)?;
        let parts: Vec<&str> = valid.split('.').collect();
        let payload = pushing
            .split('.')
            .nth(1)
            .ok_or("a token without a payload")?;
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let unsigned = {
        let mut header = serde_json::json!({"alg": "none", "typ": "JWT"});
        match &signer.key_ref {
            KeyRef::Chain(chain) => header["x5c"] = serde_json::json!(chain),
            KeyRef::Kid(kid) => header["kid"] = serde_json::json!(kid),
        }
        let payload = valid.split('.').nth(1).ok_or("a token without a payload")?;
        format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header.to_string()))
    };
    for (what, token) in [
        ("an expired token", &expired),
        ("a token not valid yet", &not_yet),
        ("a token from another issuer", &other_issuer),
        ("a token for another audience", &other_audience),
        ("a token signed outside the trusted root", &foreign),
        ("a payload swapped under a valid signature", &swapped),
        ("an unsigned token (alg none)", &unsigned),
    ] {
        let (status, _) = send("GET", &base, token)?;
        if status != 401 {
            return Err(format!("GET {base} with {what}: {status}, expected 401"));
        }
        println!("xtask e2e:   refused as expected: {what}");
    }

    let uploads = format!("http://{}/v2/{REPO}/blobs/uploads/", fx.host);
    let (status, challenge) = send("POST", &uploads, &valid)?;
    if status != 401 || !challenge.contains("error=\"insufficient_scope\"") {
        return Err(format!(
            "POST {uploads} with a pull-only token: {status} {challenge:?}, expected 401 with \
             error=\"insufficient_scope\""
        ));
    }
    println!(
        "xtask e2e:   refused as expected: a push with a pull-only token (insufficient_scope)"
    );
    Ok(())
}
