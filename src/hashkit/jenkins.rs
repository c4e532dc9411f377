//! `jenkins` (hashkit/dyn_jenkins.c): Bob Jenkins' lookup3 `hashlittle`
//! with initval 13.
//!
//! The key is consumed in 12-byte blocks of three little-endian words; the
//! last 1..12 bytes are zero-padded to a block and go through `final` instead
//! of `mix`. The result does not depend on the host's byte order or on the
//! key's alignment.
//!
//! The empty key: the original leaves the token unset (undefined). This
//! version returns what `hashlittle` returns for a zero length, the initial
//! `c` (0xdeadbeef + 13).

/// The original's initval.
const INITVAL: u32 = 13;

/// lookup3 `mix`: reversibly mixes three words.
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// lookup3 `final`: final mixing of three words into `c`.
fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// Reads word `i` of a 12-byte block, little-endian.
fn word(block: &[u8], i: usize) -> u32 {
    let at = 4 * i;
    u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]])
}

/// lookup3 `hashlittle(key, len, initval)`.
fn hashlittle(key: &[u8], initval: u32) -> u32 {
    let init = 0xdeadbeef_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);

    let mut rest = key;
    while rest.len() > 12 {
        a = a.wrapping_add(word(rest, 0));
        b = b.wrapping_add(word(rest, 1));
        c = c.wrapping_add(word(rest, 2));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }

    // The last block (1..12 bytes, or none at all for the empty key).
    if rest.is_empty() {
        return c;
    }
    let mut block = [0u8; 12];
    block[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&block, 0));
    b = b.wrapping_add(word(&block, 1));
    c = c.wrapping_add(word(&block, 2));
    final_mix(&mut a, &mut b, &mut c);
    c
}

/// Hashes `key`.
pub fn hash_jenkins(key: &[u8]) -> u32 {
    hashlittle(key, INITVAL)
}

#[cfg(test)]
mod tests {
    use super::{hash_jenkins, hashlittle};

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 4] = [
            (b"a", 3768813200),
            (b"foo", 2583187353),
            (b"hello", 772589811),
            (b"user1000", 1735288169),
        ];
        for (key, want) in cases {
            assert_eq!(hash_jenkins(key), want, "key {:?}", key);
        }
    }

    #[test]
    fn published_vectors() {
        // The self-test values printed by lookup3.c's driver.
        assert_eq!(hashlittle(b"", 0), 0xdeadbeef);
        assert_eq!(hashlittle(b"", 0xdeadbeef), 0xbd5b7dde);
        assert_eq!(hashlittle(b"Four score and seven years ago", 0), 0x17770551);
        assert_eq!(hashlittle(b"Four score and seven years ago", 1), 0xcd628161);
    }

    #[test]
    fn empty_key() {
        assert_eq!(hash_jenkins(b""), 0xdeadbeef_u32.wrapping_add(13));
    }

    #[test]
    fn block_boundaries_differ() {
        // 12 bytes go through `final` only; 13 bytes go through `mix` once.
        assert_ne!(
            hash_jenkins(b"abcdefghijkl"),
            hash_jenkins(b"abcdefghijkl\0")
        );
    }
}
