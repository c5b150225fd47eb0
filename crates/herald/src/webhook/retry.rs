//! When to try a failed delivery again: the subscription's schedule with ±20% jitter, or the
//! endpoint's `Retry-After` (on 429 and 503) within bounds.

use std::time::Duration;

/// The schedule used when a subscription names none.
pub const DEFAULT_SCHEDULE: &[Duration] = &[
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(120),
    Duration::from_secs(600),
    Duration::from_secs(1800),
    Duration::from_secs(3600),
    Duration::from_secs(3 * 3600),
    Duration::from_secs(6 * 3600),
    Duration::from_secs(12 * 3600),
    Duration::from_secs(24 * 3600),
];

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The delay before the retry that follows failed attempt number `attempts` (1-based), or `None`
/// when the schedule is exhausted and the delivery is dead. `jitter` is a number in `[-1, 1]`
/// (random in production) scaling the ±20% spread.
pub fn next_delay(
    schedule: &[Duration],
    attempts: usize,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    let planned = *schedule.get(attempts.checked_sub(1)?)?;
    if let Some(asked) = retry_after {
        // The endpoint knows when it will be ready: no sooner than asked, within a day.
        return Some(asked.min(MAX_RETRY_AFTER));
    }
    Some(planned.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0)))
}

/// Parses `Retry-After` given as delay-seconds (HTTP dates are rare from webhook receivers and
/// are treated as absent).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A uniformly random jitter in `[-1, 1]`.
pub fn random_jitter() -> f64 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX) * 2.0 - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: &[Duration] = &[
        Duration::from_millis(100),
        Duration::from_millis(200),
        Duration::from_millis(300),
    ];

    #[test]
    fn follows_the_schedule_then_gives_up() {
        assert_eq!(
            next_delay(S, 1, None, 0.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            next_delay(S, 3, None, 0.0),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            next_delay(S, 4, None, 0.0),
            None,
            "three retries means four attempts"
        );
        assert_eq!(next_delay(&[], 1, None, 0.0), None);
    }

    #[test]
    fn jitter_stays_within_twenty_percent() {
        assert_eq!(
            next_delay(S, 2, None, 1.0),
            Some(Duration::from_millis(240))
        );
        assert_eq!(
            next_delay(S, 2, None, -1.0),
            Some(Duration::from_millis(160))
        );
        assert_eq!(
            next_delay(S, 2, None, 7.0),
            Some(Duration::from_millis(240)),
            "clamped"
        );
        for _ in 0..1000 {
            let j = random_jitter();
            assert!((-1.0..=1.0).contains(&j));
        }
    }

    #[test]
    fn retry_after_is_honoured_within_bounds_but_not_past_the_schedule() {
        assert_eq!(
            next_delay(S, 1, Some(Duration::from_secs(7)), 0.5),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            next_delay(S, 1, Some(Duration::from_secs(9_999_999)), 0.0),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(next_delay(S, 4, Some(Duration::from_secs(1)), 0.0), None);
        assert_eq!(parse_retry_after(" 12 "), Some(Duration::from_secs(12)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
