//! Properties of configuration reading: any file text and any `REGISTRY_` environment give a
//! configuration or a one-line error naming a key (never a panic), and each kind of scalar
//! (booleans, counts, durations, listen addresses, driver parameters) is read exactly as its
//! spelling says, from the file and from the environment alike.

use std::time::Duration;

use proptest::prelude::*;
use registry_core::storage::DriverParameters;
use serde_json::{Map, Value, json};

use super::{Config, parse_addr, parse_duration};

const BASE: &str = "storage: {inmemory: {}}\nhttp: {addr: '127.0.0.1:0'}\n";

fn load(yaml: &str, env: &[(&str, &str)]) -> Result<Config, super::ConfigError> {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::from_yaml(yaml, env)
}

/// Generated strings hold no `:` except in the listed literal addresses: `http.addr` resolves
/// host names, and a test must not send DNS queries off this machine.
const ADDRESS_LIKE: &[&str] = &[":5000", "127.0.0.1:0", "[::1]:0", ":99999", "127.0.0.1"];

/// YAML-ish scalars: every type, and strings that look like other types.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-zA-Z0-9/._ -]{0,12}".prop_map(Value::String),
        proptest::sample::select(vec!["true", "no", "", "20m", "0", "-1", "inmemory"])
            .prop_map(|s| Value::String(s.to_owned())),
        proptest::sample::select(ADDRESS_LIKE).prop_map(|s| Value::String(s.to_owned())),
    ]
}

/// A configuration tree over the keys this registry reads (and some it does not), with any
/// value at any place: scalars where mappings belong and the other way round.
fn config_tree() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(vec![
        "version",
        "log",
        "level",
        "formatter",
        "storage",
        "inmemory",
        "filesystem",
        "s3",
        "delete",
        "enabled",
        "redirect",
        "disable",
        "expiry",
        "publicurl",
        "maintenance",
        "readonly",
        "http",
        "addr",
        "host",
        "prefix",
        "workers",
        "catalog",
        "maxentries",
        "validation",
        "manifests",
        "maxbytes",
        "middleware",
        "name",
        "options",
        "baseurl",
        "Storage",
        "unknown",
    ]);
    scalar().prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..6).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
            )),
        ]
    })
}

/// `REGISTRY_` variables from the configuration's words, with empty segments and odd case.
fn env_var() -> impl Strategy<Value = (String, String)> {
    let word = proptest::sample::select(vec![
        "STORAGE",
        "HTTP",
        "ADDR",
        "DELETE",
        "ENABLED",
        "",
        "LOG",
        "LEVEL",
        "INMEMORY",
        "FILESYSTEM",
        "ROOTDIRECTORY",
        "CATALOG",
        "MAXENTRIES",
        "REDIRECT",
        "EXPIRY",
        "storage",
        "WORKERS",
        "VALIDATION",
        "MANIFESTS",
        "MAXBYTES",
        "X",
    ]);
    let value = prop_oneof![
        "[a-zA-Z0-9/._ -]{0,10}",
        proptest::sample::select(ADDRESS_LIKE).prop_map(str::to_owned),
    ];
    (proptest::collection::vec(word, 0..5), value)
        .prop_map(|(words, value)| (format!("REGISTRY_{}", words.join("_")), value))
}

