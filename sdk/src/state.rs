//! One immutable generation of flags: the snapshot as received, its compiled form, and the exposure counters
//! laid out for it.

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pennon_engine::{BuildReport, Change, CompiledSnapshot, FlagKind, Served, Snapshot};

use crate::raw::RawSnapshot;

/// Where the flags being served came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// Nothing yet: every evaluation answers the caller's default with `FLAG_NOT_FOUND`.
    Empty,
    /// The bootstrap file or snapshot given to the builder.
    Bootstrap,
    /// The cache file written by an earlier run.
    Cache,
    /// The server, in this run.
    Server,
    /// A [`TestData`](crate::TestData) source.
    TestData,
}

/// Stable hashes of keys: they identify flags and variants across snapshots in the attribution table.
pub(crate) fn key_hash(key: &str) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed_9e37_79b9_7f4a).hash_one(key)
}

/// A generation of flags. Never mutated after it is built, except for its counters.
#[derive(Debug)]
pub(crate) struct FlagState {
    pub snapshot: RawSnapshot,
    pub compiled: CompiledSnapshot,
    pub source: Source,
    /// The layout by flag position (kinds, hashes, counters): shared with the generation before when a change
    /// leaves every flag at its position with the same kind and variants.
    layout: Arc<Layout>,
    /// What compiling this generation took: every flag for a whole snapshot, the changed ones for a patch.
    pub build: BuildReport,
}

#[derive(Debug)]
pub(crate) struct Layout {
    /// `kinds[flag]`: the kind of the flag at that position.
    pub kinds: Box<[FlagKind]>,
    /// `flag_hashes[flag]`: [`key_hash`] of the flag's key.
    pub flag_hashes: Box<[u64]>,
    /// `variant_hashes[offsets[flag] + variant]`: the low 32 bits of [`key_hash`] of the variant's key.
    pub variant_hashes: Box<[u32]>,
    /// `offsets[flag]`: where the flag's variants start in `variant_hashes` and in each counter stripe.
    pub offsets: Box<[usize]>,
    counters: Counters,
}

impl std::ops::Deref for FlagState {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}

impl FlagState {
    pub(crate) fn new(snapshot: Snapshot, source: Source, stripes: usize) -> Self {
        let (compiled, build) = CompiledSnapshot::compile_with_report(&snapshot);
        let layout = Arc::new(Layout::of(&compiled, stripes));
        FlagState { snapshot: snapshot.into(), compiled, source, layout, build }
    }

    /// The generation after `self` once `changes` are made: `snapshot` is `self`'s snapshot with them made,
    /// and only the flags and segments they carry are compiled; the others are shared with `self`, and so is
    /// the layout (with its exposure counters) when every flag keeps its position, kind and variants.
    pub(crate) fn changed(
        &self,
        snapshot: RawSnapshot,
        changes: &[Change<'_>],
        source: Source,
        stripes: usize,
    ) -> Self {
        let (compiled, build) = self.compiled.apply(snapshot.revision, changes);
        let same_layout = compiled.len() == self.compiled.len()
            && changes.iter().all(|change| match change {
                Change::UpsertFlag(flag) => {
                    let key = flag.definition.key.as_str();
                    let at = self.compiled.position(key);
                    at.is_some()
                        && at == compiled.position(key)
                        && at.and_then(|i| self.snapshot.flags.get(i)).is_some_and(|old| {
                            old.definition.kind == flag.definition.kind
                                && old.definition.variants.len() == flag.definition.variants.len()
                                && old
                                    .definition
                                    .variants
                                    .iter()
                                    .zip(&flag.definition.variants)
                                    .all(|(a, b)| a.key == b.key)
                        })
                }
                Change::DeleteFlag(key) => self.compiled.position(key).is_none(),
                _ => true,
            });
        let layout = if same_layout { self.layout.clone() } else { Arc::new(Layout::of(&compiled, stripes)) };
        FlagState { snapshot, compiled, source, layout, build }
    }
}

impl Layout {
    fn of(compiled: &CompiledSnapshot, stripes: usize) -> Self {
        let mut offsets = Vec::with_capacity(compiled.len());
        let mut variant_hashes = Vec::new();
        for flag in 0..compiled.len() {
            offsets.push(variant_hashes.len());
            variant_hashes.extend(compiled.variant_keys(flag).map(|v| key_hash(v) as u32));
        }
        let flag_hashes = compiled.flag_keys().map(key_hash).collect();
        let kinds = compiled.flag_keys().map(|key| compiled.flag_kind(key).unwrap_or(FlagKind::Json)).collect();
        let counters = Counters::new(variant_hashes.len(), stripes);
        Layout { kinds, flag_hashes, variant_hashes: variant_hashes.into(), offsets: offsets.into(), counters }
    }
}

impl FlagState {
    /// Counts one exposure of a served variant, in the counter stripe of the calling thread.
    #[inline]
    pub(crate) fn count(&self, served: Served, stripe: usize) {
        if let Some(&offset) = self.offsets.get(served.flag) {
            self.counters.add(offset + served.variant, stripe);
        }
    }

