//! `cargo xtask test`: the whole test run, as CI runs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::workspace_root;
use crate::process::{self, Result, on_path};
use crate::{e2e, emulators};

pub fn run(lint: bool) -> Result {
    let root = workspace_root();
    if lint {
        run_cargo(&root, &["fmt", "--all", "--check"])?;
        run_cargo(
            &root,
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )?;
    }

    let report = target_dir(&root).join("xtask-contract-report.txt");
    let _ = std::fs::remove_file(&report);

    let emulators = emulators::start_all()?;
    let mut tests = if on_path("cargo-nextest") {
        let mut c = cargo(&root);
        c.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        c
    } else {
        let mut c = cargo(&root);
        c.args(["test", "--workspace", "--no-fail-fast"]);
        c
    };
    for emulator in emulators.iter() {
        tests.envs(emulator.env.iter().map(|(k, v)| (k, v)));
    }
    // Cloud-driver tests fail loudly, instead of skipping, when their emulator is missing.
    tests.env("REGISTRY_REQUIRE_EMULATORS", "1");
    // Tests that cannot check their subject on this machine fail instead of printing why.
    tests.env("REGISTRY_FULL_TEST_RUN", "1");
    tests.env("REGISTRY_CONTRACT_REPORT", &report);
    let tests_outcome = process::run(&mut tests);
    let e2e_outcome = e2e::run(&emulators.backends());
    drop(emulators);
    let outcome = tests_outcome.and(e2e_outcome);

    if let Ok(figures) = std::fs::read_to_string(&report) {
        println!("xtask: figures measured by the contract suite:");
        for line in figures.lines() {
            println!("  {line}");
        }
    }
    outcome
}

fn cargo(root: &Path) -> Command {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(root);
    c
}

fn run_cargo(root: &Path, args: &[&str]) -> Result {
    process::run(cargo(root).args(args))
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}
