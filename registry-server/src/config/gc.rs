//! The `gc` section (this project's own; the reference collects garbage only offline): the
//! online collector, and the protocol bounds every instance and `registry garbage-collect`
//! follow.
//!
//! ```yaml
//! gc:
//!   enabled: false        # run the online collector in this instance
//!   interval: 24h         # between the end of one cycle (by any instance) and the start of the next
//!   delay: 1h             # grace window: content younger than this is never collected
//!   deleteuntagged: false # also remove manifests that no tag reaches
//!   reliancewindow: 30s   # W: how long a request may rely on a check (all instances alike)
//!   revivewait: 8s        # Δ: how long a request that revives doomed content waits
//! ```

use std::time::Duration;

use registry_core::lifecycle::protocol::Timing;

use super::{ConfigError, Section, parse_duration};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcConfig {
    pub enabled: bool,
    pub interval: Duration,
    pub delay: Duration,
    pub delete_untagged: bool,
    pub timing: Timing,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            enabled: false,
            interval: Duration::from_secs(24 * 3600),
            delay: Duration::from_secs(3600),
            delete_untagged: false,
            timing: Timing::default(),
        }
    }
}

pub(super) fn read(root: &Section<'_>, ignored: &mut Vec<String>) -> Result<GcConfig, ConfigError> {
    let gc = root.section("gc")?;
    gc.collect_unknown(
        &[
            "enabled",
            "interval",
            "delay",
            "deleteuntagged",
            "reliancewindow",
            "revivewait",
        ],
        ignored,
    );
    let defaults = GcConfig::default();
    let duration = |key: &str, default: Duration, zero_ok: bool| -> Result<Duration, ConfigError> {
        let Some(text) = gc.string(key)? else {
            return Ok(default);
        };
        let value = parse_duration(&text).map_err(|m| gc.error(key, m))?;
        if value.is_zero() && !zero_ok {
            return Err(gc.error(key, "must be longer than zero"));
        }
        Ok(value)
    };
    let timing = Timing {
        reliance_window: duration("reliancewindow", defaults.timing.reliance_window, false)?,
        revive_wait: duration("revivewait", defaults.timing.revive_wait, false)?,
    };
    Ok(GcConfig {
        enabled: gc.bool("enabled", defaults.enabled)?,
        interval: duration("interval", defaults.interval, false)?,
        // Zero is allowed (tests, and an operator who stopped all writes).
        delay: duration("delay", defaults.delay, true)?,
        delete_untagged: gc.bool("deleteuntagged", defaults.delete_untagged)?,
        timing,
    })
}
