//! Request-rate measurements with `hey` (Debian): it sends HEAD, which wrk cannot.

use std::process::Command;

use crate::process::Result;

pub struct LoadResult {
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// `concurrency` connections for `seconds` against `url`; every answer must be 200.
pub fn hey(
    url: &str,
    method: &str,
    accept: Option<&str>,
    concurrency: usize,
    seconds: u64,
) -> Result<LoadResult> {
    let headers: Vec<String> = accept.map(|a| format!("Accept: {a}")).into_iter().collect();
    hey_with(url, method, &headers, concurrency, seconds, 10)
}

/// [`hey`] with any request headers and a per-request timeout in seconds.
pub fn hey_with(
    url: &str,
    method: &str,
    headers: &[String],
    concurrency: usize,
    seconds: u64,
    timeout_seconds: u64,
) -> Result<LoadResult> {
    hey_counting(url, method, headers, concurrency, seconds, timeout_seconds).map(|(r, _)| r)
}

/// [`hey_with`], and how many responses (all 200) it received.
pub fn hey_counting(
    url: &str,
    method: &str,
    headers: &[String],
    concurrency: usize,
    seconds: u64,
    timeout_seconds: u64,
) -> Result<(LoadResult, u64)> {
    let mut command = Command::new("hey");
    command
        .args(["-c", &concurrency.to_string()])
        .args(["-z", &format!("{seconds}s")])
        .args(["-m", method])
        .args(["-t", &timeout_seconds.to_string()]);
    for header in headers {
        command.args(["-H", header]);
    }
    let out = command
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run hey: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let unexpected = || format!("unexpected hey output for {method} {url}:\n{text}");
    let result = parse(&text).ok_or_else(unexpected)?;
    Ok((result, responses(&text).ok_or_else(unexpected)?))
}

/// The count of the `[200] N responses` line (the only status [`parse`] accepts).
pub(super) fn responses(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.trim_start().starts_with("[200]"))?;
    line.trim_start()["[200]".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

pub(super) fn parse(text: &str) -> Option<LoadResult> {
    let seconds_after = |prefix: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(prefix))?;
        line.trim_start()[prefix.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let requests_per_second = seconds_after("Requests/sec:")?;
    let p50 = seconds_after("50% in")?;
    // With few responses (about 100 or fewer: a registry checking bcrypt on every request)
    // hey prints no 99% line; the slowest response is then the 99th percentile.
    let p99 = seconds_after("99% in").or_else(|| seconds_after("Slowest:"))?;
    let statuses: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with('[') && l.contains("responses"))
        .collect();
    if statuses.is_empty()
        || statuses
            .iter()
            .any(|l| !l.trim_start().starts_with("[200]"))
    {
        eprintln!("hey saw non-200 answers: {statuses:?}");
        return None;
    }
    Some(LoadResult {
        requests_per_second,
        p50_ms: p50 * 1000.0,
        p99_ms: p99 * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_hey_output() {
        let text = "Summary:\n  Total:\t5.0021 secs\n  Requests/sec:\t10763.0232\n\nLatency distribution:\n  10% in 0.0010 secs\n  50% in 0.0036 secs\n  99% in 0.0157 secs\n\nStatus code distribution:\n  [200]\t53815 responses\n";
        let r = super::parse(text).unwrap();
        assert!((r.requests_per_second - 10763.0232).abs() < 1e-6);
        assert!((r.p50_ms - 3.6).abs() < 1e-9);
        assert!((r.p99_ms - 15.7).abs() < 1e-9);
        assert!(super::parse(&text.replace("[200]", "[500]")).is_none());
        assert_eq!(super::responses(text), Some(53815));
        let few = "Summary:\n  Slowest:\t7.1760 secs\n  Requests/sec:\t8.8747\n\nLatency distribution:\n  50% in 6.1700 secs\n  95% in 7.0735 secs\n  0% in 0.0000 secs\n\nStatus code distribution:\n  [200]\t66 responses\n";
        let r = super::parse(few).unwrap();
        assert!((r.p99_ms - 7176.0).abs() < 1e-6);
    }
}
