//! CPU time used by a process, from `/proc/<pid>/stat`, so every figure can carry the load
//! generator's own share of the machine (and, given its pid, the server's).

use std::time::Duration;

/// User plus system CPU time of process `pid` (`None`: this process) so far; zero where
/// `/proc` is unavailable.
pub fn used(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    std::fs::read_to_string(path)
        .ok()
        .and_then(|stat| parse_stat(&stat))
        .unwrap_or_default()
}

/// Fields 14 and 15 (utime, stime) in clock ticks; the command name (field 2) may contain
/// spaces, so fields are counted from its closing parenthesis.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // Linux reports in USER_HZ, which is 100 on every architecture Rust targets.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// Share of one core used between two readings over `elapsed` (1.0 = one core busy).
pub fn cores(before: Duration, after: Duration, elapsed: Duration) -> f64 {
    after.saturating_sub(before).as_secs_f64() / elapsed.as_secs_f64().max(f64::EPSILON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_a_name_with_spaces() {
        let stat = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat(stat), Some(Duration::from_millis(3000)));
    }

    #[test]
    fn counts_this_process_spinning() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while used(None) < Duration::from_millis(50) && start.elapsed() < Duration::from_secs(5) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(
            used(None) >= Duration::from_millis(50),
            "CPU time never rose"
        );
    }
}
