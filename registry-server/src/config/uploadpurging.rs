//! `storage.maintenance.uploadpurging`, with the reference's keys: `enabled` (default true),
//! `age` (default 168h), `interval` (default 24h) and `dryrun` (default false).
//!
//! The reference requires every key once the section is present; here a missing key takes its
//! default. Durations are Go's (`168h`, `1h30m`, `1.5h`, `90m`), as the reference parses them;
//! humantime's forms (`7days`) and a plain number of seconds are accepted too, as for this
//! file's other durations.

use std::time::Duration;

use super::{ConfigError, Section, parse_duration};

/// The shortest `age`: a shorter one would remove uploads whose client merely pauses between
/// two requests.
const MIN_AGE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPurging {
    pub enabled: bool,
    /// Uploads idle for longer than this are removed.
    pub age: Duration,
    /// Time between two runs.
    pub interval: Duration,
    /// Only log what would be removed.
    pub dry_run: bool,
}

impl Default for UploadPurging {
    fn default() -> Self {
        UploadPurging {
            enabled: true,
            age: Duration::from_secs(168 * 3600),
            interval: Duration::from_secs(24 * 3600),
            dry_run: false,
        }
    }
}

pub(super) fn read(
    maintenance: &Section<'_>,
    ignored: &mut Vec<String>,
) -> Result<UploadPurging, ConfigError> {
    let section = maintenance.section("uploadpurging")?;
    section.collect_unknown(&["enabled", "age", "interval", "dryrun"], ignored);
    let defaults = UploadPurging::default();
    let duration = |key: &str, default: Duration| -> Result<Duration, ConfigError> {
        match section.string(key)? {
            None => Ok(default),
            Some(text) => parse_go_duration(&text)
                .or_else(|go| parse_duration(&text).map_err(|_| go))
                .map_err(|m| section.error(key, m)),
        }
    };
    let age = duration("age", defaults.age)?;
    if age < MIN_AGE {
        return Err(section.error(
            "age",
            "must be at least 1m: a shorter age removes uploads whose client only pauses",
        ));
    }
    let interval = duration("interval", defaults.interval)?;
    if interval.is_zero() {
        return Err(section.error("interval", "must be longer than zero"));
    }
    Ok(UploadPurging {
        enabled: section.bool("enabled", defaults.enabled)?,
        age,
        interval,
        dry_run: section.bool("dryrun", defaults.dry_run)?,
    })
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers, each with an optional fraction
/// and a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or `0`. A negative duration is refused.
fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let original = text;
    let text = text.trim();
    let invalid = || format!("{original:?} is not a duration (like 168h, 1h30m or 90m)");
    if text.starts_with('-') {
        return Err(format!("{original:?} is negative"));
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += value * seconds;
        rest = next;
    }
    // Go's own limit: about 292 years.
    Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| d.as_secs() < 292 * 365 * 24 * 3600)
        .ok_or_else(|| format!("{original:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn purging(yaml_section: &str) -> Result<UploadPurging, ConfigError> {
        let yaml =
            format!("storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n{yaml_section}");
        Config::from_yaml(&yaml, Vec::new()).map(|c| c.storage.upload_purging)
    }

    #[test]
    fn go_durations() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(parse_go_duration("168h"), Ok(h(168)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_go_duration("+2s500ms"),
            Ok(Duration::from_millis(2500))
        );
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_go_duration("3µs"), Ok(Duration::from_micros(3)));
        for bad in ["", "h", "10", "1d", "1.2.3h", "1h x", "-1h", "99999999999h"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_as_the_reference() {
        let none = Config::from_yaml("storage:\n  inmemory:\n", Vec::new()).unwrap();
        assert_eq!(none.storage.upload_purging, UploadPurging::default());
        let defaults = UploadPurging::default();
        assert!(defaults.enabled && !defaults.dry_run);
        assert_eq!(defaults.age, Duration::from_secs(168 * 3600));
        assert_eq!(defaults.interval, Duration::from_secs(24 * 3600));
        // A section with some keys keeps the defaults of the others.
        let partial = purging("      dryrun: true\n").unwrap();
        assert!(partial.dry_run && partial.enabled);
        assert_eq!(partial.age, defaults.age);
    }

    #[test]
    fn the_reference_keys() {
        let all = purging(
            "      enabled: false\n      age: 72h\n      interval: 30m\n      dryrun: true\n",
        )
        .unwrap();
        assert_eq!(
            all,
            UploadPurging {
                enabled: false,
                age: Duration::from_secs(72 * 3600),
                interval: Duration::from_secs(1800),
                dry_run: true,
            }
        );
        // humantime's forms and seconds, as elsewhere in the file.
        let other = purging("      age: 7days\n      interval: 3600\n").unwrap();
        assert_eq!(other.age, Duration::from_secs(7 * 24 * 3600));
        assert_eq!(other.interval, Duration::from_secs(3600));
    }

    #[test]
    fn environment_overrides() {
        let env = vec![
            (
                "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_ENABLED".to_owned(),
                "false".to_owned(),
            ),
            (
                "REGISTRY_STORAGE_MAINTENANCE_UPLOADPURGING_AGE".to_owned(),
                "2h".to_owned(),
            ),
        ];
        let config = Config::from_yaml("storage:\n  inmemory:\n", env).unwrap();
        assert!(!config.storage.upload_purging.enabled);
        assert_eq!(config.storage.upload_purging.age, Duration::from_secs(7200));
    }

    #[test]
    fn bad_values_name_the_key() {
        let key = |section: &str| purging(section).unwrap_err().key;
        let prefix = "storage.maintenance.uploadpurging";
        assert_eq!(key("      age: soon\n"), format!("{prefix}.age"));
        assert_eq!(key("      age: 30s\n"), format!("{prefix}.age"));
        assert_eq!(key("      age: -1h\n"), format!("{prefix}.age"));
        assert_eq!(key("      interval: 0\n"), format!("{prefix}.interval"));
        assert_eq!(key("      interval: 1x\n"), format!("{prefix}.interval"));
        assert_eq!(key("      enabled: maybe\n"), format!("{prefix}.enabled"));
        assert_eq!(key("      dryrun: 2\n"), format!("{prefix}.dryrun"));
        let not_a_mapping = Config::from_yaml(
            "storage:\n  inmemory:\n  maintenance:\n    uploadpurging: yes\n",
            Vec::new(),
        )
        .unwrap_err();
        assert_eq!(not_a_mapping.key, prefix);
        let message = purging("      age: 30s\n").unwrap_err().to_string();
        assert!(message.contains("at least 1m"), "{message}");
    }

    #[test]
    fn unknown_keys_are_reported() {
        let yaml = "storage:\n  inmemory:\n  maintenance:\n    uploadpurging:\n      speed: 3\n";
        let config = Config::from_yaml(yaml, Vec::new()).unwrap();
        assert!(
            config
                .ignored_keys
                .contains(&"storage.maintenance.uploadpurging.speed".to_owned()),
            "{:?}",
            config.ignored_keys
        );
    }
}
