//! The API tests' harness: real registry servers on loopback, talked to over HTTP with reqwest.
//!
//! Every test file writes its cases as `async fn case(driver: Driver)` and lists them in
//! [`driver_tests!`], which runs each case against the in-memory and the filesystem driver.
//! Every response that goes through [`TestServer::send`] is checked for what the protocol
//! promises on *every* answer: the `Docker-Distribution-API-Version` header and no 5xx.

// Each test binary uses a different part of the harness.
#![allow(dead_code)]

pub mod auth;
pub mod content;
pub mod counting;
pub mod multipart;
pub mod raw;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use registry_core::domain::Digest;
use registry_core::registry::Registry;
use registry_core::storage::Storage;
use registry_core::storage::contract::emulator_env;
use registry_server::config::Config;
use registry_server::{http, startup};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;

pub use content::*;

/// Runs each listed `async fn(Driver)` of the test file once per storage driver, as
/// `inmemory::<case>`, `filesystem::<case>`, `s3::<case>` and `azure::<case>`. The cloud
/// drivers run against the emulators `cargo xtask test` starts; under plain `cargo test`
/// without them, those cases print why and return.
#[macro_export]
macro_rules! driver_tests {
    ($($case:ident),+ $(,)?) => {
        mod inmemory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Driver::InMemory).await;
                }
            )+
        }
        mod filesystem {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case($crate::common::Driver::Filesystem).await;
                }
            )+
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if $crate::common::Driver::S3.available() {
                        super::$case($crate::common::Driver::S3).await;
                    }
                }
            )+
        }
        mod azure {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if $crate::common::Driver::Azure.available() {
                        super::$case($crate::common::Driver::Azure).await;
                    }
                }
            )+
        }
    };
}

/// Like [`driver_tests!`], for cases about presigned URLs: only the drivers that issue them.
#[macro_export]
macro_rules! cloud_driver_tests {
    ($($case:ident),+ $(,)?) => {
        mod s3_presigning {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if $crate::common::Driver::S3.available() {
                        super::$case($crate::common::Driver::S3).await;
                    }
                }
            )+
        }
        mod azure_presigning {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if $crate::common::Driver::Azure.available() {
                        super::$case($crate::common::Driver::Azure).await;
                    }
                }
            )+
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    InMemory,
    Filesystem,
    /// The S3 driver on the emulator named by `REGISTRY_TEST_S3_*`.
    S3,
    /// The Azure driver on Azurite, named by `REGISTRY_TEST_AZURE_*`.
    Azure,
}

const S3_VARS: &[&str] = &[
    "REGISTRY_TEST_S3_ENDPOINT",
    "REGISTRY_TEST_S3_REGION",
    "REGISTRY_TEST_S3_BUCKET",
    "REGISTRY_TEST_S3_ACCESS_KEY",
    "REGISTRY_TEST_S3_SECRET_KEY",
];
const AZURE_VARS: &[&str] = &[
    "REGISTRY_TEST_AZURE_SERVICE_URL",
    "REGISTRY_TEST_AZURE_ACCOUNT",
    "REGISTRY_TEST_AZURE_KEY",
    "REGISTRY_TEST_AZURE_CONTAINER",
];

impl Driver {
    /// False where the backend cannot store the reference layout's sha512 paths: the S3
    /// emulator (s3s-fs) names a file after the base64 of each key, and file names end at 255
    /// bytes, so `blobs/sha512/<2>/<128 hex>/data` does not fit. Real S3 keys take 1024 bytes.
    /// Prints why when it says no.
    pub fn stores_sha512_paths(self) -> bool {
        if self == Driver::S3 {
            eprintln!(
                "sha512 part not run on the S3 emulator: s3s-fs cannot store keys this long \
                 (real S3 can); the same code paths run on the other three drivers"
            );
            return false;
        }
        true
    }

    /// Whether the driver hands out presigned URLs (and so redirects blob downloads).
    pub fn presigns(self) -> bool {
        matches!(self, Driver::S3 | Driver::Azure)
    }

