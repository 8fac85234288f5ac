//! `cargo xtask ...`: everything a developer or CI runs besides plain cargo.

mod cache;
mod e2e;
mod emulators;
mod process;
mod test_run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Project tasks: tests, emulators, end-to-end checks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs: formatting, clippy, all tests (the cloud drivers against
    /// emulators this task starts and stops).
    Test {
        /// Skip `cargo fmt --check` and clippy.
        #[arg(long)]
        no_lint: bool,
    },
    /// Real clients (skopeo, oras) and the reference registry against the registry binary,
    /// on filesystem storage.
    E2e,
    /// Start the storage emulators, print the environment the tests use, and wait for Enter.
    Emulators,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test { no_lint } => test_run::run(!no_lint),
        Task::E2e => e2e::run(&[e2e::Backend::Filesystem]),
        Task::Emulators => emulators::serve_until_interrupted(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
