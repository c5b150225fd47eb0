//! The figures of one run.

use std::fmt;
use std::time::Duration;

/// Deliveries per second and latency percentiles of one run.
pub struct Report {
    target: &'static str,
    transport: &'static str,
    subscribers: usize,
    rate: u64,
    size: usize,
    per_second: f64,
    expected_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    /// The load generator's own CPU use during the measurement, in cores (1.0 = one busy core).
    generator_cores: f64,
    /// The server's, when its pid was given (`--server-pid`).
    server_cores: Option<f64>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        target: &'static str,
        transport: &'static str,
        subscribers: usize,
        rate: u64,
        size: usize,
        delivered: u64,
        elapsed: Duration,
        mut samples: Vec<u32>,
        generator_cores: f64,
        server_cores: Option<f64>,
    ) -> Self {
        samples.sort_unstable();
        let pct = |p: f64| -> f64 {
            if samples.is_empty() {
                return f64::NAN;
            }
            let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
            f64::from(samples[i]) / 1000.0
        };
        Self {
            target,
            transport,
            subscribers,
            rate,
            size,
            per_second: delivered as f64 / elapsed.as_secs_f64(),
            expected_per_second: (rate * subscribers as u64) as f64,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            generator_cores,
            server_cores,
        }
    }

    /// One JSON object, for scripts.
    pub fn json(&self) -> String {
        format!(
            r#"{{"target":"{}","transport":"{}","subscribers":{},"rate":{},"size":{},"deliveries_per_second":{:.0},"offered_per_second":{:.0},"p50_ms":{:.2},"p99_ms":{:.2},"p999_ms":{:.2},"generator_cores":{:.2},"server_cores":{}}}"#,
            self.target,
            self.transport,
            self.subscribers,
            self.rate,
            self.size,
            self.per_second,
            self.expected_per_second,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.generator_cores,
            self.server_cores
                .map_or_else(|| "null".to_owned(), |c| format!("{c:.2}"))
        )
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} subscribers={} rate={}/s size={}B: {:.0} deliveries/s (offered {:.0}), latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; generator CPU {:.2} cores",
            self.target,
            self.transport,
            self.subscribers,
            self.rate,
            self.size,
            self.per_second,
            self.expected_per_second,
            self.p50_ms,
            self.p99_ms,
            self.p999_ms,
            self.generator_cores
        )?;
        if let Some(server) = self.server_cores {
            write!(f, ", server CPU {server:.2} cores")?;
        }
        Ok(())
    }
}
