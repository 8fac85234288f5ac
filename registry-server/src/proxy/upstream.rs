//! An HTTP client of one upstream registry: the distribution API's manifest and blob reads,
//! authenticated as the upstream asks (the Docker token flow, anonymous or with the configured
//! credentials, tokens cached per scope until they expire; or Basic).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use registry_core::domain::media_types;
use registry_core::domain::{Digest, RepositoryName};
use reqwest::header::{ACCEPT, AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};

use super::challenge::{self, Challenge};
use crate::config::proxy::UpstreamConfig;

/// How long to wait for a connection to the upstream.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest pause while reading an upstream's answer.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// A token's lifetime when the token service does not say (the token spec's default).
const DEFAULT_TOKEN_SECONDS: u64 = 60;

/// Why the upstream gave no usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream does not have it ({0})")]
    NotFound(String),
    #[error("the upstream refused the cache's credentials ({0})")]
    Denied(String),
    #[error("the upstream is rate-limiting requests")]
    RateLimited { retry_after: Option<String> },
    #[error("the upstream answered {0}")]
    Status(u16),
    #[error("the upstream is unreachable: {0}")]
    Unreachable(String),
    #[error("the upstream sent something unusable: {0}")]
    Invalid(String),
}

struct CachedToken {
    token: String,
    until: Instant,
}

/// One upstream registry and what the cache knows about talking to it.
pub struct Upstream {
    pub config: UpstreamConfig,
    http: reqwest::Client,
    /// Bearer tokens by scope.
    tokens: std::sync::Mutex<HashMap<String, CachedToken>>,
    /// The upstream asked for Basic once: send the credentials up front from then on.
    basic: AtomicBool,
}

/// Every manifest type this registry stores; the upstream picks its best.
fn manifest_accept() -> String {
    [
        media_types::OCI_INDEX,
        media_types::OCI_MANIFEST,
        media_types::DOCKER_MANIFEST_LIST,
        media_types::DOCKER_MANIFEST,
    ]
    .join(", ")
}

impl Upstream {
    pub fn new(config: UpstreamConfig) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings for the upstream: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("registry-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("the upstream HTTP client: {e}"))?;
        Ok(Upstream {
            config,
            http,
            tokens: std::sync::Mutex::new(HashMap::new()),
            basic: AtomicBool::new(false),
        })
    }

    /// `GET` or `HEAD /v2/<repo>/manifests/<reference>`.
    pub async fn manifest(
        &self,
        repo: &RepositoryName,
        reference: &str,
        method: Method,
    ) -> Result<Response, UpstreamError> {
        let path = format!("{repo}/manifests/{reference}");
        self.send(method, &path, repo, Some(&manifest_accept()))
            .await
    }

    /// `GET` or `HEAD /v2/<repo>/blobs/<digest>`.
    pub async fn blob(
        &self,
        repo: &RepositoryName,
        digest: &Digest,
        method: Method,
    ) -> Result<Response, UpstreamError> {
        let path = format!("{repo}/blobs/{digest}");
        self.send(method, &path, repo, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        repo: &RepositoryName,
        accept: Option<&str>,
    ) -> Result<Response, UpstreamError> {
        let url = format!("{}/v2/{path}", self.config.remote_url);
        let scope = format!("repository:{repo}:pull");
        let mut authorization = self.known_authorization(&scope);
        let mut answered_challenge = false;
        loop {
            let mut request = self.http.request(method.clone(), &url);
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            if let Some(value) = &authorization {
                request = request.header(AUTHORIZATION, value);
            }
            let response = request
                .send()
                .await
                .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
            if response.status() == StatusCode::UNAUTHORIZED && !answered_challenge {
                answered_challenge = true;
                let challenge = response
                    .headers()
                    .get_all(WWW_AUTHENTICATE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(challenge::parse);
                match challenge {
                    Some(Challenge::Bearer {
                        realm,
                        service,
                        scope: asked,
                    }) => {
                        let asked = asked.unwrap_or_else(|| scope.clone());
                        let token = self.fetch_token(&realm, service.as_deref(), &asked).await?;
                        self.remember_token(&scope, &token);
                        authorization = Some(format!("Bearer {}", token.token));
                        continue;
                    }
                    Some(Challenge::Basic) if self.config.credentials.is_some() => {
                        self.basic.store(true, Ordering::Relaxed);
                        authorization = self.basic_authorization();
                        continue;
                    }
                    _ => {}
                }
            }
            return classify(response, path);
        }
    }

    /// What to send before any challenge: a cached token for the scope, or Basic
    /// credentials once the upstream has asked for them.
    fn known_authorization(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cached) = tokens.get(scope)
            && cached.until > Instant::now()
        {
            return Some(format!("Bearer {}", cached.token));
        }
        drop(tokens);
        if self.basic.load(Ordering::Relaxed) {
            return self.basic_authorization();
        }
        None
    }

    fn basic_authorization(&self) -> Option<String> {
        let (user, password) = self.config.credentials.as_ref()?;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Some(format!("Basic {encoded}"))
    }

    fn remember_token(&self, scope: &str, token: &CachedToken) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        tokens.retain(|_, t| t.until > now);
        tokens.insert(
            scope.to_owned(),
            CachedToken {
                token: token.token.clone(),
                until: token.until,
            },
        );
    }

    /// A token from the upstream's token service, with the configured credentials if any.
    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<CachedToken, UpstreamError> {
        let mut url = reqwest::Url::parse(realm)
            .map_err(|e| UpstreamError::Invalid(format!("token realm {realm:?}: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
        }
        let mut request = self.http.get(url).timeout(TOKEN_TIMEOUT);
        if let Some(basic) = self.basic_authorization() {
            request = request.header(AUTHORIZATION, basic);
        }
        let response = request
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(format!("token service: {}", describe(&e))))?;
        let response = classify(response, "token")?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let answer: TokenAnswer = response
            .json()
            .await
            .map_err(|e| UpstreamError::Invalid(format!("token answer: {e}")))?;
        let token = answer
            .token
            .or(answer.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| UpstreamError::Invalid("a token answer without a token".into()))?;
        let seconds = answer.expires_in.unwrap_or(DEFAULT_TOKEN_SECONDS);
        // Renew a little early: a token that expires in flight fails the request.
        let lifetime = Duration::from_secs(seconds.saturating_sub((seconds / 10).min(10)));
        Ok(CachedToken {
            token,
            until: Instant::now() + lifetime,
        })
    }
}

/// A success, or the reason there is none.
fn classify(response: Response, what: &str) -> Result<Response, UpstreamError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(match status {
        StatusCode::NOT_FOUND => UpstreamError::NotFound(what.to_owned()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            UpstreamError::Denied(format!("{status} for {what}"))
        }
        StatusCode::TOO_MANY_REQUESTS => UpstreamError::RateLimited {
            retry_after: response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        },
        other => UpstreamError::Status(other.as_u16()),
    })
}

/// A reqwest error with its causes (the top level alone says only "error sending request").
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
