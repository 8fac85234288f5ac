//! `cargo xtask ...`: everything a developer or CI runs besides plain cargo.

mod bench;
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
    /// Real clients (skopeo, oras) and the reference registry against the registry binary, on
    /// filesystem storage and on the S3 and Azure emulators (started and stopped here).
    E2e,
    /// Benchmark this registry against the reference registry; writes docs/BENCHMARKS.md.
    Bench {
        /// Rounds per registry (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Smaller blobs and shorter load runs, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Run one scenario alone: `ranges` (partial pulls; writes docs/BENCHMARKS-ranges.md).
        #[arg(long)]
        only: Option<String>,
    },
    /// Start the storage emulators, print the environment the tests use, and wait for Enter.
    Emulators,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Test { no_lint } => test_run::run(!no_lint),
        Task::Bench {
            rounds,
            quick,
            only,
        } => bench::run(&bench::Options {
            rounds: rounds.max(1),
            quick,
            only,
        }),
        Task::E2e => emulators::start_all().and_then(|emulators| e2e::run(&emulators.backends())),
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
