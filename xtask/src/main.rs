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
    /// Real clients (skopeo, podman, oras) and the reference registry against the registry
    /// binary, on filesystem storage and on the S3 and Azure emulators (started and stopped
    /// here); access control and TLS against both registries.
    E2e {
        /// Only the access-control and TLS scenarios (no storage emulators).
        #[arg(long)]
        auth_only: bool,
        /// Which registries the access-control scenarios run against.
        #[arg(long, value_enum, default_value_t = Against::Both)]
        against: Against,
        /// Only the storage-backend scenarios whose name starts with this (e.g. `cluster`,
        /// `proxy-`); the access-control scenarios are then skipped.
        #[arg(long)]
        only: Option<String>,
    },
    /// Benchmark this registry against the reference registry; writes docs/BENCHMARKS.md.
    Bench {
        /// Rounds per registry (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Smaller blobs and shorter load runs, for a quick look.
        #[arg(long)]
        quick: bool,
        /// Run one scenario alone: `ranges` (partial pulls; writes docs/BENCHMARKS-ranges.md),
        /// `auth` (the access-control rows; printed, docs/ left alone), `proxy` (pull-through
        /// cache, cold and warm; writes docs/BENCHMARKS-proxy.md), `ui` (the web view's pages
        /// of 1,000 entries; writes docs/BENCHMARKS-ui.md) or `cache` (blob HEAD and manifest
        /// GET on S3 with and without the Redis cache, one and two instances; writes
        /// docs/BENCHMARKS-cache.md) or `gc` (offline garbage collection of a generated root
        /// on the filesystem and S3, against the reference's; writes docs/BENCHMARKS-gc.md).
        #[arg(long)]
        only: Option<String>,
    },
    /// Start the storage emulators, print the environment the tests use, and wait for Enter.
    Emulators,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Against {
    Both,
    Ours,
    Reference,
}

fn e2e_task(auth_only: bool, against: Against, only: Option<String>) -> process::Result {
    let options = e2e::Options {
        auth_only,
        only,
        kinds: match against {
            Against::Both => vec![e2e::Kind::Reference, e2e::Kind::Ours],
            Against::Ours => vec![e2e::Kind::Ours],
            Against::Reference => vec![e2e::Kind::Reference],
        },
    };
    if auth_only {
        return e2e::run_with(&[], &options);
    }
    emulators::start_all().and_then(|emulators| e2e::run_with(&emulators.backends(), &options))
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
        Task::E2e {
            auth_only,
            against,
            only,
        } => e2e_task(auth_only, against, only),
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
