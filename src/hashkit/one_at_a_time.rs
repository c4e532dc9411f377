//! `one_at_a_time` (hashkit/dyn_one_at_a_time.c): Bob Jenkins' one-at-a-time
//! hash.
//!
//! Quirk kept from the original: each byte is read as a *signed* char, so a
//! byte >= 0x80 is sign-extended to 32 bits before it is added.

/// Hashes `key`.
pub fn hash_one_at_a_time(key: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in key {
        // Sign extension: 0x80 adds 0xffffff80, not 0x80.
        let v = i32::from(b as i8) as u32;
        h = h.wrapping_add(v);
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
    }
    h = h.wrapping_add(h << 3);
    h ^= h >> 11;
    h = h.wrapping_add(h << 15);
    h
}

#[cfg(test)]
mod tests {
    use super::hash_one_at_a_time;

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 6] = [
            (b"a", 3392050242),
            (b"foo", 596015325),
            (b"bar", 2151715081),
            (b"hello", 3372029979),
            (b"key:1", 2729841284),
            (b"user1000", 1622579892),
        ];
        for (key, want) in cases {
            assert_eq!(hash_one_at_a_time(key), want, "key {:?}", key);
        }
    }

    #[test]
    fn published_vector() {
        // The example in the public description of the algorithm.
        assert_eq!(
            hash_one_at_a_time(b"The quick brown fox jumps over the lazy dog"),
            0x519e91f5
        );
    }

    #[test]
    fn high_bytes_are_sign_extended() {
        // With unsigned bytes 0x80 would add 0x80; signed it adds 0xffffff80.
        let mut h: u32 = 0xffff_ff80;
        h = h.wrapping_add(h << 10);
        h ^= h >> 6;
        h = h.wrapping_add(h << 3);
        h ^= h >> 11;
        h = h.wrapping_add(h << 15);
        assert_eq!(hash_one_at_a_time(&[0x80]), h);
    }
}
