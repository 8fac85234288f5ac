//! How values are shown: human-readable sizes, shortened digests, times.

use std::time::SystemTime;

/// A size as people read it (`3.2 MiB`), with the exact byte count for a tooltip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Size {
    pub bytes: u64,
    pub text: String,
}

impl Size {
    pub fn of(bytes: u64) -> Size {
        Size {
            bytes,
            text: human_size(bytes),
        }
    }
}

/// Binary units, one decimal from KiB up: `0 B`, `999 B`, `1.0 KiB`, `3.2 MiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A digest shown shortened (`sha256:0123456789ab`), the full value kept for hover and copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestText {
    pub full: String,
    pub short: String,
}

impl DigestText {
    pub fn of(digest: &str) -> DigestText {
        let short = match digest.split_once(':') {
            Some((algorithm, hex)) if hex.len() > 12 => format!("{algorithm}:{}", &hex[..12]),
            _ => digest.to_owned(),
        };
        DigestText {
            full: digest.to_owned(),
            short,
        }
    }
}

/// `2026-12-01 17:58:08 UTC`.
pub fn time(at: SystemTime) -> String {
    use std::fmt::Write as _;
    // One allocation: a page of 1,000 tags prints 1,000 of these.
    let mut text = String::with_capacity(24);
    let _ = write!(text, "{}", humantime::format_rfc3339_seconds(at));
    if text.ends_with('Z') {
        text.pop();
    }
    if let Some(t) = text.find('T') {
        text.replace_range(t..=t, " ");
    }
    text.push_str(" UTC");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1024), "1.0 KiB");
        assert_eq!(human_size(3 * 1024 * 1024 + 300 * 1024), "3.3 MiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024), "5.0 GiB");
        assert_eq!(human_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn digests() {
        let d = DigestText::of("sha256:0123456789abcdef0123");
        assert_eq!(d.short, "sha256:0123456789ab");
        assert_eq!(d.full, "sha256:0123456789abcdef0123");
        assert_eq!(DigestText::of("odd").short, "odd");
    }

    #[test]
    fn times() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_764_611_888);
        assert_eq!(time(at), "2025-12-01 17:58:08 UTC");
    }
}
