//! `fnv1_64`, `fnv1a_64`, `fnv1_32`, `fnv1a_32` (hashkit/dyn_fnv.c):
//! Fowler-Noll-Vo hashes.
//!
//! * `fnv1_32`, `fnv1a_32`: standard 32-bit FNV-1 and FNV-1a.
//! * `fnv1_64`: 64-bit FNV-1, truncated to its low 32 bits.
//! * `fnv1a_64`: what the original computes is a *32-bit* FNV-1a that starts
//!   from the low 32 bits of the 64-bit offset basis (0x84222325) and
//!   multiplies by the low 32 bits of the 64-bit prime (0x1b3). The low 32
//!   bits of a product depend only on the low 32 bits of its factors, so this
//!   equals the real 64-bit FNV-1a truncated to 32 bits; it is written the
//!   way the spec describes it.

/// 64-bit FNV offset basis.
const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
/// 64-bit FNV prime.
const PRIME_64: u64 = 0x0000_0100_0000_01b3;
/// 32-bit FNV offset basis.
const OFFSET_32: u32 = 0x811c_9dc5;
/// 32-bit FNV prime.
const PRIME_32: u32 = 0x0100_0193;

/// `fnv1_64`: 64-bit FNV-1, low 32 bits.
pub fn hash_fnv1_64(key: &[u8]) -> u32 {
    let mut h = OFFSET_64;
    for &b in key {
        h = h.wrapping_mul(PRIME_64);
        h ^= u64::from(b);
    }
    h as u32
}

/// `fnv1a_64`: 32-bit FNV-1a with the 64-bit constants cut to 32 bits.
pub fn hash_fnv1a_64(key: &[u8]) -> u32 {
    let mut h = OFFSET_64 as u32;
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(PRIME_64 as u32);
    }
    h
}

/// `fnv1_32`: standard 32-bit FNV-1.
pub fn hash_fnv1_32(key: &[u8]) -> u32 {
    let mut h = OFFSET_32;
    for &b in key {
        h = h.wrapping_mul(PRIME_32);
        h ^= u32::from(b);
    }
    h
}

/// `fnv1a_32`: standard 32-bit FNV-1a.
pub fn hash_fnv1a_32(key: &[u8]) -> u32 {
    let mut h = OFFSET_32;
    for &b in key {
        h ^= u32::from(b);
        h = h.wrapping_mul(PRIME_32);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vectors() {
        // key, then fnv1_64, fnv1a_64, fnv1_32, fnv1a_32.
        let cases: [(&[u8], [u32; 4]); 4] = [
            (b"a", [2248259518, 2248273036, 84696446, 3826002220]),
            (b"foo", [1805727027, 4275688823, 1083137555, 2851307223]),
            (b"hello", [3183334599, 2158673163, 3069866343, 1335831723]),
            (b"user1000", [922056335, 1973684067, 189573647, 1164660451]),
        ];
        for (key, [f1_64, f1a_64, f1_32, f1a_32]) in cases {
            assert_eq!(hash_fnv1_64(key), f1_64, "fnv1_64 key {:?}", key);
            assert_eq!(hash_fnv1a_64(key), f1a_64, "fnv1a_64 key {:?}", key);
            assert_eq!(hash_fnv1_32(key), f1_32, "fnv1_32 key {:?}", key);
            assert_eq!(hash_fnv1a_32(key), f1a_32, "fnv1a_32 key {:?}", key);
        }
    }

    #[test]
    fn published_vectors() {
        // From the FNV reference test suite (64-bit results shown truncated).
        assert_eq!(hash_fnv1_32(b""), 0x811c_9dc5);
        assert_eq!(hash_fnv1a_32(b""), 0x811c_9dc5);
        assert_eq!(hash_fnv1_32(b"a"), 0x050c_5d7e);
        assert_eq!(hash_fnv1a_32(b"a"), 0xe40c_292c);
        assert_eq!(hash_fnv1_32(b"foobar"), 0x31f0_b262);
        assert_eq!(hash_fnv1a_32(b"foobar"), 0xbf9c_f968);
        assert_eq!(hash_fnv1_64(b""), 0x8422_2325);
        assert_eq!(hash_fnv1a_64(b""), 0x8422_2325);
        assert_eq!(hash_fnv1_64(b"a"), 0x8601_b7be); // af63bd4c8601b7be
        assert_eq!(hash_fnv1a_64(b"a"), 0x8601_ec8c); // af63dc4c8601ec8c
        assert_eq!(hash_fnv1_64(b"foobar"), 0xa4dd_a9c2); // 340d8765a4dda9c2
        assert_eq!(hash_fnv1a_64(b"foobar"), 0xf739_67e8); // 85944171f73967e8
    }

    #[test]
    fn fnv1a_64_equals_truncated_64_bit_fnv1a() {
        let key = b"any key \x00\xff with high bytes";
        let mut h = OFFSET_64;
        for &b in key.iter() {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME_64);
        }
        assert_eq!(hash_fnv1a_64(key), h as u32);
    }
}
