//! Azurite (npm), the Azure Storage emulator: only its blob service is started.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::Emulator;
use crate::cache;
use crate::process::{Result, Service, ensure_apt, free_port, on_path, run, wait_for_port};

/// The newest Azurite that runs on Node.js 20 (3.36+ need Node.js 22).
const VERSION: &str = "3.35.0";
/// Azurite's published development account and key.
pub const ACCOUNT: &str = "devstoreaccount1";
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
pub const CONTAINER: &str = "registry-test";

fn install_dir() -> PathBuf {
    cache::dir().join(format!("azurite-{VERSION}"))
}

pub fn ensure_installed() -> Result<PathBuf> {
    let dir = install_dir();
    let bin = dir.join("node_modules/.bin/azurite-blob");
    if bin.exists() {
        return Ok(bin);
    }
    if !on_path("npm") {
        ensure_apt(&[("npm", "npm")])?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "xtask: installing azurite {VERSION} into {} (once)",
        dir.display()
    );
    run(Command::new("npm")
        .current_dir(&dir)
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&dir)
        .arg(format!("azurite@{VERSION}")))?;
    Ok(bin)
}

pub fn start() -> Result<Emulator> {
    let bin = ensure_installed()?;
    let data = std::env::temp_dir().join(format!("registry-azurite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let port = free_port()?;
    let mut service = Service::spawn(
        "azurite",
        Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&data)
            // Without these, Azurite phones home, and refuses the SDK's newer API version.
            .args([
                "--disableTelemetry",
                "--skipApiVersionCheck",
                "--loose",
                "--silent",
            ]),
    )?
    .owning_data(data.clone());
    wait_for_port(port, Duration::from_secs(30), "azurite")?;
    service.check_running()?;
    println!(
        "xtask: azurite listening on 127.0.0.1:{port}, data in {}",
        data.display()
    );
    let env = [
        (
            "REGISTRY_TEST_AZURE_SERVICE_URL",
            format!("http://127.0.0.1:{port}/{ACCOUNT}"),
        ),
        ("REGISTRY_TEST_AZURE_ACCOUNT", ACCOUNT.to_owned()),
        ("REGISTRY_TEST_AZURE_KEY", ACCOUNT_KEY.to_owned()),
        ("REGISTRY_TEST_AZURE_CONTAINER", CONTAINER.to_owned()),
    ];
    Ok(Emulator {
        _service: service,
        env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    })
}
