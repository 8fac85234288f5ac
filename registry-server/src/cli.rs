//! The `registry` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::startup;

#[derive(Parser)]
#[command(
    name = "registry",
    version,
    about = "An OCI Distribution (Docker Registry v2) container image registry",
    long_about = "An OCI Distribution v1.1 / Docker Registry HTTP API v2 container image \
                  registry. It reads CNCF Distribution's config.yml keys, each overridable by a \
                  REGISTRY_... environment variable (REGISTRY_HTTP_ADDR, \
                  REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY, ...)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the registry API.
    ///
    /// Without CONFIG: filesystem storage under ./data, listening on 127.0.0.1:5000, deletes
    /// enabled, the web view at http://127.0.0.1:5000/ui/.
    Serve {
        /// A YAML configuration file (CNCF Distribution's format).
        config: Option<PathBuf>,
    },
    /// Check a configuration file (and the environment) without serving.
    CheckConfig { config: Option<PathBuf> },
    /// Remove blobs (and with --delete-untagged, manifests) that nothing references.
    ///
    /// Safe while registries serve the same storage (it follows the online collector's
    /// protocol); give --delay then. Exit codes: 0 done, 1 failed, 2 configuration error.
    GarbageCollect(crate::maintenance::gc_command::GcArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config } => startup::serve(config.as_deref()),
        Command::CheckConfig { config } => startup::check(config.as_deref()),
        Command::GarbageCollect(args) => crate::maintenance::gc_command::run(&args),
    }
}