fn random_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_text_is_a_configuration_or_an_error(text in any::<String>()) {
        // (Never true in practice; stated so that no case can resolve a host name.)
        prop_assume!(!text.to_ascii_lowercase().contains("addr"));
        if let Err(e) = load(&text, &[]) {
            prop_assert!(!e.key.is_empty() && !e.to_string().contains('\n') || e.key == "config file");
        }
    }

    #[test]
    fn any_tree_is_a_configuration_or_an_error_naming_a_key(tree in config_tree()) {
        // JSON is YAML: the tree is written as a flow document.
        let text = tree.to_string();
        if let Err(e) = load(&text, &[]) {
            prop_assert!(!e.key.is_empty(), "{text}: {e}");
        }
    }

    #[test]
    fn any_environment_is_applied_or_refused_by_key(
        vars in proptest::collection::vec(env_var(), 0..6),
    ) {
        let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match load(BASE, &env) {
            Ok(config) => prop_assert!(!config.storage.driver.is_empty()),
            Err(e) => prop_assert!(!e.key.is_empty()),
        }
    }

    #[test]
    fn booleans_read_alike_from_file_and_environment(
        word in proptest::sample::select(vec![
            ("true", Some(true)), ("yes", Some(true)), ("on", Some(true)), ("1", Some(true)),
            ("false", Some(false)), ("no", Some(false)), ("off", Some(false)), ("0", Some(false)),
            ("maybe", None), ("2", None), ("tru", None), ("", None), ("y", None),
        ]),
        mask in any::<u64>(),
        padding in proptest::sample::select(vec!["", " ", "\t"]),
    ) {
        let (text, expected) = word;
        let spelled = format!("{padding}{}{padding}", random_case(text, mask));
        let from_env = load(BASE, &[("REGISTRY_STORAGE_DELETE_ENABLED", &spelled)]);
        let quoted = serde_json::to_string(&spelled).unwrap_or_default();
        let from_file = load(
            &format!("storage: {{inmemory: {{}}, delete: {{enabled: {quoted}}}}}\nhttp: {{addr: '127.0.0.1:0'}}"),
            &[],
        );
        for result in [from_env, from_file] {
            match (result, expected) {
                (Ok(config), Some(value)) => prop_assert_eq!(config.storage.delete_enabled, value),
                (Err(e), None) => prop_assert_eq!(e.key, "storage.delete.enabled"),
                (other, _) => prop_assert!(false, "{spelled:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn counts_are_positive_integers(n in prop_oneof![any::<i64>(), -3i64..5], as_text in any::<bool>()) {
        let value = if as_text { format!("'{n}'") } else { n.to_string() };
        let yaml = format!("{BASE}catalog: {{maxentries: {value}}}\nvalidation: {{manifests: {{maxbytes: {value}}}}}");
        match load(&yaml, &[]) {
            Ok(config) => {
                prop_assert!(n > 0);
                prop_assert_eq!(config.catalog_max_entries as i64, n);
                prop_assert_eq!(config.max_manifest_bytes as i64, n);
            }
            Err(e) => {
                prop_assert!(n <= 0, "{n}: {e}");
                prop_assert_eq!(e.key, "catalog.maxentries");
            }
        }
    }

    #[test]
    fn durations_read_in_their_unit(
        n in prop_oneof![0u64..200, any::<u64>()],
        unit in proptest::sample::select(vec![("", 1u64), ("s", 1), ("m", 60), ("h", 3600)]),
    ) {
        let (suffix, seconds_per) = unit;
        let text = format!("{n}{suffix}");
        match parse_duration(&text) {
            Ok(d) => prop_assert_eq!(Some(d.as_secs()), n.checked_mul(seconds_per)),
            Err(_) => prop_assert!(n.checked_mul(seconds_per).is_none(), "{text:?} refused"),
        }
        // As the redirect expiry: 1 s to 168 h.
        let config = load(BASE, &[("REGISTRY_STORAGE_REDIRECT_EXPIRY", &text)]);
        let in_bounds = n
            .checked_mul(seconds_per)
            .is_some_and(|s| (1..=168 * 3600).contains(&s));
        match config {
            Ok(c) => {
                prop_assert!(in_bounds);
                prop_assert_eq!(c.storage.redirect.expiry, Duration::from_secs(n * seconds_per));
            }
            Err(e) => {
                prop_assert!(!in_bounds);
                prop_assert_eq!(e.key, "storage.redirect.expiry");
            }
        }
    }

    #[test]
    fn any_duration_text_is_answered(text in any::<String>()) {
        let _ = parse_duration(&text);
    }

    #[test]
    fn listen_addresses(port in 0u32..70_000, host in proptest::sample::select(vec!["", "127.0.0.1", "0.0.0.0", "[::1]"])) {
        // Only literal addresses: a host name would make the test resolve names.
        let text = format!("{host}:{port}");
        match parse_addr(&text) {
            Ok(addr) => {
                prop_assert!(port <= 65_535);
                prop_assert_eq!(u32::from(addr.port()), port);
            }
            Err(e) => prop_assert!(port > 65_535, "{text}: {e}"),
        }
    }

    #[test]
    fn driver_sizes_and_flags(text in prop_oneof!["[0-9]{1,22}", "[ +a-z0-9-]{0,6}"], flag in "[a-zA-Z0-9 ]{0,5}") {
        let mut values = Map::new();
        values.insert("chunksize".into(), json!(text));
        values.insert("flag".into(), json!(flag));
        let params = DriverParameters::new("test", values);
        match params.u64("chunksize", 7) {
            Ok(n) if text.trim().is_empty() => prop_assert_eq!(n, 7),
            Ok(n) => prop_assert_eq!(Some(n), text.trim().parse::<u64>().ok()),
            Err(e) => {
                prop_assert!(text.trim().parse::<u64>().is_err());
                prop_assert!(e.to_string().contains("storage.test.chunksize"));
            }
        }
        let lowered = flag.trim().to_ascii_lowercase();
        let expected = match lowered.as_str() {
            "true" | "yes" | "on" | "1" => Some(true),
            "false" | "no" | "off" | "0" => Some(false),
            "" => Some(false),
            _ => None,
        };
        prop_assert_eq!(params.bool("flag", false).ok(), expected);
    }
}
