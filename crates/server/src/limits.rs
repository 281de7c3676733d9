//! Request limits: body size, per-token rate, timeouts; all configurable.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// The limits a server enforces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Requests per second per token; 0 turns rate limiting off (429 above it).
    pub rate_per_second: u32,
    /// Requests a token may make at once above its rate.
    pub rate_burst: u32,
    /// How long a request may take before it gets a 503.
    pub request_timeout: Duration,
    /// The longest `?wait=` a snapshot long-poll may ask for.
    pub max_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            rate_per_second: 1_000,
            rate_burst: 2_000,
            request_timeout: Duration::from_secs(10),
            max_wait: Duration::from_secs(60),
        }
    }
}

/// A GCRA rate limiter keyed by token id.
#[derive(Debug)]
pub struct RateLimits {
    limiter: Option<DefaultKeyedRateLimiter<Arc<str>>>,
    clock: DefaultClock,
}

impl RateLimits {
    /// A limiter for `limits`; `rate_per_second == 0` allows everything.
    pub fn new(limits: &Limits) -> Self {
        let limiter = NonZeroU32::new(limits.rate_per_second).map(|rate| {
            let burst =
                NonZeroU32::new(limits.rate_burst.max(limits.rate_per_second)).unwrap_or(rate);
            RateLimiter::dashmap(Quota::per_second(rate).allow_burst(burst))
        });
        RateLimits { limiter, clock: DefaultClock::default() }
    }

    /// Takes one request from the token's allowance.
    ///
    /// # Errors
    /// How long to wait before the next request would be allowed.
    pub fn check(&self, token: &Arc<str>) -> Result<(), Duration> {
        match &self.limiter {
            None => Ok(()),
            Some(limiter) => limiter
                .check_key(token)
                .map_err(|not_until| not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// The `Retry-After` value for a wait: whole seconds, rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_wait() {
        let limits = Limits { rate_per_second: 2, rate_burst: 2, ..Limits::default() };
        let rate = RateLimits::new(&limits);
        let token: Arc<str> = Arc::from("t");
        assert!(rate.check(&token).is_ok());
        assert!(rate.check(&token).is_ok());
        let wait = rate.check(&token).unwrap_err();
        assert_eq!(retry_after_seconds(wait), 1);
        assert!(rate.check(&Arc::from("other")).is_ok());
    }

    #[test]
    fn zero_turns_it_off() {
        let rate = RateLimits::new(&Limits { rate_per_second: 0, ..Limits::default() });
        let token: Arc<str> = Arc::from("t");
        assert!((0..10_000).all(|_| rate.check(&token).is_ok()));
    }
}