    /// Whether the driver's backend is reachable (cloud drivers need their emulator).
    pub fn available(self) -> bool {
        match self {
            Driver::InMemory | Driver::Filesystem => true,
            Driver::S3 => emulator_env("s3", S3_VARS).is_some(),
            Driver::Azure => emulator_env("azure", AZURE_VARS).is_some(),
        }
    }

    /// The `storage:` driver section for a fresh root on a cloud backend.
    pub fn cloud_yaml(self) -> Option<String> {
        // Short roots: the S3 emulator limits key length.
        let root = format!("/t{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        match self {
            Driver::S3 => {
                let v = emulator_env("s3", S3_VARS)?;
                Some(format!(
                    "s3:\n    regionendpoint: {}\n    region: {}\n    bucket: {}\n    accesskey: {}\n    secretkey: {}\n    forcepathstyle: true\n    rootdirectory: {root}",
                    v[0], v[1], v[2], v[3], v[4]
                ))
            }
            Driver::Azure => {
                let v = emulator_env("azure", AZURE_VARS)?;
                Some(format!(
                    "azure:\n    serviceurl: {}\n    accountname: {}\n    accountkey: {}\n    container: {}\n    rootdirectory: {root}",
                    v[0], v[1], v[2], v[3]
                ))
            }
            Driver::InMemory | Driver::Filesystem => None,
        }
    }
}

/// Registry settings a test varies; everything else is the development default.
#[derive(Debug, Clone)]
pub struct Options {
    pub delete: bool,
    pub read_only: bool,
    /// `catalog.maxentries`, when not the default.
    pub catalog_max_entries: Option<usize>,
    /// `http.prefix`.
    pub prefix: Option<String>,
    /// `http.host`.
    pub host: Option<String>,
    /// The `storage.redirect` settings (YAML lines indented by four spaces); redirects are
    /// off when `None`.
    pub redirect: Option<String>,
    /// A `middleware:` section, verbatim.
    pub middleware: Option<String>,
    /// `http.timeouts.body`, when not the default (a duration such as `1s`).
    pub body_timeout: Option<String>,
    /// `http.timeouts.header`, when not the default.
    pub header_timeout: Option<String>,
    /// Top-level sections appended verbatim (`auth:`, `access:`).
    pub sections: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            delete: true,
            read_only: false,
            catalog_max_entries: None,
            prefix: None,
            host: None,
            redirect: None,
            middleware: None,
            body_timeout: None,
            header_timeout: None,
            sections: None,
        }
    }
}

impl Options {
    pub fn no_delete() -> Self {
        Options {
            delete: false,
            ..Options::default()
        }
    }

    pub fn read_only() -> Self {
        Options {
            read_only: true,
            ..Options::default()
        }
    }
}

/// Where a server's storage lives, so that another server can be started over the same one.
#[derive(Clone)]
enum Backing {
    InMemory(Storage),
    Filesystem(PathBuf),
    /// A cloud driver's configuration section (with its own root).
    Cloud(String),
}

/// One running registry. Dropping it stops the server (tests that finish normally call
/// [`TestServer::stop`], which also waits for the server thread).
pub struct TestServer {
    pub driver: Driver,
    base: String,
    /// The debug listener's base URL (`/debug/health`, `/metrics`).
    pub debug_base: String,
    client: reqwest::Client,
    registry: Registry,
    backing: Backing,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
    /// Owns the temporary filesystem root of the first server over it.
    _root: Option<tempfile::TempDir>,
}

