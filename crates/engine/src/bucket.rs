//! Bucketing: the contract every SDK must reproduce.
//!
//! `bucket(salt, value) = murmur3_x86_32(utf8(salt + ":" + value), seed = 0) mod 100000`.
//!
//! The hash is streamed over the salt, the separator and the value in turn, without copying them into one
//! buffer; `tests/vectors/bucketing.json`, produced by an independent implementation, pins it.

/// Buckets per split: weights are in units of 1/100000.
pub const BUCKETS: u32 = 100_000;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3, x86 32-bit variant, over a byte slice.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut hasher = Murmur3::new(seed);
    hasher.write(data);
    hasher.finish()
}

/// MurmurHash3 x86_32 over input that arrives in pieces: the hash of the pieces is the hash of their
/// concatenation.
#[derive(Debug, Clone, Copy)]
struct Murmur3 {
    h: u32,
    /// The bytes after the last whole 4-byte block (little-endian, low bytes first; the rest are zero).
    pending: u32,
    /// How many bytes `pending` holds: 0 to 3.
    pending_len: u32,
    /// Total input length, modulo 2^32 as the algorithm specifies.
    len: u32,
}

impl Murmur3 {
    #[inline]
    fn new(seed: u32) -> Self {
        Murmur3 { h: seed, pending: 0, pending_len: 0, len: 0 }
    }

    #[inline]
    fn write(&mut self, data: &[u8]) {
        self.len = self.len.wrapping_add(data.len() as u32);
        // Each 4-byte word of `data` completes the pending bytes into a block and leaves as many bytes of
        // its own pending again, so whole words are read even when `data` does not start on a block boundary.
        let shift = 8 * self.pending_len;
        let mut words = data.chunks_exact(4);
        for word in &mut words {
            let joined = (u64::from(u32::from_le_bytes([word[0], word[1], word[2], word[3]])) << shift)
                | u64::from(self.pending);
            self.h = block(self.h, joined as u32);
            self.pending = (joined >> 32) as u32;
        }
        for &byte in words.remainder() {
            self.push_byte(byte);
        }
    }

    /// Appends one byte to the pending ones (the caller has counted it in `len`).
    #[inline]
    fn push_byte(&mut self, byte: u8) {
        self.pending |= u32::from(byte) << (8 * self.pending_len);
        self.pending_len += 1;
        if self.pending_len == 4 {
            self.h = block(self.h, self.pending);
            self.pending = 0;
            self.pending_len = 0;
        }
    }

    #[inline]
    fn finish(self) -> u32 {
        let mut h = self.h;
        if self.pending_len > 0 {
            h ^= mix_k(self.pending);
        }
        fmix32(h ^ self.len)
    }
}

#[inline]
fn block(h: u32, k: u32) -> u32 {
    (h ^ mix_k(k)).rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64)
}

#[inline]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

#[inline]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The bucket (0..100000) of `value` for a flag with this `salt`.
///
/// ```
/// assert!(pennon_engine::bucket("salt", "user-1") < 100_000);
/// ```
pub fn bucket(salt: &str, value: &str) -> u32 {
    SaltPrefix::new(salt).bucket(value)
}

/// The hash state after a flag's salt and the `:`: a compiled flag keeps it, so that bucketing a value hashes
/// only the value (the salt is the same for every context).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SaltPrefix(Murmur3);

impl SaltPrefix {
    pub(crate) fn new(salt: &str) -> Self {
        let mut hasher = Murmur3::new(0);
        hasher.write(salt.as_bytes());
        hasher.write(b":");
        SaltPrefix(hasher)
    }

    /// Unleash's rollout bucket, `1 + murmur3_x86_32(group_id:value, 0) mod 100`, for the group id this prefix
    /// was made from.
    #[inline]
    pub(crate) fn unleash_rollout_bucket(&self, value: &str) -> u32 {
        let mut hasher = self.0;
        hasher.write(value.as_bytes());
        hasher.finish() % 100 + 1
    }

    /// `bucket(salt, value)` for the salt this prefix was made from.
    #[inline]
    pub(crate) fn bucket(&self, value: &str) -> u32 {
        let mut hasher = self.0;
        hasher.write(value.as_bytes());
        hasher.finish() % BUCKETS
    }
}

/// The seed of Unleash's variant assignment.
pub const UNLEASH_VARIANT_SEED: u32 = 86_028_157;

