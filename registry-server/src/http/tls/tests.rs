use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::CipherSuite;

use super::{TlsServer, provider};
use crate::config::{ClientAuth, TlsConfig, TlsVersion};

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// A server certificate (PEM, with the CA after it) and its key (PEM).
fn leaf(ca: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, ca).unwrap();
    (format!("{}{}", cert.pem(), ca.pem()), key.serialize_pem())
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn missing(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

fn settings(certificate: &Path, key: &Path, client_cas: Vec<PathBuf>) -> TlsConfig {
    TlsConfig {
        certificate: certificate.to_owned(),
        key: key.to_owned(),
        client_cas,
        client_auth: ClientAuth::RequireAndVerify,
        minimum_version: TlsVersion::Tls12,
        cipher_suites: None,
        warnings: Vec::new(),
    }
}

/// The configuration error's key, checking that the message names the file and quotes
/// nothing of the key.
fn load_error(settings: &TlsConfig, path: &Path, key_pem: &str) -> String {
    let error = TlsServer::load(settings).unwrap_err();
    let text = error.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!text.contains(line), "{text}");
    }
    error.key
}

#[test]
fn a_chain_and_its_key_load() {
    let files = Files::new();
    let (chain, key) = leaf(&ca("test CA"));
    let cert_path = files.write("chain.pem", &chain);
    let key_path = files.write("key.pem", &key);
    let server = TlsServer::load(&settings(&cert_path, &key_path, Vec::new())).unwrap();
    assert_eq!(server.mode(), "tls");

    let ca_path = files.write("ca.pem", &ca("client CA").pem());
    let server = TlsServer::load(&settings(&cert_path, &key_path, vec![ca_path])).unwrap();
    assert!(server.mode().starts_with("mutual tls"), "{}", server.mode());
}

#[test]
fn unusable_files_name_their_key() {
    let files = Files::new();
    let authority = ca("test CA");
    let (chain, key) = leaf(&authority);
    let (_, other_key) = leaf(&authority);
    let cert_path = files.write("chain.pem", &chain);
    let key_path = files.write("key.pem", &key);
    let garbage = files.write("garbage.pem", "not a certificate\n");
    let missing = files.missing("absent.pem");
    let other_key_path = files.write("other-key.pem", &other_key);
    // A key whose base64 is broken: the parser's complaint must not carry it into the error.
    let broken_key = key.replacen("\n", "\n%%", 2);
    let broken_key_path = files.write("broken-key.pem", &broken_key);

    let cases = [
        (
            settings(&missing, &key_path, vec![]),
            &missing,
            "http.tls.certificate",
        ),
        (
            settings(&garbage, &key_path, vec![]),
            &garbage,
            "http.tls.certificate",
        ),
        (
            settings(&key_path, &key_path, vec![]),
            &key_path,
            "http.tls.certificate",
        ),
        (
            settings(&cert_path, &missing, vec![]),
            &missing,
            "http.tls.key",
        ),
        (
            settings(&cert_path, &garbage, vec![]),
            &garbage,
            "http.tls.key",
        ),
        (
            settings(&cert_path, &cert_path, vec![]),
            &cert_path,
            "http.tls.key",
        ),
        (
            settings(&cert_path, &other_key_path, vec![]),
            &other_key_path,
            "http.tls.key",
        ),
        (
            settings(&cert_path, &broken_key_path, vec![]),
            &broken_key_path,
            "http.tls.key",
        ),
        (
            settings(&cert_path, &key_path, vec![missing.clone()]),
            &missing,
            "http.tls.clientcas",
        ),
        (
            settings(&cert_path, &key_path, vec![garbage.clone()]),
            &garbage,
            "http.tls.clientcas",
        ),
    ];
    for (settings, path, config_key) in cases {
        let secret = if path == &broken_key_path {
            &broken_key
        } else {
            &key
        };
        assert_eq!(
            load_error(&settings, path, secret),
            config_key,
            "{}",
            path.display()
        );
    }
}

#[test]
fn a_mismatched_key_says_so() {
    let files = Files::new();
    let authority = ca("test CA");
    let (chain, _) = leaf(&authority);
    let (_, other_key) = leaf(&authority);
    let cert_path = files.write("chain.pem", &chain);
    let key_path = files.write("key.pem", &other_key);
    let error = TlsServer::load(&settings(&cert_path, &key_path, Vec::new())).unwrap_err();
    assert_eq!(error.key, "http.tls.key");
    assert!(error.message.contains("does not belong"), "{error}");
}

#[test]
fn the_provider_offers_only_the_configured_suites() {
    let files = Files::new();
    let mut settings = settings(&files.missing("c"), &files.missing("k"), Vec::new());
    assert_eq!(provider(&settings).cipher_suites.len(), 9);
    settings.cipher_suites = Some(vec![
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite::TLS13_AES_128_GCM_SHA256,
    ]);
    let mut offered: Vec<CipherSuite> = provider(&settings)
        .cipher_suites
        .iter()
        .map(|s| s.suite())
        .collect();
    offered.sort_by_key(|s| u16::from(*s));
    assert_eq!(
        offered,
        vec![
            CipherSuite::TLS13_AES_128_GCM_SHA256,
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ]
    );
}
