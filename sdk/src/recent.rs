//! Which variant each context key was recently served, per flag, so that `track()` can attribute a metric to
//! the (flag, variant) pairs its context saw.
//!
//! A fixed table of `AtomicU64` entries, four to a set: recording an exposure costs one hash of the context
//! key, one cache line read and (only when the entry is new or changed) one store; there is no lock and no
//! allocation. Entries name flags and variants by hashes of their keys, so they stay valid across snapshots.
//! The table is lossy by design: a set keeps its four newest entries, so the oldest exposures are forgotten
//! first (and, rarely, a racing write loses one). Memory is fixed: 8 bytes per entry.

use std::sync::atomic::{AtomicU64, Ordering};

const WAYS: usize = 4;

#[derive(Debug, Default)]
#[repr(align(32))]
struct Set([AtomicU64; WAYS]);

/// The attribution table.
#[derive(Debug)]
pub(crate) struct Recent {
    sets: Box<[Set]>,
    mask: usize,
}

/// Mixes a context key's hash with a flag key's hash into the entry's set (high half) and tag (low half).
#[inline]
fn slot(context: u64, flag: u64) -> (usize, u32) {
    let h = (context ^ flag.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let h = h ^ (h >> 31);
    ((h >> 32) as usize, (h as u32) | 1)
}

impl Recent {
    /// A table of at least `entries` entries (rounded up to a power of two, at least one set).
    pub(crate) fn new(entries: usize) -> Self {
        let sets = entries.div_ceil(WAYS).max(1).next_power_of_two();
        Recent { sets: (0..sets).map(|_| Set::default()).collect(), mask: sets - 1 }
    }

    /// Notes that the context (by key hash) was served the variant (by key hash) of the flag (by key hash).
    #[inline]
    pub(crate) fn record(&self, context: u64, flag: u64, variant: u32) {
        let (set, tag) = slot(context, flag);
        let entry = (u64::from(tag) << 32) | u64::from(variant);
        let ways = &self.sets[set & self.mask].0;
        for way in ways {
            let current = way.load(Ordering::Relaxed);
            if current == entry {
                return;
            }
            if (current >> 32) as u32 == tag {
                way.store(entry, Ordering::Relaxed);
                return;
            }
        }
        // A new entry goes first and pushes the others down: a full set forgets its oldest entry.
        for i in (1..WAYS).rev() {
            ways[i].store(ways[i - 1].load(Ordering::Relaxed), Ordering::Relaxed);
        }
        ways[0].store(entry, Ordering::Relaxed);
    }

    /// The variant (by key hash) recently served to the context for the flag, if the table remembers one.
    pub(crate) fn lookup(&self, context: u64, flag: u64) -> Option<u32> {
        let (set, tag) = slot(context, flag);
        self.sets[set & self.mask]
            .0
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .find(|&e| (e >> 32) as u32 == tag)
            .map(|e| e as u32)
    }

    /// The table's capacity in entries.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.sets.len() * WAYS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::key_hash;

    #[test]
    fn remembers_the_latest_variant_per_context_and_flag() {
        let table = Recent::new(1024);
        let (alice, bob) = (key_hash("alice"), key_hash("bob"));
        let (checkout, banner) = (key_hash("checkout"), key_hash("banner"));
        table.record(alice, checkout, 1);
        table.record(alice, banner, 2);
        table.record(bob, checkout, 3);
        table.record(alice, checkout, 4);
        assert_eq!(table.lookup(alice, checkout), Some(4));
        assert_eq!(table.lookup(alice, banner), Some(2));
        assert_eq!(table.lookup(bob, checkout), Some(3));
        assert_eq!(table.lookup(bob, banner), None);
    }

    #[test]
    fn memory_is_bounded_and_recent_entries_survive() {
        let table = Recent::new(10_000);
        assert_eq!(table.capacity(), 16_384);
        let flag = key_hash("f");
        for i in 0..200_000u32 {
            table.record(key_hash(&format!("user-{i}")), flag, i);
        }
        // The last few thousand contexts fill well under half the table: nearly all are still there.
        let kept =
            (196_000..200_000u32).filter(|&i| table.lookup(key_hash(&format!("user-{i}")), flag) == Some(i)).count();
        assert!(kept > 3_900, "only {kept} of the last 4000 remembered");
        // Nothing answers with another context's variant.
        let wrong = (0..200_000u32)
            .filter(|&i| table.lookup(key_hash(&format!("user-{i}")), flag).is_some_and(|v| v != i))
            .count();
        assert_eq!(wrong, 0);
    }

    #[test]
    fn a_tiny_table_still_works() {
        let table = Recent::new(0);
        assert_eq!(table.capacity(), WAYS);
        table.record(1, 2, 3);
        assert_eq!(table.lookup(1, 2), Some(3));
    }
}
