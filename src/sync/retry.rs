//! When and how long to wait before retrying a Graph request.
//!
//! Why: Graph throttles (429) and has transient outages (503/504); Microsoft asks clients to
//! wait the `Retry-After` seconds, else back off exponentially (graph.md §3.3). A run must
//! still end in bounded time, so retries are capped in number and in total waiting.

use rand::Rng;
use std::time::Duration;

/// Retry limits for one Graph request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff step when the server gives no Retry-After.
    pub base_delay: Duration,
    /// Cap on any single wait (also on a server's Retry-After).
    pub max_delay: Duration,
    /// Cap on the sum of waits for one request.
    pub max_total_wait: Duration,
    /// Up to this much random delay is added to each wait, so parallel requests spread out.
    pub max_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(60),
            max_total_wait: Duration::from_secs(300),
            max_jitter: Duration::from_millis(250),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before retry number `retry` (1-based), honouring the server's
    /// `Retry-After` when present; without jitter.
    pub fn base_wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let wait = match retry_after {
            Some(d) => d,
            None => {
                let exp = retry.saturating_sub(1).min(16);
                self.base_delay.saturating_mul(1u32 << exp)
            }
        };
        wait.min(self.max_delay)
    }

    /// [`RetryPolicy::base_wait`] plus random jitter.
    pub fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let jitter_ms = u64::try_from(self.max_jitter.as_millis()).unwrap_or(0);
        let jitter = if jitter_ms == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=jitter_ms)
        };
        self.base_wait(retry, retry_after) + Duration::from_millis(jitter)
    }
}

/// Parses a `Retry-After` header given in seconds (Graph sends e.g. `2.128`). HTTP-date
/// forms, negative, non-finite and absurdly large values yield `None` (backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    if !secs.is_finite() || !(0.0..=86_400.0).contains(&secs) {
        return None;
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// Whether Graph asks us to come back later for this status.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 429 | 503 | 504)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_parses_seconds_and_fractions_only() {
        assert_eq!(parse_retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 2.128 "),
            Some(Duration::from_millis(2128))
        );
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(parse_retry_after("NaN"), None);
        assert_eq!(parse_retry_after("1e300"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped_and_retry_after_wins() {
        let p = RetryPolicy::default();
        assert_eq!(p.base_wait(1, None), Duration::from_secs(1));
        assert_eq!(p.base_wait(3, None), Duration::from_secs(4));
        assert_eq!(p.base_wait(30, None), Duration::from_secs(60));
        assert_eq!(
            p.base_wait(4, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            p.base_wait(1, Some(Duration::from_secs(900))),
            Duration::from_secs(60)
        );
        let w = p.wait(1, Some(Duration::from_secs(1)));
        assert!(w >= Duration::from_secs(1) && w <= Duration::from_millis(1250));
    }

    #[test]
    fn retryable_statuses() {
        for s in [429, 503, 504] {
            assert!(is_retryable_status(s));
        }
        for s in [400, 401, 403, 404, 500, 502] {
            assert!(!is_retryable_status(s));
        }
    }
}
