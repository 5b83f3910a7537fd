//! How often one trigger URL may be used: at most a number of POSTs per minute and trigger, counted on each
//! replica (setting `PENNON_TRIGGER_RATE_LIMIT`). A URL that leaked cannot be used to flap a flag or to
//! load the database; an alerting system that repeats its notification is not held back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window the limit counts in.
const WINDOW: Duration = Duration::from_mins(1);

/// Triggers tracked at most before the ones whose window has passed are dropped (bounded memory).
const MAX_ENTRIES: usize = 10_000;

/// POSTs per trigger in the current window.
#[derive(Debug)]
pub struct TriggerLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<i64, (Instant, u32)>>,
}

impl TriggerLimiter {
    /// A limiter allowing `per_minute` POSTs per trigger and minute; 0 allows any number.
    pub fn new(per_minute: u32) -> Self {
        TriggerLimiter { per_minute, windows: Mutex::default() }
    }

    /// Counts a POST to trigger `id` at `now`: `Err` with how long to wait when it is one too many.
    pub fn allow(&self, id: i64, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let mut windows = self.windows.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if windows.len() >= MAX_ENTRIES && !windows.contains_key(&id) {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = windows.entry(id).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= self.per_minute {
            return Err(WINDOW.saturating_sub(now.duration_since(*start)));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_trigger_has_its_own_window() {
        let limiter = TriggerLimiter::new(2);
        let t0 = Instant::now();
        assert!(limiter.allow(1, t0).is_ok());
        assert!(limiter.allow(1, t0).is_ok());
        let wait = limiter.allow(1, t0 + Duration::from_secs(20)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(40));
        assert!(limiter.allow(2, t0).is_ok(), "another trigger is not held back");
        assert!(limiter.allow(1, t0 + WINDOW).is_ok(), "a new window starts");
        let unlimited = TriggerLimiter::new(0);
        assert!((0..100).all(|_| unlimited.allow(1, t0).is_ok()));
    }
}
