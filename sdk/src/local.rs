//! Per-thread shortcuts for the evaluation path.
//!
//! Loading the current state from the `ArcSwap` and releasing it costs about as much as a tenth of an
//! evaluation. Each thread instead keeps the state it last used, with the store's id and generation; while the
//! store's generation (one atomic load) has not moved, the kept state is the current one and is used as is.
//! A thread keeps at most one state alive this way (the one it last evaluated with), and only until it next
//! evaluates after a change. The thread's exposure counter stripe lives here too.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::state::FlagState;
use crate::store::Store;

struct Kept {
    store: u64,
    generation: u64,
    state: Arc<FlagState>,
}

struct Local {
    stripe: Cell<usize>,
    kept: RefCell<Option<Kept>>,
}

thread_local! {
    static LOCAL: Local = const { Local { stripe: Cell::new(usize::MAX), kept: RefCell::new(None) } };
}

impl Local {
    fn stripe(&self) -> usize {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut stripe = self.stripe.get();
        if stripe == usize::MAX {
            stripe = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            self.stripe.set(stripe);
        }
        stripe
    }
}

/// Calls `f` with the store's current state and the thread's counter stripe.
#[inline]
pub(crate) fn with_state<R>(store: &Store, f: impl FnOnce(&FlagState, usize) -> R) -> R {
    let mut f = Some(f);
    let done = LOCAL.try_with(|local| {
        let stripe = local.stripe();
        let Ok(mut kept) = local.kept.try_borrow_mut() else { return None };
        let generation = store.generation();
        let current = match &*kept {
            Some(k) if k.store == store.id() && k.generation == generation => &k.state,
            _ => {
                // The state is at least as new as `generation`: read in this order, a change in between only
                // costs another reload next time.
                let state = store.current();
                &kept.insert(Kept { store: store.id(), generation, state }).state
            }
        };
        f.take().map(|f| f(current, stripe))
    });
    match (done, f) {
        (Ok(Some(result)), _) => result,
        // Thread-local storage is being torn down, or this is a nested call: the plain way.
        (_, Some(f)) => f(&store.load(), 0),
        (_, None) => unreachable!("the closure ran but its result was lost"),
    }
}