    /// What identifies this generation's counters: generations that share their layout share them, so their
    /// exposures are taken once.
    pub(crate) fn counters_id(&self) -> *const Layout {
        Arc::as_ptr(&self.layout)
    }

    /// Takes the exposures counted so far: `(flag position, variant position, count)` for each non-zero one.
    pub(crate) fn take_exposures(&self, mut each: impl FnMut(usize, usize, u64)) {
        for (flag, &offset) in self.offsets.iter().enumerate() {
            let end = self.offsets.get(flag + 1).copied().unwrap_or(self.variant_hashes.len());
            for slot in offset..end {
                let n = self.counters.take(slot);
                if n > 0 {
                    each(flag, slot - offset, n);
                }
            }
        }
    }

    /// The position of the variant of flag `flag` whose key hashes to `hash`.
    pub(crate) fn variant_by_hash(&self, flag: usize, hash: u32) -> Option<usize> {
        let offset = *self.offsets.get(flag)?;
        let end = self.offsets.get(flag + 1).copied().unwrap_or(self.variant_hashes.len());
        self.variant_hashes[offset..end].iter().position(|&h| h == hash)
    }
}

/// Exposure counters: one `AtomicU64` per (flag, variant), in several stripes so that threads evaluating the
/// same flag at once mostly touch different cache lines. A thread always uses the same stripe.
#[derive(Debug)]
struct Counters {
    cells: Box<[AtomicU64]>,
    /// Cells per stripe, a multiple of eight (one 64-byte cache line).
    stride: usize,
    /// Stripes - 1; the number of stripes is a power of two.
    mask: usize,
}

impl Counters {
    fn new(slots: usize, stripes: usize) -> Self {
        let stripes = stripes.max(1).next_power_of_two();
        let stride = slots.div_ceil(8) * 8;
        let cells = (0..stride * stripes).map(|_| AtomicU64::new(0)).collect();
        Counters { cells, stride, mask: stripes - 1 }
    }

    #[inline]
    fn add(&self, slot: usize, stripe: usize) {
        if let Some(cell) = self.cells.get((stripe & self.mask) * self.stride + slot) {
            cell.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn take(&self, slot: usize) -> u64 {
        (0..=self.mask).map(|s| self.cells[s * self.stride + slot].swap(0, Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    pub(crate) fn two_flags() -> Snapshot {
        serde_json::from_value(json!({
            "environment": "test", "revision": 1,
            "flags": [
                { "definition": { "key": "a", "kind": "boolean", "salt": "s",
                    "variants": [{ "key": "on", "value": true }, { "key": "off", "value": false }] },
                  "config": { "flag": "a", "environment": "test", "version": 1, "enabled": true,
                    "off_variant": "off", "default": { "variant": "on" } } },
                { "definition": { "key": "b", "kind": "string", "salt": "s",
                    "variants": [{ "key": "x", "value": "x" }, { "key": "y", "value": "y" }, { "key": "z", "value": "z" }] },
                  "config": { "flag": "b", "environment": "test", "version": 1, "enabled": true,
                    "off_variant": "x", "default": { "variant": "z" } } }
            ]
        }))
        .unwrap()
    }

    #[test]
    fn counts_from_many_threads_add_up_and_are_taken_once() {
        let state = Arc::new(FlagState::new(two_flags(), Source::Server, 4));
        let threads: Vec<_> = (0..6)
            .map(|stripe| {
                let state = state.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        state.count(Served { flag: 1, variant: 2 }, stripe);
                        state.count(Served { flag: 0, variant: 0 }, stripe);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        state.count(Served { flag: 9, variant: 0 }, 0);
        let mut taken = Vec::new();
        state.take_exposures(|f, v, n| taken.push((f, v, n)));
        assert_eq!(taken, [(0, 0, 6000), (1, 2, 6000)]);
        let mut again = Vec::new();
        state.take_exposures(|f, v, n| again.push((f, v, n)));
        assert!(again.is_empty());
    }

    #[test]
    fn variants_are_found_by_their_hash() {
        let state = FlagState::new(two_flags(), Source::Server, 1);
        assert_eq!(state.variant_by_hash(1, key_hash("y") as u32), Some(1));
        assert_eq!(state.variant_by_hash(0, key_hash("y") as u32), None);
        assert_eq!(state.variant_by_hash(5, key_hash("y") as u32), None);
    }
}
