//! `registry garbage-collect` as operators script it: dry run, `--json`, `--delete-untagged`,
//! `--retention`, exit codes (0 done, 1 failed or busy, 2 configuration), and the `gc` and
//! `retention` config sections' errors naming their keys.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use bytes::Bytes;
use driver_fs::{FsConfig, FsDriver};
use registry_core::domain::{Digest, RepositoryName};
use registry_core::layout;
use registry_core::registry::{Registry, RegistrySettings};
use registry_core::storage::Storage;
use registry_server::config::Config;
use serde_json::{Value, json};

fn registry() -> Command {
    Command::new(env!("CARGO_BIN_EXE_registry"))
}

fn config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let root = dir.join("root");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\ngc:\n  reliancewindow: 200ms\n  revivewait: 200ms\n{extra}",
        serde_json::to_string(&root.display().to_string()).unwrap()
    );
    let path = dir.join(format!("config-{}.yml", extra.len()));
    std::fs::write(&path, yaml).unwrap();
    path
}

fn storage(dir: &Path) -> Storage {
    let driver = FsDriver::new(FsConfig::new(dir.join("root"))).expect("filesystem driver");
    Storage::new(Arc::new(driver))
}

async fn push_blob(registry: &Registry, repo: &RepositoryName, data: &[u8]) -> Digest {
    let digest = Digest::sha256_of(data);
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::copy_from_slice(data))]);
    registry
        .upload_monolithic(repo, &digest, body)
        .await
        .expect("upload");
    digest
}

async fn push_image(
    registry: &Registry,
    repo: &RepositoryName,
    reference: &str,
    seed: &str,
) -> Digest {
    let config = format!(r#"{{"os":"linux","seed":"{seed}"}}"#);
    let config_digest = push_blob(registry, repo, config.as_bytes()).await;
    let layer = format!("layer of {seed}");
    let layer_digest = push_blob(registry, repo, layer.as_bytes()).await;
    let body = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.as_str(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest.as_str(), "size": layer.len()}],
    }))
    .unwrap();
    let reference = if reference == "-" {
        Digest::sha256_of(&body).to_string()
    } else {
        reference.to_owned()
    };
    registry
        .put_manifest(
            repo,
            &reference.parse().unwrap(),
            Some("application/vnd.oci.image.manifest.v1+json"),
            Bytes::from(body),
        )
        .await
        .expect("manifest")
        .digest
}

fn run(args: &[&str], config: &Path) -> Output {
    registry()
        .arg("garbage-collect")
        .args(args)
        .arg(config)
        .output()
        .expect("registry runs")
}

