//! Limits failed console sign-ins per client IP.
//!
//! Why: the break-glass token is long and random, but an exposed console must still not
//! let anyone try tokens at line rate. After [`MAX_FAILURES`] failures within [`WINDOW`] an
//! address gets 429 until its oldest failure leaves the window (a correct token included,
//! so the limit cannot be probed). Memory is bounded: stale addresses are pruned.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per address within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;
/// The sliding window failures are counted in.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked before stale ones are pruned.
const PRUNE_AT: usize = 4096;

/// Recent failures per client address.
pub struct SignInLimiter {
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
    max: usize,
    window: Duration,
}

impl Default for SignInLimiter {
    /// [`MAX_FAILURES`] within [`WINDOW`]: the break-glass token's limit.
    fn default() -> SignInLimiter {
        SignInLimiter::with_limit(MAX_FAILURES, WINDOW)
    }
}

impl SignInLimiter {
    /// At most `max` events per address within `window` (e.g. Microsoft sign-ins started).
    pub fn with_limit(max: usize, window: Duration) -> SignInLimiter {
        SignInLimiter {
            failures: Mutex::new(HashMap::new()),
            max,
            window,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `ip` has used up its failures; `Some(seconds)` until it may try again.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.lock();
        let times = map.get_mut(&ip)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            times.pop_front();
        }
        if times.len() < self.max {
            return None;
        }
        let oldest = times.front().copied()?;
        let wait = self.window.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    /// Counts a failed sign-in from `ip`.
    pub fn record_failure(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let times = map.entry(ip).or_default();
        times.push_back(now);
        while times.len() > self.max {
            times.pop_front();
        }
    }

    /// Forgets `ip`'s failures (after a successful sign-in).
    pub fn clear(&self, ip: IpAddr) {
        self.lock().remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_per_address() {
        let limiter = SignInLimiter::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..MAX_FAILURES {
            assert!(limiter.blocked(a).is_none());
            limiter.record_failure(a);
        }
        assert!(limiter.blocked(a).is_some());
        assert!(limiter.blocked(b).is_none(), "other addresses unaffected");
        limiter.clear(a);
        assert!(limiter.blocked(a).is_none());
    }

    #[test]
    fn limits_can_be_chosen() {
        let limiter = SignInLimiter::with_limit(2, Duration::from_secs(60));
        let a: IpAddr = [10, 0, 0, 1].into();
        limiter.record_failure(a);
        assert!(limiter.blocked(a).is_none());
        limiter.record_failure(a);
        assert!(limiter.blocked(a).is_some());
    }
}
