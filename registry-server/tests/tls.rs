//! HTTPS (`http.tls`) against the registry binary: a client trusting the test CA is served
//! over HTTP/2 or HTTP/1.1 and one without it is refused; mutual TLS wants a certificate from
//! `clientcas`; `minimumtls` and `ciphersuites` bound what is negotiated; a rotated
//! certificate is served to new connections while open ones carry on, and a bad new pair
//! leaves the old one serving; unusable files stop startup with a configuration error.

#[path = "tls/pki.rs"]
mod pki;

use std::io;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pki::{Ca, Leaf};
use registry_core::domain::Digest;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CipherSuite, ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The registry binary serving HTTPS with a certificate and key from its own directory;
/// killed when dropped.
struct Registry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Lines under `http.tls` beyond certificate and key, and lines under `http`.
#[derive(Default)]
struct Settings {
    tls: String,
    http: String,
}

impl Registry {
    async fn start(server: &Leaf, settings: Settings) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
        Self::start_in(dir, settings).await
    }

    /// Starts the binary on a port the system picks (port 0) and reads the port from its
    /// startup line: probing for a free port first races with the other tests.
    async fn start_in(dir: tempfile::TempDir, settings: Settings) -> Registry {
        let mut child = spawn(&dir, 0, &settings);
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "the registry exited ({status}):\n{}",
                    read_log(&dir.path().join("stderr.log"))
                );
            }
            let log = read_log(&dir.path().join("stderr.log"));
            let port = log
                .lines()
                .filter(|l| l.contains("registry listening"))
                .find_map(|l| l.split("addr=127.0.0.1:").nth(1))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|port| port.parse::<u16>().ok());
            if let Some(port) = port
                && TcpStream::connect(("127.0.0.1", port)).await.is_ok()
            {
                return Registry { child, port, dir };
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the registry did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Replaces the served files, certificate first, as a renewal tool writes them.
    fn rotate(&self, chain_pem: &str, key_pem: &str) {
        std::fs::write(self.dir.path().join("cert.pem"), chain_pem).unwrap();
        std::fs::write(self.dir.path().join("key.pem"), key_pem).unwrap();
    }

    fn log(&self) -> String {
        read_log(&self.dir.path().join("stderr.log"))
    }

    /// Waits until the log holds `count` lines containing `what`.
    async fn wait_for_log(&self, what: &str, count: usize) {
        let started = Instant::now();
        while self.log().matches(what).count() < count {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no {what:?} in the log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Handshakes until the server presents `expected`; returns how long that took.
    async fn wait_for_certificate(&self, client: &Arc<ClientConfig>, expected: &Leaf) -> Duration {
        let started = Instant::now();
        loop {
            let stream = connect(self.port, client).await.expect("handshake");
            if peer_certificate(&stream) == expected.der {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the new certificate was not served:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn config_yaml(dir: &std::path::Path, port: u16, settings: &Settings) -> String {
    format!(
        "version: 0.1\nlog:\n  level: info\nstorage:\n  inmemory: {{}}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n{http}  tls:\n    certificate: {cert}\n    key: {key}\n{tls}",
        http = settings.http,
        cert = dir.join("cert.pem").display(),
        key = dir.join("key.pem").display(),
        tls = settings.tls,
    )
}

fn spawn(dir: &tempfile::TempDir, port: u16, settings: &Settings) -> Child {
    let path = dir.path().join("config.yml");
    std::fs::write(&path, config_yaml(dir.path(), port, settings)).unwrap();
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
    Command::new(env!("CARGO_BIN_EXE_registry"))
        .arg("serve")
        .arg(&path)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("the registry binary")
}

fn read_log(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// How a test client connects.
struct Client {
    trust: Vec<CertificateDer<'static>>,
    identity: Option<(
        Vec<CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    )>,
    versions: Vec<&'static SupportedProtocolVersion>,
    suites: Option<Vec<CipherSuite>>,
    alpn: Vec<Vec<u8>>,
}

impl Client {
    fn trusting(ca: &Ca) -> Client {
        Client {
            trust: vec![ca.der()],
            identity: None,
            versions: vec![&rustls::version::TLS13, &rustls::version::TLS12],
            suites: None,
            alpn: Vec::new(),
        }
    }

    fn with_identity(mut self, leaf: &Leaf) -> Client {
        self.identity = Some(leaf.identity());
        self
    }

    fn tls12_only(mut self) -> Client {
        self.versions = vec![&rustls::version::TLS12];
        self
    }

    fn tls13_only(mut self) -> Client {
        self.versions = vec![&rustls::version::TLS13];
        self
    }

    fn offering(mut self, suites: &[CipherSuite]) -> Client {
        self.suites = Some(suites.to_vec());
        self
    }

    fn alpn(mut self, protocols: &[&[u8]]) -> Client {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    fn config(&self) -> Arc<ClientConfig> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        if let Some(suites) = &self.suites {
            provider
                .cipher_suites
                .retain(|s| suites.contains(&s.suite()));
        }
        let mut roots = RootCertStore::empty();
        for ca in &self.trust {
            roots.add(ca.clone()).unwrap();
        }
        let builder = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&self.versions)
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match &self.identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = self.alpn.clone();
        Arc::new(config)
    }
}

async fn connect(port: u16, config: &Arc<ClientConfig>) -> io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        TlsConnector::from(config.clone()).connect(name, tcp),
    )
    .await
    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "handshake timed out"))?
}

fn peer_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a server certificate")[0]
        .clone()
}

/// One HTTP/1.1 GET on an open connection; the status. The connection stays usable.
async fn get(stream: &mut TlsStream<TcpStream>, path: &str) -> io::Result<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before an answer",
            ));
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("a Content-Length"));
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).await?;
    Ok(status)
}

