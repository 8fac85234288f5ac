//! Storage maintenance run by this binary: the `garbage-collect` command and the server's
//! online collector, both over `registry_core::lifecycle`.

pub mod collector;
pub mod gc_command;
mod progress;

use registry_core::lifecycle::gc::Options;

use crate::config::Config;

/// The collection options a configuration gives (the command line may change some).
pub fn gc_options(config: &Config) -> Options {
    Options {
        delete_untagged: config.gc.delete_untagged,
        delay: config.gc.delay,
        timing: config.gc.timing,
        retention: config.retention.clone(),
        ..Options::default()
    }
}
