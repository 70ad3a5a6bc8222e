//! What the runtime benches share: percentiles of timed samples, and their report line.
#![allow(dead_code)]

use std::time::Duration;

/// The `p` quantile (0 to 1) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints the median and p99 of the samples under `name`; returns the median.
pub fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let median = percentile(&samples, 0.5);
    println!(
        "{name:<44} n={:<6} median {:>9.1} µs   p99 {:>9.1} µs",
        samples.len(),
        micros(median),
        micros(percentile(&samples, 0.99))
    );
    median
}

/// The median of the samples.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    percentile(&samples, 0.5)
}
