//! Bucketing: the contract every SDK must reproduce.
//!
//! `bucket(salt, value) = murmur3_x86_32(utf8(salt + ":" + value), seed = 0) mod 100000`.
//!
//! The hash is computed over a stack buffer (no allocation for inputs up to 256 bytes) with a slice-based
//! MurmurHash3 x86_32; `tests/vectors/bucketing.json`, produced by an independent implementation, pins it.

/// Buckets per split: weights are in units of 1/100000.
pub const BUCKETS: u32 = 100_000;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// MurmurHash3, x86 32-bit variant, over a byte slice.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= mix_k(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, byte) in tail.iter().enumerate() {
            k |= u32::from(*byte) << (8 * i);
        }
        h ^= mix_k(k);
    }
    h ^= data.len() as u32;
    fmix32(h)
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
    let len = salt.len() + 1 + value.len();
    let hash = if len <= 256 {
        let mut buf = [0u8; 256];
        buf[..salt.len()].copy_from_slice(salt.as_bytes());
        buf[salt.len()] = b':';
        buf[salt.len() + 1..len].copy_from_slice(value.as_bytes());
        murmur3_x86_32(&buf[..len], 0)
    } else {
        let mut joined = Vec::with_capacity(len);
        joined.extend_from_slice(salt.as_bytes());
        joined.push(b':');
        joined.extend_from_slice(value.as_bytes());
        murmur3_x86_32(&joined, 0)
    };
    hash % BUCKETS
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
