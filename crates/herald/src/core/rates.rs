//! How many events each topic received in the last minute: per-second buckets, kept only for
//! topics published to within that minute, so a million idle topics cost nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in the window.
const WINDOW: u64 = 60;

/// One topic's counts: `buckets[s % WINDOW]` holds second `s` if `s` is within the window.
struct Window {
    buckets: [u32; WINDOW as usize],
    /// The newest second counted.
    last: u64,
}

impl Window {
    /// Zeroes the buckets of the seconds between `last` and `now`.
    fn advance(&mut self, now: u64) {
        if now <= self.last {
            return;
        }
        let gap = (now - self.last).min(WINDOW);
        for s in 1..=gap {
            self.buckets[((self.last + s) % WINDOW) as usize] = 0;
        }
        self.last = now;
    }
}

/// Per-topic publish counts over a sliding minute.
#[derive(Default)]
pub struct TopicRates {
    windows: Mutex<HashMap<String, Window>>,
}

impl TopicRates {
    /// Counts `n` events published to `topic` now.
    pub fn record(&self, topic: &str, n: u32) {
        self.record_at(topic, n, now_secs());
    }

    /// Events published to `topic` in the last minute.
    pub fn last_minute(&self, topic: &str) -> u64 {
        self.last_minute_at(topic, now_secs())
    }

    fn record_at(&self, topic: &str, n: u32, now: u64) {
        let mut windows = self.windows.lock().expect("rates lock");
        if !windows.contains_key(topic) {
            // Forget topics idle for a whole window before adding one.
            windows.retain(|_, w| now.saturating_sub(w.last) < WINDOW);
            let window = Window {
                buckets: [0; WINDOW as usize],
                last: now,
            };
            windows.insert(topic.to_owned(), window);
        }
        let window = windows.get_mut(topic).expect("inserted above");
        window.advance(now);
        let bucket = &mut window.buckets[(now % WINDOW) as usize];
        *bucket = bucket.saturating_add(n);
    }

    fn last_minute_at(&self, topic: &str, now: u64) -> u64 {
        let mut windows = self.windows.lock().expect("rates lock");
        match windows.get_mut(topic) {
            Some(window) => {
                window.advance(now);
                window.buckets.iter().map(|&b| u64::from(b)).sum()
            }
            None => 0,
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_sixty_seconds_only() {
        let rates = TopicRates::default();
        rates.record_at("a", 5, 1000);
        rates.record_at("a", 2, 1030);
        rates.record_at("b", 1, 1030);
        assert_eq!(rates.last_minute_at("a", 1030), 7);
        assert_eq!(rates.last_minute_at("a", 1059), 7);
        // Second 1000 leaves the window at 1060.
        assert_eq!(rates.last_minute_at("a", 1060), 2);
        assert_eq!(rates.last_minute_at("a", 1200), 0);
        assert_eq!(rates.last_minute_at("b", 1031), 1);
        assert_eq!(rates.last_minute_at("never", 1031), 0);
    }

    #[test]
    fn idle_topics_are_forgotten() {
        let rates = TopicRates::default();
        rates.record_at("old", 1, 1000);
        rates.record_at("new", 1, 1100);
        assert_eq!(rates.windows.lock().unwrap().len(), 1);
        assert_eq!(rates.last_minute_at("old", 1100), 0);
    }
}
