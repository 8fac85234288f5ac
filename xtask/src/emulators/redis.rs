//! Redis from Debian's `redis-server` package, for the shared-cache tests: one instance
//! without a password and one with, each private (no persistence, loopback only, a free
//! port). Tests that stop, restart or stall Redis start their own from the binary named by
//! `REGISTRY_TEST_REDIS_SERVER`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::Emulator;
use crate::process::{Result, Service, ensure_apt, free_port, wait_for_port};

const BINARY: &str = "/usr/bin/redis-server";
pub const PASSWORD: &str = "registry-test-redis-password";

pub fn ensure_installed() -> Result<PathBuf> {
    ensure_apt(&[(BINARY, "redis-server")])?;
    Ok(PathBuf::from(BINARY))
}

/// One private Redis on a free loopback port; `password` turns on `requirepass`.
pub fn spawn(password: Option<&str>) -> Result<(Service, u16)> {
    let bin = ensure_installed()?;
    let port = free_port()?;
    let dir = std::env::temp_dir().join(format!("registry-redis-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut command = Command::new(bin);
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
        .args(["--loglevel", "warning"])
        .arg("--dir")
        .arg(&dir)
        // Its startup banner and warnings (memory overcommit) say nothing about the tests.
        .stdout(std::process::Stdio::null());
    if let Some(password) = password {
        command.args(["--requirepass", password]);
    }
    let mut service = Service::spawn("redis-server", &mut command)?.owning_data(dir);
    wait_for_port(port, Duration::from_secs(10), "redis-server")?;
    service.check_running()?;
    Ok((service, port))
}

/// Two instances (without and with a password) and the environment naming them.
pub fn start() -> Result<(Emulator, Emulator)> {
    let (open, open_port) = spawn(None)?;
    let (locked, locked_port) = spawn(Some(PASSWORD))?;
    println!(
        "xtask: redis-server listening on 127.0.0.1:{open_port} (no password) and 127.0.0.1:{locked_port} (password)"
    );
    let open_env = vec![
        (
            "REGISTRY_TEST_REDIS_ADDR".to_owned(),
            format!("127.0.0.1:{open_port}"),
        ),
        ("REGISTRY_TEST_REDIS_SERVER".to_owned(), BINARY.to_owned()),
    ];
    let locked_env = vec![
        (
            "REGISTRY_TEST_REDIS_AUTH_ADDR".to_owned(),
            format!("127.0.0.1:{locked_port}"),
        ),
        (
            "REGISTRY_TEST_REDIS_PASSWORD".to_owned(),
            PASSWORD.to_owned(),
        ),
    ];
    Ok((
        Emulator {
            _service: open,
            env: open_env,
        },
        Emulator {
            _service: locked,
            env: locked_env,
        },
    ))
}
