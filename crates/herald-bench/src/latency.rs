//! Latency samples shared by the tasks of a scenario, and their percentiles.

use std::sync::Mutex;
use std::time::Duration;

/// Samples in microseconds, added from any task.
#[derive(Default)]
pub struct Samples(Mutex<Vec<u32>>);

impl Samples {
    pub fn add(&self, latency: Duration) {
        let micros = latency.as_micros().min(u128::from(u32::MAX)) as u32;
        self.add_micros(micros);
    }

    pub fn add_micros(&self, micros: u32) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(micros);
    }

    /// Takes every sample so far, sorted.
    pub fn take(&self) -> Percentiles {
        let mut samples = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        samples.sort_unstable();
        Percentiles(samples)
    }
}

/// Sorted samples.
pub struct Percentiles(Vec<u32>);

impl Percentiles {
    /// The `p` quantile (0.5 = median) in milliseconds; NaN without samples.
    pub fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let i = ((self.0.len() as f64 * p).ceil() as usize).clamp(1, self.0.len()) - 1;
        f64::from(self.0[i]) / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred_samples() {
        let samples = Samples::default();
        for ms in (1..=100).rev() {
            samples.add(Duration::from_millis(ms));
        }
        let p = samples.take();
        assert_eq!(p.ms(0.5), 50.0);
        assert_eq!(p.ms(0.99), 99.0);
        assert!(Samples::default().take().ms(0.5).is_nan());
    }
}