/// Unleash's variant bucket of `value`: `1 + murmur3_x86_32(utf8(group_id + ":" + value), 86028157) mod total`,
/// in `1..=total` (`total` is the sum of the variants' weights; 0 gives 0).
///
/// ```
/// assert!((1..=1000).contains(&pennon_engine::unleash_variant_bucket("group", "user-1", 1000)));
/// ```
pub fn unleash_variant_bucket(group_id: &str, value: &str, total: u32) -> u32 {
    if total == 0 {
        return 0;
    }
    let mut hasher = Murmur3::new(UNLEASH_VARIANT_SEED);
    hasher.write(group_id.as_bytes());
    hasher.write(b":");
    hasher.write(value.as_bytes());
    hasher.finish() % total + 1
}

/// Unleash's rollout bucket of `value`: `1 + murmur3_x86_32(utf8(group_id + ":" + value), 0) mod 100`, in
/// `1..=100`; a context is in a rollout of `p` percent when its bucket is at most `p`.
///
/// ```
/// assert!((1..=100).contains(&pennon_engine::unleash_rollout_bucket("group", "user-1")));
/// ```
pub fn unleash_rollout_bucket(group_id: &str, value: &str) -> u32 {
    SaltPrefix::new(group_id).unleash_rollout_bucket(value)
}

/// Picks the index of the weight that owns `bucket`, walking the weights in order. `None` when the weights
/// do not reach the bucket (they sum to less than 100000).
pub fn pick(weights: impl IntoIterator<Item = u32>, bucket: u32) -> Option<usize> {
    let mut upper = 0u32;
    for (i, w) in weights.into_iter().enumerate() {
        upper = upper.saturating_add(w);
        if bucket < upper {
            return Some(i);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_murmur3_values() {
        // Reference values of MurmurHash3_x86_32 published with SMHasher's verification.
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"\xff\xff\xff\xff", 0), 0x7629_3b50);
        assert_eq!(murmur3_x86_32(b"!Ce\x87", 0), 0xf55b_516b);
        assert_eq!(murmur3_x86_32(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(reference_murmur3(b"Hello, world!", 1234), 0xfaf6_cdb3);
        assert_eq!(reference_murmur3(b"!Ce\x87", 0), 0xf55b_516b);
    }

    /// MurmurHash3 x86_32 written as directly as possible from the reference C code, one block at a time.
    fn reference_murmur3(data: &[u8], seed: u32) -> u32 {
        let mut h = seed;
        let whole = data.len() / 4 * 4;
        for i in (0..whole).step_by(4) {
            let mut k = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
            k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
            h ^= k;
            h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
        }
        let mut k = 0u32;
        for (i, byte) in data[whole..].iter().enumerate() {
            k ^= u32::from(*byte) << (8 * i);
        }
        if whole < data.len() {
            h ^= k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        }
        h ^= data.len() as u32;
        h ^= h >> 16;
        h = h.wrapping_mul(0x85eb_ca6b);
        h ^= h >> 13;
        h = h.wrapping_mul(0xc2b2_ae35);
        h ^ (h >> 16)
    }

    proptest::proptest! {
        #[test]
        fn streamed_pieces_hash_like_their_concatenation(
            pieces in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..6),
            seed in proptest::prelude::any::<u32>(),
        ) {
            let mut hasher = Murmur3::new(seed);
            for piece in &pieces {
                hasher.write(piece);
            }
            let joined = pieces.concat();
            proptest::prop_assert_eq!(hasher.finish(), reference_murmur3(&joined, seed));
            proptest::prop_assert_eq!(murmur3_x86_32(&joined, seed), reference_murmur3(&joined, seed));
        }

        #[test]
        fn bucket_hashes_salt_colon_value(salt in "\\PC{0,20}", value in "\\PC{0,40}") {
            let joined = format!("{salt}:{value}");
            proptest::prop_assert_eq!(bucket(&salt, &value), reference_murmur3(joined.as_bytes(), 0) % BUCKETS);
        }
    }

    #[test]
    fn long_inputs_hash_like_short_ones() {
        let salt = "s".repeat(300);
        let mut joined = salt.clone();
        joined.push_str(":v");
        assert_eq!(bucket(&salt, "v"), murmur3_x86_32(joined.as_bytes(), 0) % BUCKETS);
    }

    #[test]
    fn pick_walks_cumulative_weights() {
        assert_eq!(pick([25_000, 75_000], 0), Some(0));
        assert_eq!(pick([25_000, 75_000], 24_999), Some(0));
        assert_eq!(pick([25_000, 75_000], 25_000), Some(1));
        assert_eq!(pick([0, 100_000], 0), Some(1));
        assert_eq!(pick([10, 10], 20), None);
    }
}
