//! Reading a process's memory, and medians.

/// `VmRSS` and `VmHWM` (peak) of a process, in KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak (`VmHWM`) so that the next reading covers only what follows.
pub fn reset_peak(pid: u32) {
    // Writing 5 to clear_refs resets the peak RSS (Linux 4.0+).
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Fields 14.. of `/proc/<pid>/stat` (after the command name, which may hold spaces).
fn stat_fields(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &text[text.rfind(')')? + 2..];
    // after_name starts at field 3 (state); keep the numeric ones from field 4 on.
    Some(
        after_name
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse::<i64>().map_or(0, |v| v.max(0) as u64))
            .collect(),
    )
}

/// CPU seconds of `pid` (`self` for this process): its own, and those of its children that
/// have been waited for. User + system time of all threads.
fn cpu_of(pid: &str) -> crate::process::Result<(f64, f64)> {
    let seconds = |fields: &[u64], at: usize| -> Option<f64> {
        Some((fields.get(at)? + fields.get(at + 1)?) as f64 / TICKS_PER_SECOND)
    };
    // utime, stime, cutime, cstime are fields 14 to 17: indexes 10 to 13 from field 4.
    stat_fields(pid)
        .and_then(|fields| Some((seconds(&fields, 10)?, seconds(&fields, 12)?)))
        .ok_or_else(|| format!("cannot read the CPU time of process {pid}"))
}

/// CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> crate::process::Result<f64> {
    Ok(cpu_of(&pid.to_string())?.0)
}

/// CPU seconds used by this process, and by its children that have been waited for.
pub fn own_cpu_seconds() -> crate::process::Result<(f64, f64)> {
    cpu_of("self")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_cpu_time_of_this_process() {
        let before = super::own_cpu_seconds().unwrap();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(150) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        let after = super::own_cpu_seconds().unwrap();
        assert!(after.0 - before.0 >= 0.05, "{before:?} -> {after:?}");
        let pid = std::process::id();
        assert!(super::cpu_seconds(pid).unwrap() >= after.0 - 0.02);
    }
}
