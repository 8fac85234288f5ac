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
    assert_eq!(config.ignored_keys, vec!["health".to_owned()]);
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
