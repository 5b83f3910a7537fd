//! What the relay knows of each environment it holds: whether it has a snapshot and keys (from the upstream
//! or from the cache), whether its upstream stream is open, and when the upstream last answered. `/readyz`
//! reports it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use serde::Serialize;

use crate::store::now_millis;

/// Where an environment's snapshot came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Nothing yet.
    None,
    /// The cache directory, written by an earlier run: the upstream has not answered since.
    Cache,
    /// The upstream.
    Upstream,
}

/// One configured key's environment.
#[derive(Debug)]
pub struct Slot {
    /// Which `--key` (0-based), for logs (the key itself is a secret).
    pub index: usize,
    environment: Mutex<Option<String>>,
    source: Mutex<Source>,
    has_keys: AtomicBool,
    connected: AtomicBool,
    last_contact: AtomicI64,
}

/// A slot as `/readyz` shows it.
#[derive(Debug, Serialize)]
pub struct SlotView {
    /// The environment, once known.
    pub environment: Option<String>,
    /// Whether a snapshot is served.
    pub has_snapshot: bool,
    /// Whether the keys of the environment are known.
    pub has_keys: bool,
    /// Where the snapshot came from.
    pub source: Source,
    /// Whether the upstream stream is open.
    pub upstream_connected: bool,
    /// Unix milliseconds of the last answer from the upstream; `null` when it never answered.
    pub last_contact: Option<i64>,
}

impl Slot {
    /// A slot that knows nothing yet.
    pub fn new(index: usize) -> Self {
        Slot {
            index,
            environment: Mutex::new(None),
            source: Mutex::new(Source::None),
            has_keys: AtomicBool::new(false),
            connected: AtomicBool::new(false),
            last_contact: AtomicI64::new(0),
        }
    }

    /// The environment, once known.
    pub fn environment(&self) -> Option<String> {
        self.environment.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Records the environment and where its snapshot came from.
    pub fn set_snapshot(&self, environment: &str, source: Source) {
        *self.environment.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(environment.to_owned());
        let mut current = self.source.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if source == Source::Upstream || *current == Source::None {
            *current = source;
        }
    }

    /// Records that the keys are known.
    pub fn set_keys(&self) {
        self.has_keys.store(true, Ordering::Relaxed);
    }

    /// Records whether the upstream stream is open.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::Relaxed);
        if connected {
            self.contact();
        }
    }

    /// Records an answer from the upstream.
    pub fn contact(&self) {
        self.last_contact.store(now_millis(), Ordering::Relaxed);
    }

    /// As `/readyz` shows it, given whether a snapshot is in memory.
    pub fn view(&self, has_snapshot: bool) -> SlotView {
        let last = self.last_contact.load(Ordering::Relaxed);
        SlotView {
            environment: self.environment(),
            has_snapshot,
            has_keys: self.has_keys.load(Ordering::Relaxed),
            source: *self.source.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
            upstream_connected: self.connected.load(Ordering::Relaxed),
            last_contact: (last > 0).then_some(last),
        }
    }
}