/// A fresh connection, one GET /v2/: the status, or why the connection failed.
async fn get_v2(port: u16, config: &Arc<ClientConfig>) -> io::Result<u16> {
    let mut stream = connect(port, config).await?;
    get(&mut stream, "/v2/").await
}

/// A refusal at the TLS level: no HTTP answer came back.
async fn assert_refused(port: u16, config: &Arc<ClientConfig>, what: &str) -> String {
    match get_v2(port, config).await {
        Ok(status) => panic!("{what}: answered {status}"),
        Err(e) => e.to_string(),
    }
}

fn reqwest_client(port: u16, config: &Arc<ClientConfig>) -> reqwest::Client {
    reqwest::Client::builder()
        .use_preconfigured_tls((**config).clone())
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_the_test_ca_over_http2_and_http1() {
    let ca = Ca::new("test CA");
    let server = ca.server("registry", 1);
    let registry = Registry::start(&server, Settings::default()).await;
    let base = format!("https://localhost:{}", registry.port);

    let h2 = Client::trusting(&ca).alpn(&[b"h2", b"http/1.1"]).config();
    let client = reqwest_client(registry.port, &h2);
    let response = client.get(format!("{base}/v2/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(
        response.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );

    // A push and a pull over HTTP/2: a body of many frames in each direction.
    let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 251) as u8).collect();
    let digest = Digest::sha256_of(&data);
    let pushed = client
        .post(format!("{base}/v2/tls/test/blobs/uploads/?digest={digest}"))
        .body(data.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    assert_eq!(pushed.version(), reqwest::Version::HTTP_2);
    let pulled = client
        .get(format!("{base}/v2/tls/test/blobs/{digest}"))
        .send()
        .await
        .unwrap();
    assert_eq!(pulled.status(), 200);
    assert!(
        pulled.bytes().await.unwrap() == data,
        "the blob came back different"
    );

    let h1 = Client::trusting(&ca).alpn(&[b"http/1.1"]).config();
    let response = reqwest_client(registry.port, &h1)
        .get(format!("{base}/v2/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // Without ALPN: HTTP/1.1, and the server presents the configured certificate.
    let mut stream = connect(registry.port, &Client::trusting(&ca).config())
        .await
        .unwrap();
    assert_eq!(peer_certificate(&stream), server.der);
    assert_eq!(stream.get_ref().1.alpn_protocol(), None);
    assert_eq!(get(&mut stream, "/v2/").await.unwrap(), 200);

    // A client that does not trust the test CA does not complete the handshake.
    let stranger = Client::trusting(&Ca::new("another CA")).config();
    let error = assert_refused(registry.port, &stranger, "a client without the CA").await;
    assert!(error.contains("UnknownIssuer"), "{error}");
    let log = registry.log();
    assert!(
        log.contains("tls=tls") || log.contains("tls=\"tls\""),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_wants_a_certificate_from_clientcas() {
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let server = ca.server("registry", 1);
    std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
    // Two files, as the reference allows; the client CA is in the second.
    std::fs::write(dir.path().join("ca1.pem"), Ca::new("unrelated CA").pem()).unwrap();
    std::fs::write(dir.path().join("ca2.pem"), client_ca.pem()).unwrap();
    let tls = format!(
        "    clientcas:\n      - {}\n      - {}\n",
        dir.path().join("ca1.pem").display(),
        dir.path().join("ca2.pem").display()
    );
    let settings = Settings {
        tls,
        ..Settings::default()
    };
    let registry = Registry::start_in(dir, settings).await;

    let with_certificate = Client::trusting(&ca)
        .with_identity(&client_ca.client("alice"))
        .config();
    assert_eq!(get_v2(registry.port, &with_certificate).await.unwrap(), 200);
    // Over TLS 1.2 as well, where the refusal comes during the handshake itself.
    let tls12 = Client::trusting(&ca)
        .with_identity(&client_ca.client("bob"))
        .tls12_only()
        .config();
    assert_eq!(get_v2(registry.port, &tls12).await.unwrap(), 200);

    for (what, client) in [
        ("no client certificate", Client::trusting(&ca)),
        (
            "no client certificate, TLS 1.2",
            Client::trusting(&ca).tls12_only(),
        ),
        (
            "a certificate from another CA",
            Client::trusting(&ca).with_identity(&Ca::new("rogue CA").client("mallory")),
        ),
        (
            "a client certificate from the server's CA",
            Client::trusting(&ca).with_identity(&ca.client("eve")),
        ),
    ] {
        // The server's alert: CertificateRequired without a certificate, UnknownCA otherwise.
        let error = assert_refused(registry.port, &client.config(), what).await;
        assert!(error.contains("received fatal alert"), "{what}: {error}");
    }
    let log = registry.log();
    assert!(
        log.contains("mutual tls (client certificate required)"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_client_cert_if_given_lets_clients_without_one_in() {
    let ca = Ca::new("server CA");
    let client_ca = Ca::new("client CA");
    let dir = tempfile::tempdir().unwrap();
    let server = ca.server("registry", 1);
    std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
    std::fs::write(dir.path().join("ca.pem"), client_ca.pem()).unwrap();
    let tls = format!(
        "    clientcas: [{}]\n    clientauth: verify-client-cert-if-given\n",
        dir.path().join("ca.pem").display()
    );
    let registry = Registry::start_in(
        dir,
        Settings {
            tls,
            ..Settings::default()
        },
    )
    .await;
    let anonymous = Client::trusting(&ca).config();
    assert_eq!(get_v2(registry.port, &anonymous).await.unwrap(), 200);
    let signed = Client::trusting(&ca)
        .with_identity(&client_ca.client("alice"))
        .config();
    assert_eq!(get_v2(registry.port, &signed).await.unwrap(), 200);
    let rogue = Client::trusting(&ca)
        .with_identity(&Ca::new("rogue CA").client("mallory"))
        .config();
    let error = assert_refused(registry.port, &rogue, "a certificate from another CA").await;
    assert!(error.contains("UnknownCA"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_certificate_is_served_to_new_connections() {
    let ca = Ca::new("test CA");
    let first = ca.server("first", 1);
    let settings = Settings {
        // Long enough for the open connection to outlive the rotation.
        http: "  timeouts:\n    header: 60s\n".into(),
        ..Settings::default()
    };
    let registry = Registry::start(&first, settings).await;
    let client = Client::trusting(&ca).config();

    let mut open = connect(registry.port, &client).await.unwrap();
    assert_eq!(peer_certificate(&open), first.der);
    assert_eq!(get(&mut open, "/v2/").await.unwrap(), 200);

    let second = ca.server("second", 2);
    registry.rotate(&second.chain_pem, &second.key_pem);
    let took = registry.wait_for_certificate(&client, &second).await;
    eprintln!("the rotated certificate was served after {took:?}");
    registry.wait_for_log("TLS certificate reloaded", 1).await;
    // The connection opened before the rotation goes on with the old certificate.
    assert_eq!(get(&mut open, "/v2/").await.unwrap(), 200);
    assert_eq!(peer_certificate(&open), first.der);

    // A key that does not belong to the new certificate: the old pair stays, and says why.
    let third = ca.server("third", 3);
    let unrelated = ca.server("unrelated", 4);
    registry.rotate(&third.chain_pem, &unrelated.key_pem);
    registry
        .wait_for_log("TLS certificate not reloaded", 1)
        .await;
    let mut stream = connect(registry.port, &client).await.unwrap();
    assert_eq!(peer_certificate(&stream), second.der);
    assert_eq!(get(&mut stream, "/v2/").await.unwrap(), 200);

    // Garbage, likewise.
    registry.rotate("-----BEGIN CERTIFICATE-----\nnot base64\n", &third.key_pem);
    registry
        .wait_for_log("TLS certificate not reloaded", 2)
        .await;
    let stream = connect(registry.port, &client).await.unwrap();
    assert_eq!(peer_certificate(&stream), second.der);

    // And a good pair after the failures is picked up.
    registry.rotate(&third.chain_pem, &third.key_pem);
    registry.wait_for_certificate(&client, &third).await;
    assert_eq!(get(&mut open, "/v2/").await.unwrap(), 200);

    let log = registry.log();
    assert!(log.contains("does not belong"), "{log}");
    // Each failure is logged once, however many polls see the same files.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let log = registry.log();
    assert_eq!(
        log.matches("TLS certificate not reloaded").count(),
        2,
        "{log}"
    );
    // No key material in the log.
    for leaf in [&first, &second, &third, &unrelated] {
        for line in leaf.key_pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!log.contains(line), "key material in the log:\n{log}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimum_tls_1_3_refuses_a_tls_1_2_client() {
    let ca = Ca::new("test CA");
    let server = ca.server("registry", 1);

    let default = Registry::start(&server, Settings::default()).await;
    let mut stream = connect(default.port, &Client::trusting(&ca).tls12_only().config())
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    assert_eq!(get(&mut stream, "/v2/").await.unwrap(), 200);

    let strict = Registry::start(
        &server,
        Settings {
            tls: "    minimumtls: tls1.3\n".into(),
            ..Settings::default()
        },
    )
    .await;
    let error = assert_refused(
        strict.port,
        &Client::trusting(&ca).tls12_only().config(),
        "a TLS 1.2 client",
    )
    .await;
    assert!(error.contains("ProtocolVersion"), "{error}");
    let mut stream = connect(strict.port, &Client::trusting(&ca).config())
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );
    assert_eq!(get(&mut stream, "/v2/").await.unwrap(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cipher_suites_restrict_what_is_negotiated() {
    let ca = Ca::new("test CA");
    let server = ca.server("registry", 1);
    let registry = Registry::start(
        &server,
        Settings {
            tls: "    ciphersuites:\n      - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n      - TLS_RSA_WITH_AES_128_CBC_SHA\n      - TLS_CHACHA20_POLY1305_SHA256\n".into(),
            ..Settings::default()
        },
    )
    .await;
    let negotiated = |stream: &TlsStream<TcpStream>| {
        stream
            .get_ref()
            .1
            .negotiated_cipher_suite()
            .map(|s| s.suite())
    };

    let stream = connect(registry.port, &Client::trusting(&ca).tls12_only().config())
        .await
        .unwrap();
    assert_eq!(
        negotiated(&stream),
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
    );
    let stream = connect(registry.port, &Client::trusting(&ca).tls13_only().config())
        .await
        .unwrap();
    assert_eq!(
        negotiated(&stream),
        Some(CipherSuite::TLS13_CHACHA20_POLY1305_SHA256)
    );
    for (what, suite) in [
        (
            "TLS 1.2, another suite",
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS 1.3, another suite",
            CipherSuite::TLS13_AES_128_GCM_SHA256,
        ),
    ] {
        let client = Client::trusting(&ca).offering(&[suite]).config();
        let error = assert_refused(registry.port, &client, what).await;
        assert!(error.contains("HandshakeFailure"), "{what}: {error}");
    }
    let log = registry.log();
    assert!(
        log.contains("not implemented by rustls: TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{log}"
    );
    assert!(!log.contains("fits the certificate's key"), "{log}");

    // RSA suites only, with an ECDSA certificate: TLS 1.2 has nothing to agree on, and the
    // startup log says so.
    let mismatched = Registry::start(
        &server,
        Settings {
            tls: "    ciphersuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]\n".into(),
            ..Settings::default()
        },
    )
    .await;
    let client = Client::trusting(&ca).tls12_only().config();
    assert_refused(mismatched.port, &client, "TLS 1.2 without a usable suite").await;
    let client = Client::trusting(&ca).config();
    assert_eq!(get_v2(mismatched.port, &client).await.unwrap(), 200);
    let log = mismatched.log();
    assert!(log.contains("fits the certificate's key"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_cut_off_before_the_handshake() {
    let ca = Ca::new("test CA");
    let registry = Registry::start(
        &ca.server("registry", 1),
        Settings {
            http: "  timeouts:\n    header: 1s\n".into(),
            ..Settings::default()
        },
    )
    .await;
    let mut stream = TcpStream::connect(("127.0.0.1", registry.port))
        .await
        .unwrap();
    let started = Instant::now();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut buffer))
        .await
        .expect("the server kept a connection without a handshake open");
    let waited = started.elapsed();
    assert!(buffer.is_empty(), "{read:?}");
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(10),
        "closed after {waited:?}"
    );
    // A client that shakes hands in time is served.
    assert_eq!(
        get_v2(registry.port, &Client::trusting(&ca).config())
            .await
            .unwrap(),
        200
    );
}

/// Files the registry cannot use stop it at startup: exit code 2 and one line naming the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_files_stop_startup_naming_the_key() {
    let ca = Ca::new("test CA");
    let server = ca.server("registry", 1);
    let other = ca.server("other", 2);
    type Damage<'a> = Box<dyn Fn(&std::path::Path) + 'a>;
    let cases: [(&str, Damage<'_>, &str); 5] = [
        (
            "a missing certificate",
            Box::new(|dir| std::fs::remove_file(dir.join("cert.pem")).unwrap()),
            "http.tls.certificate",
        ),
        (
            "a certificate file without a certificate",
            Box::new(|dir| std::fs::write(dir.join("cert.pem"), "hello\n").unwrap()),
            "http.tls.certificate",
        ),
        (
            "a key that is not the certificate's",
            Box::new(|dir| std::fs::write(dir.join("key.pem"), &other.key_pem).unwrap()),
            "http.tls.key",
        ),
        (
            "an unreadable key",
            Box::new(|dir| std::fs::write(dir.join("key.pem"), "").unwrap()),
            "http.tls.key",
        ),
        (
            "a clientcas file without a certificate",
            Box::new(|dir| std::fs::write(dir.join("ca.pem"), &server.key_pem).unwrap()),
            "http.tls.clientcas",
        ),
    ];
    for (what, damage, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
        std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        damage(dir.path());
        let tls = format!("    clientcas: [{}]\n", dir.path().join("ca.pem").display());
        let settings = Settings {
            tls,
            ..Settings::default()
        };
        let mut child = spawn(&dir, 9, &settings);
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        let log = read_log(&dir.path().join("stderr.log"));
        assert_eq!(status.code(), Some(2), "{what}: {log}");
        let lines: Vec<&str> = log.lines().collect();
        assert_eq!(lines.len(), 1, "{what}: {log}");
        assert!(
            lines[0].starts_with(&format!("registry: configuration error: {key}: ")),
            "{what}: {log}"
        );
        assert!(!log.contains("PRIVATE KEY"), "{what}: {log}");
    }

    // Let's Encrypt is not available here, which the operator learns at startup too.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
    let settings = Settings {
        tls: "    letsencrypt:\n      cachefile: /tmp/le-cache\n".into(),
        ..Settings::default()
    };
    let mut child = spawn(&dir, 9, &settings);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    let log = read_log(&dir.path().join("stderr.log"));
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.starts_with("registry: configuration error: http.tls.letsencrypt: "),
        "{log}"
    );
}

/// `check-config` opens the files too, so a bad deployment is caught before it is rolled out.
#[test]
fn check_config_reads_the_files() {
    let ca = Ca::new("test CA");
    let server = ca.server("registry", 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &server.chain_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &server.key_pem).unwrap();
    let path: PathBuf = dir.path().join("config.yml");
    std::fs::write(&path, config_yaml(dir.path(), 9, &Settings::default())).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_registry"))
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap()
    };
    let ok = check();
    assert!(ok.status.success(), "{ok:?}");
    std::fs::write(dir.path().join("key.pem"), ca.server("other", 2).key_pem).unwrap();
    let bad = check();
    assert_eq!(bad.status.code(), Some(2), "{bad:?}");
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("http.tls.key"),
        "{bad:?}"
    );
}
