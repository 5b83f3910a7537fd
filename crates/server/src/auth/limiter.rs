//! Login attempt limits, per account and per client address: failures within a window count; past the
//! limit, attempts are refused (429) until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failure counters.
#[derive(Debug)]
pub struct LoginLimiter {
    window: Duration,
    per_account: usize,
    per_address: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Entries kept at most; past it the oldest-looking entries are dropped (bounded memory under attack).
const MAX_ENTRIES: usize = 100_000;

impl LoginLimiter {
    /// A limiter allowing `per_account` and `per_address` failures per `window`.
    pub fn new(window: Duration, per_account: usize, per_address: usize) -> Self {
        LoginLimiter { window, per_account, per_address, failures: Mutex::new(HashMap::new()) }
    }

    /// `Err(retry_after)` when the account or the address has used up its failures.
    pub fn check(&self, account: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("limiter lock");
        let mut wait = None;
        for (key, limit) in [(format!("a:{account}"), self.per_account), (format!("i:{address}"), self.per_address)] {
            if let Some(times) = failures.get_mut(&key) {
                while times.front().is_some_and(|t| now.duration_since(*t) > self.window) {
                    times.pop_front();
                }
                if times.len() >= limit {
                    let oldest = *times.front().expect("non-empty");
                    let retry = self.window.saturating_sub(now.duration_since(oldest));
                    wait = Some(wait.map_or(retry, |w: Duration| w.max(retry)));
                }
            }
        }
        wait.map_or(Ok(()), Err)
    }

    /// Counts a failed attempt.
    pub fn failed(&self, account: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().expect("limiter lock");
        if failures.len() >= MAX_ENTRIES {
            let window = self.window;
            failures.retain(|_, times| times.back().is_some_and(|t| now.duration_since(*t) <= window));
        }
        for key in [format!("a:{account}"), format!("i:{address}")] {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Forgets an account's failures after a successful login.
    pub fn succeeded(&self, account: &str) {
        self.failures.lock().expect("limiter lock").remove(&format!("a:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_account_and_per_address() {
        let limiter = LoginLimiter::new(Duration::from_mins(1), 3, 5);
        for _ in 0..3 {
            assert!(limiter.check("a@x", "1.1.1.1").is_ok());
            limiter.failed("a@x", "1.1.1.1");
        }
        assert!(limiter.check("a@x", "2.2.2.2").is_err(), "the account is locked from any address");
        assert!(limiter.check("b@x", "1.1.1.1").is_ok(), "the address has failures left");
        limiter.failed("b@x", "1.1.1.1");
        limiter.failed("c@x", "1.1.1.1");
        assert!(limiter.check("d@x", "1.1.1.1").is_err(), "the address is used up");
        limiter.succeeded("a@x");
        assert!(limiter.check("a@x", "3.3.3.3").is_ok());
    }
}
