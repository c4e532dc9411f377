//! `hsieh` (hashkit/dyn_hsieh.c): Paul Hsieh's SuperFastHash.
//!
//! 16-bit halves are read little-endian. As in the published reference code,
//! the odd trailing byte is read as a *signed* char (sign-extended).
//!
//! Quirk kept from the original (the libmemcached variant): the state starts
//! at 0, not at the key length as in the published reference. The spec's
//! vectors for `a`, `foo`, `hello` and `user1000` only match with 0.
//!
//! The empty key: the original leaves the token unset (undefined). This
//! version returns 0, which is what the reference code returns for a zero
//! length.

/// Reads a little-endian 16-bit value.
fn get16(b: &[u8]) -> u32 {
    debug_assert!(b.len() >= 2);
    u32::from(b[0]) | (u32::from(b[1]) << 8)
}

/// Sign-extends a byte to 32 bits.
fn signed(b: u8) -> u32 {
    i32::from(b as i8) as u32
}

/// Hashes `key`.
pub fn hash_hsieh(key: &[u8]) -> u32 {
    if key.is_empty() {
        return 0;
    }
    // Not `key.len()`: see the module comment.
    let mut h: u32 = 0;

    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        h = h.wrapping_add(get16(&block[0..2]));
        let tmp = (get16(&block[2..4]) << 11) ^ h;
        h = (h << 16) ^ tmp;
        h = h.wrapping_add(h >> 11);
    }

    let tail = blocks.remainder();
    match tail.len() {
        3 => {
            h = h.wrapping_add(get16(&tail[0..2]));
            h ^= h << 16;
            h ^= signed(tail[2]) << 18;
            h = h.wrapping_add(h >> 11);
        }
        2 => {
            h = h.wrapping_add(get16(&tail[0..2]));
            h ^= h << 11;
            h = h.wrapping_add(h >> 17);
        }
        1 => {
            h = h.wrapping_add(signed(tail[0]));
            h ^= h << 10;
            h = h.wrapping_add(h >> 1);
        }
        _ => debug_assert!(tail.is_empty()),
    }

    // Avalanche the last bits.
    h ^= h << 3;
    h = h.wrapping_add(h >> 5);
    h ^= h << 4;
    h = h.wrapping_add(h >> 17);
    h ^= h << 25;
    h = h.wrapping_add(h >> 6);
    h
}

#[cfg(test)]
mod tests {
    use super::hash_hsieh;

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 4] = [
            (b"a", 2472816263),
            (b"foo", 1993659431),
            (b"hello", 327428805),
            (b"user1000", 2235843572),
        ];
        for (key, want) in cases {
            assert_eq!(hash_hsieh(key), want, "key {:?}", key);
        }
    }

    #[test]
    fn empty_key_is_zero() {
        assert_eq!(hash_hsieh(b""), 0);
    }
}
