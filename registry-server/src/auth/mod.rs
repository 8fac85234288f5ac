//! Access control: who may do what, decided once per request before any handler runs.
//!
//! The HTTP layer says what a request needs ([`access::Needs`], from its route, method and
//! query) and hands over the credentials; [`AccessControl::authorize`] answers with a
//! [`Grant`] or a [`Refusal`] (401 with a challenge, or 403). Handlers see only the grant,
//! never credentials. One mode per registry:
//!
//! - open: no `auth` section, everything allowed;
//! - `auth.htpasswd`: any user of the file may do anything, or, with this registry's
//!   `access` policy, what the policy grants (anonymous callers included);
//! - `auth.token`: what the bearer token's `access` claim lists.

pub mod access;
mod credentials;
mod htpasswd;
mod policy;
pub mod token;
mod verified;

use std::sync::Arc;

pub use credentials::Credentials;
pub use htpasswd::{Htpasswd, HtpasswdError};
pub use policy::{Policy, Rule};
pub use token::{TokenAuth, TokenSettings};

use access::{Access, Needs, Resource};
use token::Claimed;

enum Mode {
    Open,
    Basic {
        realm: String,
        users: Htpasswd,
        policy: Option<Arc<Policy>>,
    },
    Token(TokenAuth),
}

pub struct AccessControl {
    mode: Mode,
}

/// What a caller may do, as far as a handler needs to know.
#[derive(Debug, Clone)]
pub enum Grant {
    Everything,
    Token(Arc<Claimed>),
    Policy {
        policy: Arc<Policy>,
        user: Option<String>,
    },
}

impl Grant {
    pub fn allows(&self, access: &Access) -> bool {
        match self {
            Grant::Everything => true,
            Grant::Token(claimed) => claimed.allows(access),
            Grant::Policy { policy, user } => match &access.resource {
                Resource::Repository(name) => policy
                    .actions(user.as_deref(), name)
                    .contains(access.action),
                Resource::Catalog => user.is_some() || policy.has_anonymous_access(),
            },
        }
    }

    /// Whether the catalog shows `repository` to this caller. Under a policy the catalog
    /// lists only what the caller may pull; a token's catalog access covers every name.
    pub fn lists(&self, repository: &str) -> bool {
        match self {
            Grant::Policy { .. } => {
                self.allows(&Access::repository(repository, access::Action::Pull))
            }
            Grant::Everything | Grant::Token(_) => true,
        }
    }

    /// Whether [`Grant::lists`] can hide anything (so the catalog must filter).
    pub fn filters_catalog(&self) -> bool {
        matches!(self, Grant::Policy { .. })
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401 (`UNAUTHORIZED`, with a challenge) or 403 (`DENIED`).
    pub denied: bool,
    /// The `WWW-Authenticate` value.
    pub challenge: Option<String>,
    /// What the request needed (the error's `detail`).
    pub needed: Vec<Access>,
}

/// What the HTTP layer knows of the request besides its needs.
#[derive(Debug)]
pub struct Caller<'a> {
    pub credentials: Credentials,
    /// `Host` (for `autoredirect` realms).
    pub host: &'a str,
    pub forwarded_proto: Option<&'a str>,
    /// For the log line of a failed login.
    pub peer: Option<std::net::SocketAddr>,
}

impl AccessControl {
    pub fn open() -> AccessControl {
        AccessControl { mode: Mode::Open }
    }

    pub fn htpasswd(realm: String, users: Htpasswd, policy: Option<Policy>) -> AccessControl {
        AccessControl {
            mode: Mode::Basic {
                realm,
                users,
                policy: policy.map(Arc::new),
            },
        }
    }

    pub fn token(token: TokenAuth) -> AccessControl {
        AccessControl {
            mode: Mode::Token(token),
        }
    }

    pub fn is_open(&self) -> bool {
        matches!(self.mode, Mode::Open)
    }

    /// A short description for the startup log line.
    pub fn describe(&self) -> &'static str {
        match &self.mode {
            Mode::Open => "none",
            Mode::Basic { policy: None, .. } => "htpasswd",
            Mode::Basic {
                policy: Some(_), ..
            } => "htpasswd with access policy",
            Mode::Token(_) => "token",
        }
    }

    /// Decides whether `caller` may do what `needs` says. An empty `needs` (the `/v2/`
    /// check) still requires valid credentials whenever access control is on.
    pub async fn authorize(&self, caller: Caller<'_>, needs: &Needs) -> Result<Grant, Refusal> {
        match &self.mode {
            Mode::Open => Ok(Grant::Everything),
            Mode::Basic {
                realm,
                users,
                policy,
            } => authorize_basic(realm, users, policy.as_ref(), caller, needs).await,
            Mode::Token(token) => authorize_token(token, caller, needs),
        }
    }
}

async fn authorize_basic(
    realm: &str,
    users: &Htpasswd,
    policy: Option<&Arc<Policy>>,
    caller: Caller<'_>,
    needs: &Needs,
) -> Result<Grant, Refusal> {
    let challenge = || Refusal {
        denied: false,
        challenge: Some(format!("Basic realm={}", quoted(realm))),
        needed: needs.required.clone(),
    };
    let user = match caller.credentials {
        Credentials::Anonymous => None,
        Credentials::Basic { user, password } => {
            if !users.verify(&user, &password).await {
                tracing::warn!(user, peer = ?caller.peer, "authentication failed");
                return Err(challenge());
            }
            Some(user)
        }
        Credentials::Bearer(_) | Credentials::Malformed => return Err(challenge()),
    };
    let Some(policy) = policy else {
        // Without a policy every user of the file may do everything.
        return if user.is_some() {
            Ok(Grant::Everything)
        } else {
            Err(challenge())
        };
    };
    let signed_in = user.is_some();
    if needs.required.is_empty() && !signed_in {
        return Err(challenge());
    }
    let grant = Grant::Policy {
        policy: Arc::clone(policy),
        user,
    };
    if needs.required.iter().all(|access| grant.allows(access)) {
        return Ok(grant);
    }
    if signed_in {
        return Err(Refusal {
            denied: true,
            challenge: None,
            needed: needs.required.clone(),
        });
    }
    Err(challenge())
}

fn authorize_token(token: &TokenAuth, caller: Caller<'_>, needs: &Needs) -> Result<Grant, Refusal> {
    let challenge = |error: Option<&str>| {
        let mut value = format!(
            "Bearer realm={},service={}",
            quoted(&token.realm(caller.host, caller.forwarded_proto)),
            quoted(token.service())
        );
        let scope = needs.scope();
        if !scope.is_empty() {
            value.push_str(&format!(",scope={}", quoted(&scope)));
        }
        if let Some(error) = error {
            value.push_str(&format!(",error={}", quoted(error)));
        }
        Refusal {
            denied: false,
            challenge: Some(value),
            needed: needs.required.clone(),
        }
    };
    let Credentials::Bearer(raw) = &caller.credentials else {
        return Err(challenge(None));
    };
    let claimed = match token.verify(raw) {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::info!(peer = ?caller.peer, reason = %e, "bearer token refused");
            return Err(challenge(Some("invalid_token")));
        }
    };
    if needs.required.iter().all(|access| claimed.allows(access)) {
        Ok(Grant::Token(claimed))
    } else {
        Err(challenge(Some("insufficient_scope")))
    }
}

/// A quoted-string as Go's `%q` writes one for these values (backslash and quote escaped).
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
