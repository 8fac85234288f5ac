//! A Docker token service for the scenarios (distribution's `docs/spec/auth/token.md`).
//!
//! `GET /token?service=S&scope=repository:NAME:ACTIONS&scope=...&account=U` with Basic
//! credentials answers `{"token", "access_token", "expires_in", "issued_at"}`. The token is a JWT
//! (RS256) whose `access` claim is the intersection of what was asked and what the user's
//! grants allow; a wrong or missing password is 401, as the real services do. containers/image
//! (skopeo, podman) uses this GET with Basic credentials; it POSTs (OAuth2) only with an
//! identity token from a prior login, which these users never have.
//!
//! It runs on 127.0.0.1 in a thread of the xtask process with its own actix runtime, and is
//! stopped when dropped. Every token it hands out is kept, so the scenarios can check that no
//! registry log contains one.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, Header};

use super::pki::{KeyRef, Signer};
use crate::process::Result;

/// `auth.token.issuer` and `auth.token.service` of every token config.
pub const ISSUER: &str = "e2e-token-issuer";
pub const SERVICE: &str = "e2e-registry";
/// Lifetime of an issued token, as `expires_in` says.
const TOKEN_SECONDS: u64 = 300;

/// What a user may do: `actions` on repositories whose name starts with `prefix`.
pub struct Grant {
    pub prefix: &'static str,
    pub actions: &'static [&'static str],
}

pub struct User {
    pub name: &'static str,
    pub password: &'static str,
    pub grants: &'static [Grant],
}

/// Writer and pull-only reader of `e2e/*`. The same table fills the htpasswd file.
pub const USERS: &[User] = &[
    User {
        name: "alice",
        password: "alice-e2e-Secret-71",
        grants: &[Grant {
            prefix: "e2e/",
            actions: &["pull", "push", "delete"],
        }],
    },
    User {
        name: "reader",
        password: "reader-e2e-Secret-38",
        grants: &[Grant {
            prefix: "e2e/",
            actions: &["pull"],
        }],
    },
];

pub fn user(name: &str) -> Result<&'static User> {
    USERS
        .iter()
        .find(|u| u.name == name)
        .ok_or_else(|| format!("no test user {name}"))
}

/// One entry of the `access` claim.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: &'a [Access],
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The claims that decide whether a registry may accept a token; the refusal scenario bends
/// them one at a time.
#[derive(Clone)]
pub struct Validity {
    pub issuer: &'static str,
    pub audience: &'static str,
    /// `nbf` and `exp`, in seconds from now.
    pub not_before: i64,
    pub expires: i64,
}

impl Validity {
    pub fn valid_for(lifetime: Duration) -> Validity {
        Validity {
            issuer: ISSUER,
            audience: SERVICE,
            // A little before now: the spec lets verifiers be strict about `nbf`.
            not_before: -5,
            expires: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        }
    }
}

/// Signs a token for `subject` with `access`, valid for `lifetime`.
pub fn mint(
    signer: &Signer,
    subject: &str,
    access: &[Access],
    lifetime: Duration,
) -> Result<String> {
    mint_with(signer, subject, access, &Validity::valid_for(lifetime))
}

/// Signs a token with the given validity claims.
pub fn mint_with(
    signer: &Signer,
    subject: &str,
    access: &[Access],
    validity: &Validity,
) -> Result<String> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut header = Header::new(Algorithm::RS256);
    match &signer.key_ref {
        KeyRef::Chain(chain) => header.x5c = Some(chain.clone()),
        KeyRef::Kid(kid) => header.kid = Some(kid.clone()),
    }
    let issued = now();
    let at = |offset: i64| issued.saturating_add_signed(offset);
    let claims = Claims {
        iss: validity.issuer,
        sub: subject,
        aud: validity.audience,
        exp: at(validity.expires),
        nbf: at(validity.not_before),
        iat: issued,
        jti: format!(
            "e2e-{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        access,
    };
    jsonwebtoken::encode(&header, &claims, &signer.key).map_err(|e| format!("signing a token: {e}"))
}

