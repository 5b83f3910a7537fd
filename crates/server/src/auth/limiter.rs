//! Login throttling that slows guessing down without letting anyone lock the owner out.
//!
//! - Per account and address: the first [`LoginPolicy::free_failures`] failures cost nothing; after that each
//!   failure doubles the wait before the next attempt from that address for that account (1 s, 2 s, 4 s, ...
//!   up to [`LoginPolicy::max_delay`]). Attempts made while waiting are refused (429 with `Retry-After`)
//!   without checking the password, and double the wait too.
//! - Per address, whatever the account: the same after [`LoginPolicy::address_free_failures`] failures.
//! - Per account, across all addresses: at most [`LoginPolicy::account_budget`] failures an hour. Past it,
//!   only addresses that have not failed for that account in the hour may try.
//!
//! So an address that has not been failing always gets its password checked: the right one signs in while
//! a guessing address is still slowed down. Counters are forgotten after an hour without failures, and a
//! successful sign-in clears its account and address pair.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The limits (settings `PENNON_LOGIN_*`).
#[derive(Debug, Clone, Copy)]
pub struct LoginPolicy {
    /// Failures per account and address before waits start.
    pub free_failures: u32,
    /// Failures per address (any account) before waits start.
    pub address_free_failures: u32,
    /// Failures per account per hour, across addresses, past which only addresses that have not failed for
    /// that account may try.
    pub account_budget: usize,
    /// The longest wait.
    pub max_delay: Duration,
}

/// How long counters are kept after the last failure, and the account budget's window.
const WINDOW: Duration = Duration::from_hours(1);

/// Entries kept at most; past it, the ones quiet for longer than the window are dropped (bounded memory).
const MAX_ENTRIES: usize = 100_000;

/// Failures of one account and address pair, or of one address.
#[derive(Debug, Clone, Copy)]
struct Slowdown {
    failures: u32,
    last: Instant,
    until: Instant,
}

#[derive(Debug, Default)]
struct Counters {
    pairs: HashMap<(String, String), Slowdown>,
    addresses: HashMap<String, Slowdown>,
    accounts: HashMap<String, VecDeque<Instant>>,
}

/// Failure counters.
#[derive(Debug)]
pub struct LoginLimiter {
    policy: LoginPolicy,
    counters: Mutex<Counters>,
}

fn delay(failures: u32, free: u32, max: Duration) -> Duration {
    if failures < free {
        return Duration::ZERO;
    }
    Duration::from_secs(1u64 << (failures - free).min(30)).min(max)
}

fn bump(entry: &mut Slowdown, free: u32, max: Duration, now: Instant) {
    entry.failures = entry.failures.saturating_add(1);
    entry.last = now;
    entry.until = now + delay(entry.failures, free, max);
}

fn fresh(now: Instant) -> Slowdown {
    Slowdown { failures: 0, last: now, until: now }
}

impl LoginLimiter {
    /// A limiter with these limits.
    pub fn new(policy: LoginPolicy) -> Self {
        LoginLimiter { policy, counters: Mutex::new(Counters::default()) }
    }

