//! `murmur` (hashkit/dyn_murmur.c): the default key hash, a 32-bit
//! MurmurHash2 variant whose seed depends on the key length.
//!
//! ```text
//! h = (0xdeadbeef * len) ^ len
//! for each 4-byte little-endian block k:  k *= m; k ^= k >> 24; k *= m; h *= m; h ^= k
//! tail (1..3 bytes, fall-through):        h ^= b2 << 16; h ^= b1 << 8; h ^= b0; h *= m
//! h ^= h >> 13; h *= m; h ^= h >> 15
//! ```

/// MurmurHash2 multiplier.
const M: u32 = 0x5bd1e995;
/// MurmurHash2 shift.
const R: u32 = 24;
/// Multiplied by the key length to give the seed.
const SEED_FACTOR: u32 = 0xdeadbeef;

/// Hashes `key`. The empty key hashes to 0.
pub fn hash_murmur(key: &[u8]) -> u32 {
    // The length is taken modulo 2^32, as the 32-bit original does.
    let len = key.len() as u32;
    let seed = SEED_FACTOR.wrapping_mul(len);
    let mut h = seed ^ len;

    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    let tail = blocks.remainder();
    debug_assert!(tail.len() < 4);
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::hash_murmur;

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 8] = [
            (b"", 0),
            (b"a", 1262581116),
            (b"foo", 3303027599),
            (b"bar", 516654467),
            (b"hello", 1377504255),
            (b"key:1", 3691594071),
            (b"user1000", 4121091569),
            (b"{user1000}.following", 2799879989),
        ];
        for (key, want) in cases {
            assert_eq!(hash_murmur(key), want, "key {:?}", key);
        }
    }
}
