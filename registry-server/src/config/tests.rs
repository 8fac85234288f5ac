use super::*;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_embedded_default_is_a_local_filesystem_registry() {
    let config = Config::from_yaml(DEFAULT_CONFIG, env(&[])).unwrap();
    assert_eq!(config.storage.driver, "filesystem");
    assert_eq!(
        config
            .storage
            .parameters
            .string("rootdirectory")
            .unwrap()
            .as_deref(),
        Some("./data")
    );
    assert_eq!(config.http.addr.to_string(), "127.0.0.1:5000");
    assert!(config.storage.delete_enabled);
    assert!(config.storage.redirect.enabled);
    assert_eq!(config.storage.redirect.expiry, Duration::from_secs(1200));
    assert_eq!(config.http.workers, None);
}

#[test]
fn http_workers_is_set_by_file_or_environment() {
    let config =
        Config::from_yaml("storage: {inmemory: {}}\nhttp: {workers: 3}", env(&[])).unwrap();
    assert_eq!(config.http.workers, Some(3));
    let config = Config::from_yaml(
        "storage: {inmemory: {}}",
        env(&[("REGISTRY_HTTP_WORKERS", "1")]),
    )
    .unwrap();
    assert_eq!(config.http.workers, Some(1));
}

#[test]
fn reads_a_reference_registry_config() {
    let yaml = r#"
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
  maintenance:
    readonly:
      enabled: true
http:
  addr: :5000
  secret: asecretforlocaldevelopment
  host: https://registry.example.com/
  prefix: /mirror/
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
"#;
    let config = Config::from_yaml(yaml, env(&[])).unwrap();
    assert_eq!(config.storage.driver, "filesystem");
    assert!(config.storage.read_only);
    assert_eq!(config.http.addr.port(), 5000);
    assert_eq!(
        config.http.host.as_deref(),
        Some("https://registry.example.com")
    );
    assert_eq!(config.http.prefix, "/mirror");
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
    assert_eq!(
        config.health.storage_driver,
        Some(crate::health::Schedule {
            interval: Duration::from_secs(10),
            threshold: 1
        })
    );
}