    /// Whether `address` may try a password for `account` now: `Err(wait)` when not. A refused attempt
    /// doubles the wait that refused it.
    pub fn admit(&self, account: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let p = self.policy;
        let mut guard = self.counters.lock().expect("limiter lock");
        let counters = &mut *guard;
        let mut wait = Duration::ZERO;
        let pair_key = (account.to_owned(), address.to_owned());
        if let Some(pair) = counters.pairs.get_mut(&pair_key).filter(|e| now.duration_since(e.last) < WINDOW) {
            if pair.until > now {
                bump(pair, p.free_failures, p.max_delay, now);
                wait = wait.max(pair.until - now);
            }
            let budget_used = counters.accounts.get_mut(account).is_some_and(|times| {
                while times.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    times.pop_front();
                }
                times.len() >= p.account_budget
            });
            if budget_used {
                let oldest = counters.accounts[account].front().copied().unwrap_or(now);
                wait = wait.max(WINDOW.saturating_sub(now.duration_since(oldest)));
            }
        }
        if let Some(entry) = counters.addresses.get_mut(address).filter(|e| e.until > now) {
            bump(entry, p.address_free_failures, p.max_delay, now);
            wait = wait.max(entry.until - now);
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Counts a wrong password (or unknown account) from `address`.
    pub fn failed(&self, account: &str, address: &str) {
        let now = Instant::now();
        let p = self.policy;
        let mut counters = self.counters.lock().expect("limiter lock");
        if counters.pairs.len() + counters.addresses.len() + counters.accounts.len() >= MAX_ENTRIES {
            counters.pairs.retain(|_, e| now.duration_since(e.last) < WINDOW);
            counters.addresses.retain(|_, e| now.duration_since(e.last) < WINDOW);
            counters.accounts.retain(|_, t| t.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let pair = counters.pairs.entry((account.to_owned(), address.to_owned())).or_insert_with(|| fresh(now));
        if now.duration_since(pair.last) >= WINDOW {
            *pair = fresh(now);
        }
        bump(pair, p.free_failures, p.max_delay, now);
        let entry = counters.addresses.entry(address.to_owned()).or_insert_with(|| fresh(now));
        if now.duration_since(entry.last) >= WINDOW {
            *entry = fresh(now);
        }
        bump(entry, p.address_free_failures, p.max_delay, now);
        counters.accounts.entry(account.to_owned()).or_default().push_back(now);
    }

    /// Forgets the failures of an account from an address after it signed in from there.
    pub fn succeeded(&self, account: &str, address: &str) {
        let mut counters = self.counters.lock().expect("limiter lock");
        counters.pairs.remove(&(account.to_owned(), address.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(account_budget: usize) -> LoginLimiter {
        LoginLimiter::new(LoginPolicy {
            free_failures: 3,
            address_free_failures: 10,
            account_budget,
            max_delay: Duration::from_mins(15),
        })
    }

    #[test]
    fn a_failing_address_waits_longer_and_longer() {
        let limiter = limiter(100);
        for _ in 0..2 {
            assert!(limiter.admit("a@x", "1.1.1.1").is_ok());
            limiter.failed("a@x", "1.1.1.1");
        }
        assert!(limiter.admit("a@x", "1.1.1.1").is_ok(), "the first failures cost nothing");
        limiter.failed("a@x", "1.1.1.1");
        let first = limiter.admit("a@x", "1.1.1.1").unwrap_err();
        let second = limiter.admit("a@x", "1.1.1.1").unwrap_err();
        assert!(second > first, "a refused attempt doubles the wait: {first:?} then {second:?}");
        assert!(limiter.admit("a@x", "2.2.2.2").is_ok(), "another address may try the account");
        assert!(limiter.admit("b@x", "1.1.1.1").is_ok(), "the address may try another account");
        limiter.succeeded("a@x", "2.2.2.2");
        assert!(limiter.admit("a@x", "1.1.1.1").is_err(), "a sign-in elsewhere does not clear it");
    }

    #[test]
    fn an_address_guessing_many_accounts_is_slowed_down() {
        let limiter = limiter(100);
        for i in 0..10 {
            limiter.failed(&format!("user{i}@x"), "1.1.1.1");
        }
        assert!(limiter.admit("new@x", "1.1.1.1").is_err());
        assert!(limiter.admit("new@x", "2.2.2.2").is_ok());
    }

    #[test]
    fn past_the_account_budget_only_addresses_that_have_not_failed_may_try() {
        let limiter = limiter(5);
        for i in 0..5 {
            limiter.failed("a@x", &format!("10.0.0.{i}"));
        }
        assert!(limiter.admit("a@x", "10.0.0.1").is_err(), "a failing address is refused");
        assert!(limiter.admit("a@x", "10.0.0.99").is_ok(), "an address that has not failed may try");
    }
}