/// The server's configuration. Redirects are off: these tests are about the answers the
/// registry itself gives, whatever presigned URLs a driver may learn to hand out.
fn config_yaml(storage: &str, options: &Options) -> String {
    let redirect = options.redirect.as_deref().unwrap_or("    disable: true\n");
    let mut yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  {storage}\n  redirect:\n{redirect}"
    );
    if options.delete {
        yaml.push_str("  delete:\n    enabled: true\n");
    }
    if options.read_only {
        yaml.push_str("  maintenance:\n    readonly:\n      enabled: true\n");
    }
    if let Some(max) = options.catalog_max_entries {
        yaml.push_str(&format!("catalog:\n  maxentries: {max}\n"));
    }
    // Every server has its debug listener, where the tests read its metrics.
    yaml.push_str(
        "http:\n  addr: 127.0.0.1:0\n  debug:\n    addr: 127.0.0.1:0\n    prometheus:\n      enabled: true\n",
    );
    if let Some(prefix) = &options.prefix {
        yaml.push_str(&format!("  prefix: {prefix}\n"));
    }
    if let Some(host) = &options.host {
        yaml.push_str(&format!("  host: {host}\n"));
    }
    if options.body_timeout.is_some() || options.header_timeout.is_some() {
        yaml.push_str("  timeouts:\n");
    }
    if let Some(body) = &options.body_timeout {
        yaml.push_str(&format!("    body: {body}\n"));
    }
    if let Some(header) = &options.header_timeout {
        yaml.push_str(&format!("    header: {header}\n"));
    }
    if let Some(middleware) = &options.middleware {
        yaml.push_str(middleware);
    }
    if let Some(sections) = &options.sections {
        yaml.push_str(sections);
    }
    yaml
}

impl TestServer {
    /// A server with the default options (deletes enabled) on fresh, empty storage.
    pub async fn start(driver: Driver) -> TestServer {
        Self::start_with(driver, Options::default()).await
    }

    pub async fn start_with(driver: Driver, options: Options) -> TestServer {
        match driver {
            Driver::InMemory => Self::launch(driver, None, &options, None).await,
            Driver::Filesystem => {
                let root = tempfile::tempdir().expect("temporary storage root");
                let backing = Backing::Filesystem(root.path().to_owned());
                Self::launch(driver, Some(backing), &options, Some(root)).await
            }
            Driver::S3 | Driver::Azure => {
                let yaml = driver.cloud_yaml().expect("emulator environment");
                Self::launch(driver, Some(Backing::Cloud(yaml)), &options, None).await
            }
        }
    }

    /// Another server (its own HTTP server, registry and, for the filesystem, its own driver
    /// instance) over the same storage as `self`.
    pub async fn sibling(&self, options: Options) -> TestServer {
        Self::launch(self.driver, Some(self.backing.clone()), &options, None).await
    }

