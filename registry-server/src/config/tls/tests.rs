use std::path::PathBuf;

use rustls::CipherSuite;

use super::super::{Config, ConfigError};
use super::{ClientAuth, TlsConfig, TlsVersion};

const STORAGE: &str = "storage: {inmemory: {}}\n";

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn tls(http_tls: &str, vars: &[(&str, &str)]) -> Result<Option<TlsConfig>, ConfigError> {
    let yaml = format!("{STORAGE}http:\n  tls:\n{http_tls}");
    Config::from_yaml(&yaml, env(vars)).map(|c| c.http.tls)
}

fn error_key(http_tls: &str) -> String {
    tls(http_tls, &[]).unwrap_err().key
}

#[test]
fn no_tls_section_is_plain_http() {
    let config = Config::from_yaml(STORAGE, env(&[])).unwrap();
    assert_eq!(config.http.tls, None);
    // Empty values, as templated configs write them, are no TLS either (the reference's rule).
    assert_eq!(
        tls("    certificate: ''\n    key: ''\n", &[]).unwrap(),
        None
    );
}

#[test]
fn reads_the_reference_keys() {
    let config = tls(
        "    certificate: /etc/tls/chain.pem\n    key: /etc/tls/key.pem\n    clientcas:\n      - /etc/tls/ca1.pem\n      - /etc/tls/ca2.pem\n    minimumtls: tls1.3\n    ciphersuites: [TLS_AES_256_GCM_SHA384]\n",
        &[],
    )
    .unwrap()
    .unwrap();
    assert_eq!(config.certificate, PathBuf::from("/etc/tls/chain.pem"));
    assert_eq!(config.key, PathBuf::from("/etc/tls/key.pem"));
    assert_eq!(
        config.client_cas,
        vec![
            PathBuf::from("/etc/tls/ca1.pem"),
            PathBuf::from("/etc/tls/ca2.pem")
        ]
    );
    assert_eq!(config.client_auth, ClientAuth::RequireAndVerify);
    assert_eq!(config.minimum_version, TlsVersion::Tls13);
    assert_eq!(
        config.cipher_suites,
        Some(vec![CipherSuite::TLS13_AES_256_GCM_SHA384])
    );
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn defaults_are_tls_1_2_and_rustls_suites() {
    let config = tls("    certificate: /c.pem\n    key: /k.pem\n", &[])
        .unwrap()
        .unwrap();
    assert_eq!(config.minimum_version, TlsVersion::Tls12);
    assert_eq!(config.cipher_suites, None);
    assert!(config.client_cas.is_empty());
}

#[test]
fn environment_variables_set_tls() {
    let config = Config::from_yaml(
        STORAGE,
        env(&[
            ("REGISTRY_HTTP_TLS_CERTIFICATE", "/run/cert.pem"),
            ("REGISTRY_HTTP_TLS_KEY", "/run/key.pem"),
            ("REGISTRY_HTTP_TLS_CLIENTCAS_1", "/run/ca2.pem"),
            ("REGISTRY_HTTP_TLS_CLIENTCAS_0", "/run/ca1.pem"),
            ("REGISTRY_HTTP_TLS_MINIMUMTLS", "tls1.3"),
        ]),
    )
    .unwrap();
    let from_env = config.http.tls.unwrap();
    assert_eq!(from_env.certificate, PathBuf::from("/run/cert.pem"));
    assert_eq!(from_env.key, PathBuf::from("/run/key.pem"));
    assert_eq!(
        from_env.client_cas,
        vec![PathBuf::from("/run/ca1.pem"), PathBuf::from("/run/ca2.pem")]
    );
    assert_eq!(from_env.minimum_version, TlsVersion::Tls13);

    // Comma-separated, as this registry's other list keys take them.
    let listed = tls(
        "    certificate: /c.pem\n    key: /k.pem\n",
        &[("REGISTRY_HTTP_TLS_CLIENTCAS", "/run/ca1.pem, /run/ca2.pem")],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        listed.client_cas,
        vec![PathBuf::from("/run/ca1.pem"), PathBuf::from("/run/ca2.pem")]
    );

    // A whole list in one variable, as the reference parses it.
    let listed = tls(
        "    certificate: /c.pem\n    key: /k.pem\n",
        &[(
            "REGISTRY_HTTP_TLS_CIPHERSUITES",
            "[TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]",
        )],
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        listed.cipher_suites,
        Some(vec![
            CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite::TLS13_AES_128_GCM_SHA256
        ])
    );
}

#[test]
fn tls_settings_without_a_certificate_or_key_do_not_fall_back_to_http() {
    assert_eq!(error_key("    key: /k.pem\n"), "http.tls.certificate");
    assert_eq!(
        error_key("    clientcas: [/ca.pem]\n"),
        "http.tls.certificate"
    );
    assert_eq!(
        error_key("    minimumtls: tls1.3\n"),
        "http.tls.certificate"
    );
    assert_eq!(error_key("    certificate: /c.pem\n"), "http.tls.key");
}

#[test]
fn letsencrypt_is_refused_when_active_and_ignored_otherwise() {
    let error = tls(
        "    letsencrypt:\n      cachefile: /var/cache/le\n      email: a@example.com\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(error.key, "http.tls.letsencrypt");
    assert!(error.message.contains("http.tls.certificate"), "{error}");

    // Without a cache file the reference does not use it either.
    let yaml = format!(
        "{STORAGE}http:\n  tls:\n    certificate: /c.pem\n    key: /k.pem\n    letsencrypt:\n      email: a@example.com\n"
    );
    let config = Config::from_yaml(&yaml, env(&[])).unwrap();
    assert!(config.http.tls.is_some());
    assert_eq!(config.ignored_keys, vec!["http.tls.letsencrypt".to_owned()]);
}

#[test]
fn minimum_version() {
    let base = "    certificate: /c.pem\n    key: /k.pem\n";
    for old in ["tls1.0", "tls1.1"] {
        let config = tls(&format!("{base}    minimumtls: {old}\n"), &[])
            .unwrap()
            .unwrap();
        assert_eq!(config.minimum_version, TlsVersion::Tls12);
        assert!(
            config.warnings.iter().any(|w| w.contains("TLS 1.2")),
            "{:?}",
            config.warnings
        );
    }
    assert_eq!(
        error_key(&format!("{base}    minimumtls: ssl3\n")),
        "http.tls.minimumtls"
    );
}

#[test]
fn cipher_suites() {
    let base = "    certificate: /c.pem\n    key: /k.pem\n";
    let suites = |list: &str| tls(&format!("{base}    ciphersuites: {list}\n"), &[]);

    // Go applies the list to TLS 1.2 only: with no TLS 1.3 name, TLS 1.3 keeps all its suites.
    let config = suites("[TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384]")
        .unwrap()
        .unwrap();
    let chosen = config.cipher_suites.unwrap();
    assert_eq!(
        chosen[0],
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
    );
    assert_eq!(chosen.len(), 4, "{chosen:?}");
    assert!(chosen[1..].iter().all(|s| super::is_tls13(*s)));

    // Suites rustls leaves out are warned about and skipped.
    let config = suites("[TLS_RSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]")
        .unwrap()
        .unwrap();
    assert!(
        config.warnings[0].contains("TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{:?}",
        config.warnings
    );
    assert_eq!(
        config.cipher_suites.unwrap()[0],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    );

    // Nothing usable, or a name that is no suite at all: refused.
    let error =
        suites("[TLS_RSA_WITH_RC4_128_SHA, TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA]").unwrap_err();
    assert_eq!(error.key, "http.tls.ciphersuites");
    let error = suites("[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_MADE_UP]").unwrap_err();
    assert_eq!(error.key, "http.tls.ciphersuites");
    assert!(error.message.contains("TLS_MADE_UP"), "{error}");
}

#[test]
fn client_auth_modes() {
    let base = "    certificate: /c.pem\n    key: /k.pem\n    clientcas: [/ca.pem]\n";
    let config = tls(
        &format!("{base}    clientauth: verify-client-cert-if-given\n"),
        &[],
    )
    .unwrap()
    .unwrap();
    assert_eq!(config.client_auth, ClientAuth::VerifyIfGiven);
    // Accepting unverified certificates is not offered: refused, not weakened silently.
    for mode in [
        "request-client-cert",
        "require-any-client-cert",
        "sometimes",
    ] {
        assert_eq!(
            error_key(&format!("{base}    clientauth: {mode}\n")),
            "http.tls.clientauth",
            "{mode}"
        );
    }
}
