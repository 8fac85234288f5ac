//! Starting registries for the scenarios: this project's binary on a chosen backend, and the
//! reference registry on a filesystem root.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::cache::workspace_root;
use crate::process::{Result, Service, free_port, run, wait_for_port};

/// The storage a scenario runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Filesystem,
    /// An S3-compatible server, by the `REGISTRY_TEST_S3_*` environment of the emulator.
    S3(Vec<(String, String)>),
    /// Azurite, by the `REGISTRY_TEST_AZURE_*` environment of the emulator.
    Azure(Vec<(String, String)>),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Filesystem => "filesystem",
            Backend::S3(_) => "s3",
            Backend::Azure(_) => "azure",
        }
    }

    fn var(env: &[(String, String)], key: &str) -> String {
        env.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    /// The `storage:` driver section; `root` is a fresh directory (or key prefix) per registry.
    pub fn storage_yaml(&self, root: &Path, unique: &str) -> String {
        match self {
            Backend::Filesystem => {
                format!("  filesystem:\n    rootdirectory: {}\n", root.display())
            }
            Backend::S3(env) => format!(
                "  s3:\n    region: {}\n    bucket: {}\n    regionendpoint: {}\n    forcepathstyle: true\n    accesskey: {}\n    secretkey: {}\n    rootdirectory: /e{unique}\n",
                Self::var(env, "REGISTRY_TEST_S3_REGION"),
                Self::var(env, "REGISTRY_TEST_S3_BUCKET"),
                Self::var(env, "REGISTRY_TEST_S3_ENDPOINT"),
                Self::var(env, "REGISTRY_TEST_S3_ACCESS_KEY"),
                Self::var(env, "REGISTRY_TEST_S3_SECRET_KEY"),
            ),
            Backend::Azure(env) => format!(
                "  azure:\n    accountname: {}\n    accountkey: {}\n    container: {}\n    serviceurl: {}\n    rootdirectory: /e{unique}\n",
                Self::var(env, "REGISTRY_TEST_AZURE_ACCOUNT"),
                Self::var(env, "REGISTRY_TEST_AZURE_KEY"),
                Self::var(env, "REGISTRY_TEST_AZURE_CONTAINER"),
                Self::var(env, "REGISTRY_TEST_AZURE_SERVICE_URL"),
            ),
        }
    }
}

/// A registry listening on loopback; stopped when dropped.
pub struct RunningRegistry {
    service: Service,
    pub host: String,
    /// The debug listener (`/debug/health`, `/metrics`), where one was configured.
    pub debug_host: Option<String>,
}

impl RunningRegistry {
    pub fn pid(&self) -> u32 {
        self.service.pid()
    }
}

/// Builds the `registry` binary (debug) and returns its path.
pub fn build_binary() -> Result<PathBuf> {
    build_binary_with(false)
}

/// Builds the `registry` binary, optimised when `release`, and returns its path.
pub fn build_binary_with(release: bool) -> Result<PathBuf> {
    let root = workspace_root();
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(&root).args([
        "build",
        "--quiet",
        "-p",
        "registry-server",
        "--bin",
        "registry",
    ]);
    if release {
        command.arg("--release");
    }
    run(&mut command)?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let profile = if release { "release" } else { "debug" };
    Ok(target.join(profile).join("registry"))
}

/// Starts this project's registry with `storage` (YAML lines under `storage:`) and `extra`
/// storage settings (e.g. redirect).
pub fn start_ours(
    binary: &Path,
    dir: &Path,
    storage: &str,
    extra: &str,
) -> Result<RunningRegistry> {
    start_ours_with_env(binary, dir, storage, extra, &[])
}

/// `start_ours` with extra environment variables (`REGISTRY_...` overrides).
pub fn start_ours_with_env(
    binary: &Path,
    dir: &Path,
    storage: &str,
    extra: &str,
    env: &[(&str, &str)],
) -> Result<RunningRegistry> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let debug_port = free_port()?;
    let config = dir.join("config.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n{storage}  delete:\n    enabled: true\n{extra}http:\n  addr: 127.0.0.1:{port}\n  debug:\n    addr: 127.0.0.1:{debug_port}\n    prometheus:\n      enabled: true\n"
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("registry.log")).map_err(|e| e.to_string())?;
    let mut service = Service::spawn(
        "registry",
        Command::new(binary)
            .arg("serve")
            .arg(&config)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log),
    )?;
    wait_for_port(port, Duration::from_secs(20), "registry")?;
    service.check_running()?;
    Ok(RunningRegistry {
        service,
        host: format!("127.0.0.1:{port}"),
        debug_host: Some(format!("127.0.0.1:{debug_port}")),
    })
}

/// Starts the reference registry (CNCF Distribution 2.8) on a filesystem root.
pub fn start_reference(root: &Path, dir: &Path) -> Result<RunningRegistry> {
    start_reference_with_env(root, dir, &[])
}

/// `start_reference` with extra environment variables (`GOMAXPROCS`, ...).
pub fn start_reference_with_env(
    root: &Path,
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<RunningRegistry> {
    let storage = format!("  filesystem:\n    rootdirectory: {}\n", root.display());
    start_reference_on(&storage, dir, env)
}

/// The reference registry over any `storage:` driver section (as [`Backend::storage_yaml`]
/// writes it), with its redirects off so that it serves the bytes itself.
pub fn start_reference_on(
    storage: &str,
    dir: &Path,
    env: &[(&str, &str)],
) -> Result<RunningRegistry> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let port = free_port()?;
    let config = dir.join("reference.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n{storage}  delete:\n    enabled: true\n  redirect:\n    disable: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: e2e-reference-secret\n"
    );
    std::fs::write(&config, yaml).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("reference.log")).map_err(|e| e.to_string())?;
    let mut service = Service::spawn(
        "docker-registry",
        Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            // Its S3 driver panics on start-up when this is set, even for filesystem storage.
            .env_remove("AWS_CA_BUNDLE")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(log),
    )?;
    wait_for_port(port, Duration::from_secs(20), "docker-registry")?;
    service.check_running()?;
    Ok(RunningRegistry {
        service,
        host: format!("127.0.0.1:{port}"),
        debug_host: None,
    })
}

/// Which registry a scenario runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ours,
    Reference,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Reference => "reference",
        }
    }
}

/// Starts `kind` with a config file written by the caller (the same file for both registries),
/// which listens on 127.0.0.1:`port`; stdout and stderr go to `log`.
pub fn start_with_config(
    kind: Kind,
    binary: &Path,
    config: &Path,
    port: u16,
    log: &Path,
) -> Result<RunningRegistry> {
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let log_copy = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut command = match kind {
        Kind::Ours => Command::new(binary),
        Kind::Reference => {
            let mut c = Command::new("docker-registry");
            // Its S3 driver panics on start-up when this is set, even for filesystem storage.
            c.env_remove("AWS_CA_BUNDLE");
            c
        }
    };
    command
        .arg("serve")
        .arg(config)
        .stdout(log_copy)
        .stderr(log_file);
    let mut service = Service::spawn(kind.name(), &mut command)?;
    wait_for_port(port, Duration::from_secs(20), kind.name())?;
    service.check_running()?;
    Ok(RunningRegistry {
        service,
        host: format!("127.0.0.1:{port}"),
        debug_host: None,
    })
}