#[test]
fn environment_overrides_keys_and_the_driver() {
    let yaml = "storage:\n  filesystem:\n    rootdirectory: /a\nhttp:\n  addr: 127.0.0.1:1\n";
    let config = Config::from_yaml(
        yaml,
        env(&[
            ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/b"),
            ("REGISTRY_HTTP_ADDR", "127.0.0.1:7000"),
            ("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
            ("REGISTRY_TEST_SOMETHING", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(
        config
            .storage
            .parameters
            .string("rootdirectory")
            .unwrap()
            .as_deref(),
        Some("/b")
    );
    assert_eq!(config.http.addr.port(), 7000);
    assert!(config.storage.delete_enabled);

    let switched = Config::from_yaml(
        yaml,
        env(&[
            ("REGISTRY_STORAGE", "s3"),
            ("REGISTRY_STORAGE_S3_REGION", "eu-west-1"),
        ]),
    )
    .unwrap();
    assert_eq!(switched.storage.driver, "s3");
    assert_eq!(
        switched
            .storage
            .parameters
            .string("region")
            .unwrap()
            .as_deref(),
        Some("eu-west-1")
    );
}

#[test]
fn bad_values_name_their_key() {
    let cases = [
        ("storage: {}", "storage"),
        ("storage: {filesystem: {}, inmemory: {}}", "storage"),
        (
            "storage: {inmemory: {}, delete: {enabled: maybe}}",
            "storage.delete.enabled",
        ),
        (
            "storage: {inmemory: {}}\nhttp: {addr: 'nonsense'}",
            "http.addr",
        ),
        ("storage: {inmemory: {}}\nlog: {level: loud}", "log.level"),
        (
            "storage: {inmemory: {}}\ncatalog: {maxentries: -1}",
            "catalog.maxentries",
        ),
        (
            "storage: {inmemory: {}}\nhttp: {workers: 0}",
            "http.workers",
        ),
        (
            "storage: {inmemory: {}, redirect: {expiry: soon}}",
            "storage.redirect.expiry",
        ),
        ("storage: [1, 2]", "storage"),
        ("{{{", "config file"),
    ];
    for (yaml, key) in cases {
        let err = Config::from_yaml(yaml, env(&[])).unwrap_err();
        assert_eq!(err.key, key, "{yaml}: {err}");
    }
}

#[test]
fn redirect_targets() {
    let public = Config::from_yaml(
        "storage: {inmemory: {}, redirect: {publicurl: 'https://files.example.com/', expiry: 90s}}",
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        public.storage.redirect.target,
        RedirectTarget::PublicOrigin("https://files.example.com".into())
    );
    assert_eq!(public.storage.redirect.expiry, Duration::from_secs(90));

    let middleware = Config::from_yaml(
        "storage: {inmemory: {}}\nmiddleware:\n  storage:\n    - name: redirect\n      options:\n        baseurl: https://cdn.example.com/\n    - name: cloudfront\n",
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        middleware.storage.redirect.target,
        RedirectTarget::BaseUrl("https://cdn.example.com/".into())
    );
    assert_eq!(
        middleware.ignored_keys,
        vec!["middleware.storage[1] (cloudfront)".to_owned()]
    );

    let bad = Config::from_yaml(
        "storage: {inmemory: {}, redirect: {publicurl: 'https://a/b'}}",
        env(&[]),
    )
    .unwrap_err();
    assert_eq!(bad.key, "storage.redirect.publicurl");
}

#[test]
fn an_empty_driver_from_the_environment_is_refused() {
    let yaml = "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /tmp/x\n";
    let env = vec![("REGISTRY_STORAGE".to_owned(), String::new())];
    let error = Config::from_yaml(yaml, env).unwrap_err();
    assert_eq!(error.key, "storage");
}

const STORAGE: &str = "storage: {inmemory: {}}\n";

fn auth_error(yaml: &str, vars: &[(&str, &str)]) -> ConfigError {
    Config::from_yaml(&format!("{STORAGE}{yaml}"), env(vars)).expect_err(yaml)
}

#[test]
fn reads_the_reference_auth_sections() {
    let config = Config::from_yaml(
        &format!(
            "{STORAGE}auth:\n  htpasswd:\n    realm: Registry Realm\n    path: /auth/htpasswd\n"
        ),
        env(&[]),
    )
    .unwrap();
    assert_eq!(
        config.auth,
        AuthConfig::Htpasswd {
            realm: "Registry Realm".into(),
            path: "/auth/htpasswd".into()
        }
    );
    let config = Config::from_yaml(
        &format!(
            "{STORAGE}auth:\n  token:\n    realm: https://auth.example.com/token\n    service: registry.example.com\n    issuer: auth-service\n    rootcertbundle: /certs/bundle.pem\n    signingalgorithms: [RS256, ES256]\n"
        ),
        env(&[]),
    )
    .unwrap();
    let AuthConfig::Token(token) = config.auth else {
        panic!("token auth")
    };
    assert_eq!(token.service, "registry.example.com");
    assert_eq!(token.issuer, "auth-service");
    assert_eq!(
        token.root_cert_bundle.as_deref(),
        Some(std::path::Path::new("/certs/bundle.pem"))
    );
    assert_eq!(
        token.algorithms,
        [
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::Algorithm::ES256
        ]
    );
    assert_eq!(token.auto_redirect_path, None);
    assert!(config.ignored_keys.is_empty(), "{:?}", config.ignored_keys);
}

/// The reference's documented `docker run` form: `REGISTRY_AUTH=htpasswd` and its keys.
#[test]
fn auth_is_set_by_the_environment() {
    let config = Config::from_yaml(
        STORAGE,
        env(&[
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/auth/htpasswd"),
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "Registry Realm"),
        ]),
    )
    .unwrap();
    assert!(matches!(config.auth, AuthConfig::Htpasswd { .. }));
    // Switching type drops the file's other controller.
    let yaml = format!("{STORAGE}auth:\n  token:\n    realm: r\n");
    let config = Config::from_yaml(
        &yaml,
        env(&[
            ("REGISTRY_AUTH", "htpasswd"),
            ("REGISTRY_AUTH_HTPASSWD_REALM", "x"),
            ("REGISTRY_AUTH_HTPASSWD_PATH", "/p"),
        ]),
    )
    .unwrap();
    assert!(matches!(config.auth, AuthConfig::Htpasswd { .. }));
}

/// An `auth` section that cannot be honoured stops startup, naming the key; it never
/// starts an open registry.
#[test]
fn auth_sections_that_cannot_be_honoured_are_errors() {
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: &[Case<'_>] = &[
        ("auth:\n  silly:\n    realm: x\n", &[], "auth"),
        ("auth:\n  none: {}\n", &[], "auth"),
        (
            "auth:\n  htpasswd: {realm: x, path: /p}\n  token: {realm: x}\n",
            &[],
            "auth",
        ),
        (
            "auth:\n  htpasswd:\n    path: /p\n",
            &[],
            "auth.htpasswd.realm",
        ),
        (
            "auth:\n  htpasswd:\n    realm: x\n",
            &[],
            "auth.htpasswd.path",
        ),
        (
            "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n",
            &[],
            "auth.token.rootcertbundle",
        ),
        (
            "auth:\n  token:\n    service: s\n    issuer: i\n    rootcertbundle: /b\n",
            &[],
            "auth.token.realm",
        ),
        (
            "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: /b\n    signingalgorithms: [none]\n",
            &[],
            "auth.token.signingalgorithms",
        ),
        (
            "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: /b\n    signingalgorithms: [ES512]\n",
            &[],
            "auth.token.signingalgorithms",
        ),
        (
            "auth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: /b\n    autoredirect: maybe\n",
            &[],
            "auth.token.autoredirect",
        ),
        ("auth: htpasswd\n", &[], "auth"),
        ("", &[("REGISTRY_AUTH", "")], "auth"),
        ("", &[("REGISTRY_AUTH", "ldap")], "auth"),
    ];
    for (yaml, vars, key) in cases {
        let error = auth_error(yaml, vars);
        assert_eq!(error.key, *key, "{yaml:?} {vars:?}: {error}");
    }
}

#[test]
fn the_access_policy_needs_htpasswd_and_valid_rules() {
    let htpasswd = "auth:\n  htpasswd: {realm: x, path: /p}\n";
    let ok = format!(
        "{STORAGE}{htpasswd}access:\n  groups:\n    devs: [bob]\n  rules:\n    - repositories: [\"team/**\"]\n      groups: [devs]\n      actions: [pull, push]\n  anonymous:\n    - repositories: [\"library/*\"]\n      actions: [pull]\n  default: [pull]\n"
    );
    let config = Config::from_yaml(&ok, env(&[])).unwrap();
    let policy = config.access.expect("a policy");
    assert!(policy.has_anonymous_access());

    let cases: &[(String, &str)] = &[
        ("access:\n  default: [pull]\n".to_owned(), "access"),
        (
            "auth:\n  token: {realm: r, service: s, issuer: i, rootcertbundle: /b}\naccess:\n  default: [pull]\n".to_owned(),
            "access",
        ),
        (format!("{htpasswd}access:\n  default: [fly]\n"), "access.default"),
        (format!("{htpasswd}access:\n  rules: {{}}\n"), "access.rules"),
        (
            format!("{htpasswd}access:\n  rules:\n    - repositories: [a]\n      actions: [pull]\n"),
            "access.rules[0].users",
        ),
        (
            format!("{htpasswd}access:\n  rules:\n    - users: [a]\n      actions: [pull]\n"),
            "access.rules[0].repositories",
        ),
        (
            format!("{htpasswd}access:\n  rules:\n    - repositories: [a]\n      users: [a]\n"),
            "access.rules[0].actions",
        ),
        (
            format!("{htpasswd}access:\n  rules:\n    - repositories: [a]\n      groups: [nobody]\n      actions: [pull]\n"),
            "access.rules[0].groups",
        ),
        (
            format!("{htpasswd}access:\n  rules:\n    - repositories: [\"a/[\"]\n      users: [a]\n      actions: [pull]\n"),
            "access.rules[0].repositories",
        ),
        (
            format!("{htpasswd}access:\n  anonymous:\n    - repositories: [a]\n      users: [a]\n      actions: [pull]\n"),
            "access.anonymous[0].users",
        ),
    ];
    for (yaml, key) in cases {
        let error = Config::from_yaml(&format!("{STORAGE}{yaml}"), env(&[])).expect_err(yaml);
        assert_eq!(error.key, *key, "{yaml}: {error}");
    }
}

/// `REGISTRY_STORAGE=<driver>` swaps the driver section only: the registry's own storage
/// settings (delete, redirect, maintenance) stay.
#[test]
fn switching_the_driver_keeps_the_storage_settings() {
    let yaml = "storage:\n  filesystem:\n    rootdirectory: /a\n  delete:\n    enabled: true\n  redirect:\n    disable: true\n  maintenance:\n    readonly:\n      enabled: true\n";
    let config = Config::from_yaml(yaml, env(&[("REGISTRY_STORAGE", "inmemory")])).unwrap();
    assert_eq!(config.storage.driver, "inmemory");
    assert!(
        config
            .storage
            .parameters
            .string("rootdirectory")
            .unwrap()
            .is_none()
    );
    assert!(config.storage.delete_enabled);
    assert!(!config.storage.redirect.enabled);
    assert!(config.storage.read_only);
}

/// Environment values are text: a value of the wrong type is refused like a bad file value,
/// naming the key it overrides.
#[test]
fn bad_typed_environment_values_name_their_key() {
    let cases = [
        (
            "REGISTRY_STORAGE_DELETE_ENABLED",
            "maybe",
            "storage.delete.enabled",
        ),
        (
            "REGISTRY_STORAGE_MAINTENANCE_READONLY_ENABLED",
            "2",
            "storage.maintenance.readonly.enabled",
        ),
        (
            "REGISTRY_STORAGE_REDIRECT_EXPIRY",
            "soon",
            "storage.redirect.expiry",
        ),
        ("REGISTRY_CATALOG_MAXENTRIES", "-1", "catalog.maxentries"),
        (
            "REGISTRY_VALIDATION_MANIFESTS_MAXBYTES",
            "4MB",
            "validation.manifests.maxbytes",
        ),
        ("REGISTRY_HTTP_WORKERS", "0", "http.workers"),
        (
            "REGISTRY_HTTP_TIMEOUTS_BODY",
            "forever",
            "http.timeouts.body",
        ),
        ("REGISTRY_HTTP_ADDR", "nowhere", "http.addr"),
        ("REGISTRY_LOG_LEVEL", "loud", "log.level"),
        (
            "REGISTRY_AUTH_TOKEN_AUTOREDIRECT",
            "perhaps",
            "auth.token.autoredirect",
        ),
    ];
    let yaml = "storage:\n  inmemory: {}\nauth:\n  token:\n    realm: r\n    service: s\n    issuer: i\n    rootcertbundle: /b\n";
    for (key, value, config_key) in cases {
        let error = Config::from_yaml(yaml, env(&[(key, value)])).expect_err(key);
        assert_eq!(error.key, config_key, "{key}={value}: {error}");
    }
}

#[test]
fn max_manifest_bytes_is_configurable() {
    let config = Config::from_yaml(
        "storage: {inmemory: {}}\nvalidation:\n  manifests:\n    maxbytes: 1000\n",
        env(&[]),
    )
    .unwrap();
    assert_eq!(config.max_manifest_bytes, 1000);
    let config = Config::from_yaml("storage: {inmemory: {}}", env(&[])).unwrap();
    assert_eq!(config.max_manifest_bytes, 4 * 1024 * 1024);
}

#[test]
fn multi_range_redirects_are_off_unless_asked_for() {
    let default = Config::from_yaml("storage: {inmemory: {}}", env(&[])).unwrap();
    assert_eq!(default.storage.redirect.multi_range, MultiRange::Serve);
    let redirect = Config::from_yaml(
        "storage: {inmemory: {}, redirect: {multirange: redirect}}",
        env(&[]),
    )
    .unwrap();
    assert_eq!(redirect.storage.redirect.multi_range, MultiRange::Redirect);
    let from_env = Config::from_yaml(
        "storage: {inmemory: {}}",
        env(&[("REGISTRY_STORAGE_REDIRECT_MULTIRANGE", "redirect")]),
    )
    .unwrap();
    assert_eq!(from_env.storage.redirect.multi_range, MultiRange::Redirect);
    let bad = Config::from_yaml(
        "storage: {inmemory: {}, redirect: {multirange: sometimes}}",
        env(&[]),
    )
    .unwrap_err();
    assert_eq!(bad.key, "storage.redirect.multirange");
}
