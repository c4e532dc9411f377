//! `murmur3` (hashkit/dyn_murmur3.c).
//!
//! In the original this name is accepted but computes nothing (the call is
//! commented out and the token is left uninitialised), so no cluster of the
//! original can rely on it. This version gives it a documented meaning:
//! MurmurHash3_x86_32 with **seed 0**, the 32-bit variant of Austin Appleby's
//! public reference. Tokens from it are not comparable with anything the
//! original produces.

/// The seed used for `hash: murmur3`.
pub const MURMUR3_SEED: u32 = 0;

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

/// Mixes one 32-bit block before it is folded into the state.
fn mix_k1(mut k1: u32) -> u32 {
    k1 = k1.wrapping_mul(C1);
    k1 = k1.rotate_left(15);
    k1.wrapping_mul(C2)
}

/// The finalisation mix: forces all bits of the state to avalanche.
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// MurmurHash3_x86_32 of `key` with `seed`.
pub fn murmur3_x86_32(key: &[u8], seed: u32) -> u32 {
    let mut h1 = seed;

    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let k1 = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h1 ^= mix_k1(k1);
        h1 = h1.rotate_left(13);
        h1 = h1.wrapping_mul(5).wrapping_add(0xe654_6b64);
    }

    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k1: u32 = 0;
        for (i, &b) in tail.iter().enumerate() {
            k1 ^= u32::from(b) << (8 * i);
        }
        h1 ^= mix_k1(k1);
    }

    // The length is taken modulo 2^32, as the reference's int length is.
    h1 ^= key.len() as u32;
    fmix32(h1)
}

/// Hashes `key`: MurmurHash3_x86_32 with [`MURMUR3_SEED`].
pub fn hash_murmur3(key: &[u8]) -> u32 {
    murmur3_x86_32(key, MURMUR3_SEED)
}

#[cfg(test)]
mod tests {
    use super::{hash_murmur3, murmur3_x86_32};

    #[test]
    fn published_vectors() {
        let cases: [(&[u8], u32, u32); 8] = [
            (b"", 0, 0),
            (b"", 1, 0x514e_28b7),
            (b"", 0xffff_ffff, 0x81f1_6f39),
            (b"\0\0\0\0", 0, 0x2362_f9de),
            (b"test", 0, 0xba6b_d213),
            (b"Hello, world!", 0, 0xc036_3e43),
            (b"Hello, world!", 1234, 0xfaf6_cdb3),
            (
                b"The quick brown fox jumps over the lazy dog",
                0,
                0x2e4f_f723,
            ),
        ];
        for (key, seed, want) in cases {
            assert_eq!(
                murmur3_x86_32(key, seed),
                want,
                "key {:?} seed {}",
                key,
                seed
            );
        }
    }

    #[test]
    fn tails() {
        // Every tail length, against published values for seed 0.
        assert_eq!(murmur3_x86_32(b"a", 0), 0x3c25_69b2);
        assert_eq!(murmur3_x86_32(b"ab", 0), 0x9bbf_d75f);
        assert_eq!(murmur3_x86_32(b"abc", 0), 0xb3dd_93fa);
        assert_eq!(murmur3_x86_32(b"abcd", 0), 0x43ed_676a);
        assert_eq!(hash_murmur3(b"abc"), 0xb3dd_93fa);
    }
}
