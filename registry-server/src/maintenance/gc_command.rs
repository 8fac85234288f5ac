//! `registry garbage-collect`: the reference's offline command (same flags, same meaning),
//! running the same cycle as the online collector. Exit codes: 0 done, 1 failed (storage, or
//! another cycle holds the lease), 2 configuration error.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use registry_core::lifecycle::gc::{self, GcError, Report};

use super::progress::Bar;
use crate::config::{Config, ConfigError};
use crate::drivers;

#[derive(Args, Debug)]
pub struct GcArgs {
    /// A YAML configuration file (CNCF Distribution's format).
    pub config: PathBuf,
    /// Only list what would be removed.
    #[arg(short = 'd', long)]
    pub dry_run: bool,
    /// Also remove manifests that no tag reaches (children of tagged indexes and referrers of
    /// kept manifests stay).
    #[arg(short = 'm', long)]
    pub delete_untagged: bool,
    /// Apply the `retention` policies of the configuration too.
    #[arg(long)]
    pub retention: bool,
    /// No progress and no list of removed items, only the summary.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print the summary as JSON (for automation).
    #[arg(long)]
    pub json: bool,
    /// Grace window: keep content younger than this (e.g. 1h). Default 0, the reference's
    /// offline meaning; against a registry that is serving pushes, give the `gc.delay` it uses.
    #[arg(long, value_parser = parse_delay)]
    pub delay: Option<Duration>,
}

fn parse_delay(text: &str) -> Result<Duration, String> {
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not a duration: {e}"))
}

pub fn run(args: &GcArgs) -> ExitCode {
    let config = match Config::load(Some(&args.config)) {
        Ok(config) => config,
        Err(e) => return config_failure(&e),
    };
    crate::logging::init(&config.log);
    let mut options = super::gc_options(&config);
    options.dry_run = args.dry_run;
    options.delete_untagged = args.delete_untagged;
    options.delay = args.delay.unwrap_or(Duration::ZERO);
    if !args.retention {
        options.retention = None;
    } else if options.retention.is_none() {
        return config_failure(&ConfigError::new(
            "retention",
            "--retention needs a retention section with policies",
        ));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("registry: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let show_progress = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let outcome = runtime.block_on(async {
        let storage = drivers::open(&config.storage)
            .await
            .map_err(Failure::Config)?;
        let report = if show_progress {
            gc::collect(&storage, &options, &Bar::new()).await
        } else {
            gc::collect(&storage, &options, &()).await
        };
        report.map_err(Failure::Gc)
    });
    match outcome {
        Ok(report) => {
            print_report(&report, args);
            ExitCode::SUCCESS
        }
        Err(Failure::Config(e)) => config_failure(&e),
        Err(Failure::Gc(e)) => {
            eprintln!("registry: garbage collection failed: {e}");
            if matches!(e, GcError::Busy) {
                eprintln!(
                    "registry: (another instance's online collector or another garbage-collect is running; try again later)"
                );
            }
            ExitCode::FAILURE
        }
    }
}

enum Failure {
    Config(ConfigError),
    Gc(GcError),
}

fn config_failure(e: &ConfigError) -> ExitCode {
    eprintln!("registry: configuration error: {e}");
    ExitCode::from(2)
}

fn print_report(report: &Report, args: &GcArgs) {
    if args.json {
        match serde_json::to_string_pretty(report) {
            Ok(json) => println!("{json}"),
            Err(e) => eprintln!("registry: cannot print the report: {e}"),
        }
        return;
    }
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    if !args.quiet {
        for tag in &report.removed_tags {
            println!("{verb} tag {tag}");
        }
        for manifest in &report.removed_manifests {
            println!("{verb} manifest {manifest}");
        }
        for blob in &report.removed_blobs {
            println!("{verb} blob {blob}");
        }
        for item in &report.retention_would_remove {
            println!("retention (dry run) would remove {item}");
        }
    }
    println!("{}", summary(report));
}

/// One line: what was marked and what went.
pub fn summary(report: &Report) -> String {
    format!(
        "{}{} repositories: {} manifests and {} blobs marked; {} {} tags, {} manifests, {} blobs ({} bytes freed)",
        if report.dry_run { "dry run: " } else { "" },
        report.repositories,
        report.manifests_marked,
        report.blobs_marked,
        if report.dry_run {
            "would remove"
        } else {
            "removed"
        },
        report.tags_removed,
        report.manifests_removed,
        report.blobs_removed,
        report.bytes_freed,
    )
}
