//! A fixed-concurrency, fixed-duration load loop that records every latency.

use std::future::Future;
use std::time::{Duration, Instant};

/// What one timed run measured.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub ops: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latency of every successful operation inside the measured window, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl RunStats {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The q-quantile (0..=1) of latency, in milliseconds.
    pub fn percentile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        f64::from(sorted[index]) / 1000.0
    }
}

/// Runs `workers` loops, each calling its operation back to back, for `warmup + measure`;
/// only operations that finish inside the measured window count.
pub async fn run_timed<F, Fut, E>(
    workers: usize,
    warmup: Duration,
    measure: Duration,
    make: impl Fn(usize) -> F,
) -> RunStats
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display + Send + 'static,
{
    let start = Instant::now();
    let window_start = start + warmup;
    let end = window_start + measure;
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let mut op = make(worker);
        tasks.push(tokio::spawn(async move {
            let mut stats = RunStats::default();
            let mut first_error: Option<String> = None;
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let result = op().await;
                let t1 = Instant::now();
                let counted = t0 >= window_start && t1 <= end;
                match result {
                    Ok(()) if counted => {
                        stats.ops += 1;
                        stats
                            .latencies_us
                            .push(u32::try_from((t1 - t0).as_micros()).unwrap_or(u32::MAX));
                    }
                    Ok(()) => {}
                    Err(e) => {
                        if counted {
                            stats.errors += 1;
                        }
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            if let Some(e) = first_error {
                tracing::warn!(worker, error = %e, "benchmark operation failed");
            }
            stats
        }));
    }
    let mut total = RunStats {
        elapsed: measure,
        ..RunStats::default()
    };
    for task in tasks {
        let stats = task.await.expect("benchmark worker panicked");
        total.ops += stats.ops;
        total.errors += stats.errors;
        total.latencies_us.extend(stats.latencies_us);
    }
    total
}
