//! Bounded retries with exponential backoff and full jitter.

use std::time::Duration;

/// How often and how patiently a contended command is retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 12,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// Sleeps before try `attempt + 1`: a random time up to `base * 2^attempt`, capped.
    pub async fn backoff(&self, attempt: u32) {
        let cap = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX).max(1);
        tokio::time::sleep(Duration::from_micros(rand::random_range(0..micros))).await;
    }
}