    async fn launch(
        driver: Driver,
        backing: Option<Backing>,
        options: &Options,
        root: Option<tempfile::TempDir>,
    ) -> TestServer {
        let storage_yaml = match &backing {
            Some(Backing::Filesystem(dir)) => format!(
                "filesystem:\n    rootdirectory: {}",
                serde_json::to_string(&dir.display().to_string()).unwrap()
            ),
            Some(Backing::Cloud(yaml)) => yaml.clone(),
            _ => "inmemory: {}".to_owned(),
        };
        let yaml = config_yaml(&storage_yaml, options);
        let config = Config::from_yaml(&yaml, Vec::new()).expect("test configuration");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("loopback port");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let debug_listener =
            std::net::TcpListener::bind(config.http.debug.addr.expect("debug listener"))
                .expect("loopback port");
        let debug_base = format!("http://{}", debug_listener.local_addr().unwrap());

        let shared_memory = match &backing {
            Some(Backing::InMemory(storage)) => Some(storage.clone()),
            _ => None,
        };
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let mut state = startup::build_state(&config)
                    .await
                    .expect("server state from the test configuration");
                if let Some(storage) = shared_memory {
                    // The in-memory driver lives in one process: a sibling shares its storage.
                    let settings = state.registry.settings().clone();
                    state.registry = Registry::new(storage, settings);
                }
                let registry = state.registry.clone();
                let debug =
                    http::debug::serve(startup::debug_state(&config, &state), debug_listener)
                        .expect("debug listener");
                let debug_handle = debug.handle();
                actix_web::rt::spawn(debug);
                let header_timeout = config.http.timeouts.header;
                let server =
                    http::serve(state, listener, Some(1), header_timeout).expect("HTTP server");
                ready_tx.send((server.handle(), registry)).unwrap();
                if let Err(e) = server.await {
                    eprintln!("test server stopped with an error: {e}");
                }
                debug_handle.stop(false).await;
            })
        });
        let (handle, registry) = ready_rx.recv().expect("server started");
        let backing = backing.unwrap_or_else(|| Backing::InMemory(registry.storage().clone()));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        TestServer {
            driver,
            base,
            debug_base,
            client,
            registry,
            backing,
            handle,
            thread: Some(thread),
            _root: root,
        }
    }

    /// Stops the server and waits for its thread.
    pub async fn stop(mut self) {
        self.handle.stop(false).await;
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .expect("server thread panicked");
        }
    }

    /// `host:port` of the server.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The storage the server runs on, for tests that look behind the API.
    pub fn storage(&self) -> &Storage {
        self.registry.storage()
    }

    /// The filesystem root, for the filesystem driver.
    pub fn root_dir(&self) -> Option<&Path> {
        match &self.backing {
            Backing::Filesystem(dir) => Some(dir),
            Backing::InMemory(_) | Backing::Cloud(_) => None,
        }
    }

    /// An absolute URL for a path (`/v2/...`) or a `Location` the server handed out.
    pub fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            format!("{}{path_or_url}", self.base)
        }
    }

    pub fn request(&self, method: Method, path_or_url: &str) -> RequestBuilder {
        self.client.request(method, self.url(path_or_url))
    }

    /// Sends a request and checks what every response must satisfy.
    pub async fn send(&self, request: RequestBuilder) -> Response {
        let request = request.build().expect("well-formed request");
        let what = format!("{} {}", request.method(), request.url());
        let response = self
            .client
            .execute(request)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_api_version(&response, &what);
        assert!(
            !response.status().is_server_error(),
            "{what} answered {}",
            response.status()
        );
        response
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.request(Method::GET, path)).await
    }

    /// The server's metrics, from its debug listener.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.debug_base);
        let response = self.client.get(&url).send().await.expect("metrics");
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        response.text().await.expect("metrics text")
    }

    pub async fn head(&self, path: &str) -> Response {
        self.send(self.request(Method::HEAD, path)).await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Starts an upload session; returns its `Location`.
    pub async fn start_upload(&self, repo: &str) -> String {
        let response = self
            .send(self.request(Method::POST, &format!("/v2/{repo}/blobs/uploads/")))
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "POST upload");
        location(&response)
    }

    /// Pushes a blob in one `POST ?digest=` and returns its digest.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> Digest {
        let digest = Digest::sha256_of(data);
        let response = self
            .send(
                self.request(
                    Method::POST,
                    &format!("/v2/{repo}/blobs/uploads/?digest={digest}"),
                )
                .body(data.to_vec()),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED, "pushing a blob");
        digest
    }

    /// The registry's counters from the debug listener's `/metrics`: (blob bytes served,
    /// redirects issued).
    pub async fn blob_counters(&self) -> (u64, u64) {
        let text = self.metrics().await;
        let counter = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{name} missing from /metrics:\n{text}"))
        };
        (
            counter("registry_blob_bytes_served_total "),
            counter("registry_blob_redirects_total "),
        )
    }

    /// `PUT /v2/<repo>/manifests/<reference>` with `media_type` as Content-Type.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Response {
        self.send(
            self.request(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"))
                .header("Content-Type", media_type)
                .body(body.to_vec()),
        )
        .await
    }

    /// Pushes `manifest` under `reference` and expects 201.
    pub async fn push_manifest(&self, repo: &str, reference: &str, manifest: &Manifest) {
        let response = self
            .put_manifest(repo, reference, &manifest.media_type, &manifest.body)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "PUT manifest {repo}:{reference}: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Pushes the blobs of a small image (config and `layers` layers) into `repo` and returns
    /// its OCI manifest (not pushed). `seed` makes the content unique.
    pub async fn image(&self, repo: &str, seed: u64, layers: usize) -> Manifest {
        self.image_of_type(repo, seed, layers, ImageFormat::Oci)
            .await
    }

    pub async fn image_of_type(
        &self,
        repo: &str,
        seed: u64,
        layers: usize,
        format: ImageFormat,
    ) -> Manifest {
        let config = config_blob(seed);
        let config_digest = self.push_blob(repo, &config).await;
        let mut layer_descriptors = Vec::new();
        for i in 0..layers {
            let data = bytes(seed * 1000 + i as u64, 100 + i * 37);
            let digest = self.push_blob(repo, &data).await;
            layer_descriptors.push((digest, data.len() as u64));
        }
        image_manifest(
            format,
            (&config_digest, config.len() as u64),
            &layer_descriptors,
            None,
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // A test that panicked: stop the server without waiting for it.
            drop(self.handle.stop(false));
        }
    }
}