/// Parses `type:name:actions` (the name may itself hold ':' for a registry with a port, so the
/// type is cut at the first ':' and the actions at the last).
fn parse_scope(scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    Some(Access {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions: actions
            .split(',')
            .filter(|a| !a.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// What `user` gets of `requested`: per repository, only the granted actions; repositories
/// left with none are dropped, as distribution's own token server does. A repository asked for
/// in several scopes (containers/image repeats them) appears once.
pub fn granted(user: &User, requested: &[Access]) -> Vec<Access> {
    let mut out: Vec<Access> = Vec::new();
    for asked in requested.iter().filter(|r| r.kind == "repository") {
        for action in &asked.actions {
            let allowed = user
                .grants
                .iter()
                .any(|g| asked.name.starts_with(g.prefix) && g.actions.contains(&action.as_str()));
            if !allowed {
                continue;
            }
            match out.iter_mut().find(|a| a.name == asked.name) {
                Some(entry) if entry.actions.contains(action) => {}
                Some(entry) => entry.actions.push(action.clone()),
                None => out.push(Access {
                    kind: asked.kind.clone(),
                    name: asked.name.clone(),
                    actions: vec![action.clone()],
                }),
            }
        }
    }
    out
}

/// The Basic credentials of a request, if any.
fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

struct State {
    signer: Signer,
    issued: Arc<Mutex<Vec<String>>>,
}

fn unauthorized(why: &str) -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header(("WWW-Authenticate", "Basic realm=\"e2e token service\""))
        .json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": why}]}))
}

async fn token(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let mut service = None;
    let mut requested = Vec::new();
    for (key, value) in form_urlencoded::parse(request.query_string().as_bytes()) {
        match &*key {
            "service" => service = Some(value.into_owned()),
            // One parameter may also hold several scopes separated by spaces.
            "scope" => requested.extend(value.split(' ').filter_map(parse_scope)),
            _ => {}
        }
    }
    if service.as_deref() != Some(SERVICE) {
        return HttpResponse::BadRequest().body(format!("unknown service {service:?}"));
    }
    let Some((name, password)) = basic_credentials(&request) else {
        println!("token service: request without credentials refused");
        return unauthorized("credentials required");
    };
    let Some(user) = USERS
        .iter()
        .find(|u| u.name == name && u.password == password)
    else {
        println!("token service: wrong credentials for {name:?} refused");
        return unauthorized("wrong user name or password");
    };
    let access = granted(user, &requested);
    println!(
        "token service: {} asked for {:?}, granted {:?}",
        user.name,
        requested
            .iter()
            .map(|a| format!("{}:{}", a.name, a.actions.join(",")))
            .collect::<Vec<_>>(),
        access
            .iter()
            .map(|a| format!("{}:{}", a.name, a.actions.join(",")))
            .collect::<Vec<_>>()
    );
    let token = match mint(
        &state.signer,
        user.name,
        &access,
        Duration::from_secs(TOKEN_SECONDS),
    ) {
        Ok(token) => token,
        Err(e) => return HttpResponse::InternalServerError().body(e),
    };
    if let Ok(mut issued) = state.issued.lock() {
        issued.push(token.clone());
    }
    let issued_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    HttpResponse::Ok().json(serde_json::json!({
        "token": token,
        "access_token": token,
        "expires_in": TOKEN_SECONDS,
        "issued_at": issued_at,
    }))
}

/// The running service; stopped when dropped.
pub struct TokenService {
    /// `auth.token.realm`.
    pub realm: String,
    issued: Arc<Mutex<Vec<String>>>,
    handle: ServerHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TokenService {
    pub fn start(signer: Signer) -> Result<TokenService> {
        let issued = Arc::new(Mutex::new(Vec::new()));
        let state = web::Data::new(State {
            signer,
            issued: issued.clone(),
        });
        let (sender, receiver) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(state.clone())
                        .route("/token", web::get().to(token))
                })
                .workers(1)
                .disable_signals()
                .bind(("127.0.0.1", 0));
                let server = match server {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = sender.send(Err(format!("token service: cannot bind: {e}")));
                        return Ok(());
                    }
                };
                let addr = server.addrs().first().copied();
                let running = server.run();
                let _ = sender.send(
                    addr.map(|a| (a, running.handle()))
                        .ok_or_else(|| "token service: no address".to_owned()),
                );
                running.await
            })
        });
        let (addr, handle) = receiver
            .recv_timeout(Duration::from_secs(20))
            .map_err(|e| format!("token service did not start: {e}"))??;
        Ok(TokenService {
            realm: format!("http://{addr}/token"),
            issued,
            handle,
            thread: Some(thread),
        })
    }

    /// Every token handed out so far.
    pub fn issued(&self) -> Vec<String> {
        self.issued.lock().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        futures::executor::block_on(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access(name: &str, actions: &[&str]) -> Access {
        Access {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }

    #[test]
    fn grants_only_the_intersection() {
        let reader = user("reader").unwrap();
        let asked = [
            access("e2e/app", &["pull", "push"]),
            access("other/app", &["pull"]),
        ];
        assert_eq!(granted(reader, &asked), vec![access("e2e/app", &["pull"])]);
        let alice = user("alice").unwrap();
        assert_eq!(
            granted(alice, &asked),
            vec![access("e2e/app", &["pull", "push"])]
        );
        let repeated = [
            access("e2e/app", &["pull"]),
            access("e2e/app", &["pull", "push"]),
        ];
        assert_eq!(
            granted(alice, &repeated),
            vec![access("e2e/app", &["pull", "push"])]
        );
    }

    #[test]
    fn parses_scopes_with_ports_in_names() {
        assert_eq!(
            parse_scope("repository:host:5000/a/b:pull,push"),
            Some(access("host:5000/a/b", &["pull", "push"]))
        );
        assert_eq!(parse_scope("nonsense"), None);
    }
}