fn json_of(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

async fn exists(storage: &Storage, digest: &Digest) -> bool {
    storage.stat(&layout::blob_data(digest)).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_json_delete_untagged_and_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path());
    let registry = Registry::new(storage.clone(), RegistrySettings::default());
    let repo: RepositoryName = "cli/app".parse().unwrap();
    let tagged = push_image(&registry, &repo, "latest", "tagged").await;
    let untagged = push_image(&registry, &repo, "-", "untagged").await;
    let stray = push_blob(&registry, &repo, b"never referenced").await;
    let config = config(dir.path(), "");

    // Dry run: lists, changes nothing.
    let output = run(&["--dry-run", "--json"], &config);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let report = json_of(&output);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["blobs_removed"], 1);
    assert_eq!(report["removed_blobs"], json!([stray.to_string()]));
    assert_eq!(report["manifests_removed"], 0);
    assert!(exists(&storage, &stray).await, "a dry run removed a blob");

    // Text output: the removed blob and the summary.
    let output = run(&[], &config);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&format!("removed blob {stray}")), "{text}");
    assert!(
        text.contains("1 repositories: 2 manifests and 6 blobs marked; removed 0 tags, 0 manifests, 1 blobs (16 bytes freed)"),
        "{text}"
    );
    assert!(!exists(&storage, &stray).await);

    // --delete-untagged: the untagged image goes with its blobs; --quiet only summarises.
    let output = run(&["--delete-untagged", "--quiet"], &config);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("1 manifests, 3 blobs"), "{text}");
    assert!(!exists(&storage, &untagged).await);
    assert!(exists(&storage, &tagged).await);
    registry
        .get_manifest(&repo, &"latest".parse().unwrap())
        .await
        .expect("the tagged image stays");

    // A second run removes nothing.
    let report = json_of(&run(&["--delete-untagged", "--json"], &config));
    assert_eq!(
        (
            report["manifests_removed"].as_u64(),
            report["blobs_removed"].as_u64()
        ),
        (Some(0), Some(0))
    );

    // Another cycle holds the lease: exit 1, saying so.
    let lock = format!("{}/lock-99999999999999-other", layout::gc_lease_dir());
    storage.put_content(&lock, Bytes::new()).await.unwrap();
    let output = run(&[], &config);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("another garbage collection cycle"));
    storage.delete(&lock).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let storage = storage(dir.path());
    let registry = Registry::new(storage.clone(), RegistrySettings::default());
    let repo: RepositoryName = "cli/svc".parse().unwrap();
    let old = push_image(&registry, &repo, "nightly-1", "old").await;
    push_image(&registry, &repo, "v1", "v1").await;
    let config = config(
        dir.path(),
        "retention:\n  policies:\n    - repositories: \"cli/*\"\n      keeptags: \"v[0-9]+\"\n      untaggedolderthan: 0s\n",
    );
    // Without --retention the policies do not apply.
    let report = json_of(&run(&["--json"], &config));
    assert_eq!(report["tags_removed"], 0);
    let report = json_of(&run(&["--retention", "--json"], &config));
    assert_eq!(
        report["removed_tags"],
        json!(["cli/svc:nightly-1"]),
        "{report}"
    );
    assert_eq!(report["manifests_removed"], 1, "{report}");
    assert!(!exists(&storage, &old).await);
    registry
        .get_manifest(&repo, &"v1".parse().unwrap())
        .await
        .expect("the pinned tag stays");
}

#[test]
fn configuration_errors_exit_2_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let no_retention = config(dir.path(), "");
    let output = run(&["--retention"], &no_retention);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("retention:"));

    let output = run(&["--delay", "soon"], &no_retention);
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    let output = registry()
        .args(["garbage-collect", "/nonexistent/config.yml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");

    let help = registry()
        .args(["garbage-collect", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--dry-run",
        "--delete-untagged",
        "--retention",
        "--quiet",
        "--json",
        "--delay",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help: {text}");
    }

    for (yaml, key) in [
        ("gc:\n  interval: 0s\n", "gc.interval: "),
        ("gc:\n  delay: later\n", "gc.delay: "),
        ("gc:\n  enabled: maybe\n", "gc.enabled: "),
        (
            "retention:\n  policies:\n    - keeplast: 3\n",
            "retention.policies[0].repositories: ",
        ),
        (
            "retention:\n  policies:\n    - repositories: \"a/*\"\n      keeptags: \"(\"\n",
            "retention.policies[0].keeptags: ",
        ),
        (
            "retention:\n  policies:\n    - repositories: \"a/*\"\n      keeplast: 0\n",
            "retention.policies[0].keeplast: ",
        ),
    ] {
        let full = format!("storage:\n  inmemory: {{}}\n{yaml}");
        let error = Config::from_yaml(&full, Vec::new()).expect_err(yaml);
        assert!(error.to_string().starts_with(key), "{yaml}: {error}");
    }
    let env = vec![
        ("REGISTRY_GC_ENABLED".to_owned(), "true".to_owned()),
        ("REGISTRY_GC_DELAY".to_owned(), "90s".to_owned()),
    ];
    let parsed = Config::from_yaml("storage:\n  inmemory: {}\n", env).unwrap();
    assert!(parsed.gc.enabled);
    assert_eq!(parsed.gc.delay, std::time::Duration::from_secs(90));
}