pub const API_VERSION: &str = "Docker-Distribution-API-Version";

pub fn assert_api_version(response: &Response, what: &str) {
    assert_eq!(
        header(response, API_VERSION).as_deref(),
        Some("registry/2.0"),
        "{what}: every response carries {API_VERSION}"
    );
}

/// A response header as text.
pub fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII header").to_owned())
}

pub fn location(response: &Response) -> String {
    header(response, "Location").expect("a Location header")
}

/// The path of a `Location` from `/v2/` on (absolute Locations name the server that made them).
pub fn path_of(location: &str) -> String {
    match location.find("/v2/") {
        Some(at) => location[at..].to_owned(),
        None => location.to_owned(),
    }
}

/// Checks an error answer: status, the JSON envelope and its first code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) {
    let url = response.url().clone();
    assert_eq!(response.status(), status, "{url}");
    let content_type = header(&response, "Content-Type").unwrap_or_default();
    let text = response.text().await.unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{url}: error Content-Type {content_type:?}"
    );
    assert_error_body(&text, code, url.as_str());
}

/// Checks the envelope `{"errors":[{"code","message","detail"}]}`.
pub fn assert_error_body(text: &str, code: &str, what: &str) {
    let body: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no errors array: {text}"));
    assert!(!errors.is_empty(), "{what}: empty errors: {text}");
    assert_eq!(errors[0]["code"], code, "{what}: {text}");
    assert!(errors[0]["message"].is_string(), "{what}: {text}");
}

pub async fn json(response: Response) -> Value {
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The storage paths of an upload's chunk records (see registry-core's uploads module).
pub async fn upload_records(
    storage: &Storage,
    repo: &registry_core::domain::RepositoryName,
    id: &str,
) -> Vec<String> {
    let dir = registry_core::layout::upload_dir(repo, id);
    let mut records: Vec<String> = storage
        .list(&dir)
        .await
        .expect("the upload's directory")
        .into_iter()
        .map(|p| p.as_str().to_owned())
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|n| n.starts_with("chunk-"))
        })
        .collect();
    records.sort();
    records
}

/// Reads every blob in storage and checks that its bytes hash to the digest it is stored
/// under: the registry's first promise, whatever requests came before.
pub async fn assert_blobs_intact(storage: &Storage) -> usize {
    use futures::StreamExt;
    use registry_core::domain::{Algorithm, DigestHasher};
    let mut blobs = Vec::new();
    let root = registry_core::layout::blobs_root();
    let walked = storage
        .walk(&root, None, &mut |info| {
            if !info.is_dir && info.path.as_str().ends_with("/data") {
                blobs.push(info.path.as_str().to_owned());
            }
            Ok(registry_core::storage::WalkControl::Continue)
        })
        .await;
    match walked {
        Ok(()) => {}
        Err(e) if e.is_not_found() => return 0,
        Err(e) => panic!("walking the blobs: {e}"),
    }
    for blob in &blobs {
        // .../blobs/<alg>/<2 hex>/<hex>/data
        let parts: Vec<&str> = blob.rsplit('/').collect();
        let (hex, algorithm) = (parts[1], parts[3]);
        let algorithm = match algorithm {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            other => panic!("unexpected algorithm directory {other} in {blob}"),
        };
        let mut hasher = DigestHasher::new(algorithm);
        let mut stream = storage.reader(blob, 0).await.expect("a listed blob");
        while let Some(piece) = stream.next().await {
            hasher.update(&piece.expect("reading a blob"));
        }
        let digest = hasher.finish();
        assert_eq!(
            digest.hex(),
            hex,
            "the blob at {blob} does not hash to its name"
        );
    }
    blobs.len()
}
