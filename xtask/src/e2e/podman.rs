//! podman (Debian `podman`) as root with its own storage: `--root`/`--runroot` in the scenario's
//! directory, the vfs driver (overlay needs mounts these sandboxes may not allow), cgroupfs and
//! file events (no systemd here).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{Result, ensure_apt};

pub fn ensure() -> Result {
    ensure_apt(&[("podman", "podman")])
}

/// One podman image store.
pub struct Podman {
    root: PathBuf,
    /// podman refuses a runroot longer than 50 characters, so it lives in a short directory of
    /// its own rather than beside the store.
    runroot: PathBuf,
}

impl Podman {
    pub fn new(dir: &Path) -> Podman {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Podman {
            root: dir.to_path_buf(),
            runroot: PathBuf::from(format!("/tmp/podman-run-{}-{n}", std::process::id())),
        }
    }

    /// Runs `podman ARGS` with this store; stdout on success, an error with stderr otherwise.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        self.run_with_input(args, "")
    }

    /// `run` with `input` on stdin (passwords: never on a command line).
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Result<String> {
        let mut command = Command::new("podman");
        command
            .arg("--root")
            .arg(self.root.join("root"))
            .arg("--runroot")
            .arg(&self.runroot)
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .args(args);
        let shown = format!("podman {}", args.join(" "));
        let out = super::clients::output_with_input(&mut command, input)?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(format!(
                "{shown} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Removes the store (vfs copies every layer in full).
    pub fn remove(&self) {
        let _ = self.run(&["system", "reset", "--force"]);
        let _ = std::fs::remove_dir_all(&self.root);
        let _ = std::fs::remove_dir_all(&self.runroot);
    }
}
