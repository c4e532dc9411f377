//! `crc32` and `crc32a` (hashkit/dyn_crc32.c): the reflected CRC-32 of IEEE
//! 802.3 (polynomial 0xedb88320, initial value and final xor 0xffffffff).
//!
//! * `crc32a` is that CRC as is.
//! * `crc32` keeps only 15 bits of it, `(crc >> 16) & 0x7fff`, as libmemcached
//!   does; the original's distribution over a 32-bit ring is therefore poor.

/// Reflected CRC-32 polynomial.
const POLY: u32 = 0xedb8_8320;

/// The usual LSB-first lookup table for `POLY`.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Feeds `bytes` into a running CRC-32: start from `!0`, feed every piece,
/// complement at the end. Replies spread over several chunks are checksummed
/// this way (quorum comparison).
pub fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = (crc >> 8) ^ TABLE[((crc ^ u32::from(b)) & 0xff) as usize];
    }
    crc
}

/// The standard CRC-32 of `key`.
fn crc32_ieee(key: &[u8]) -> u32 {
    !crc32_update(0xffff_ffff, key)
}

/// `crc32`: bits 16..31 of the CRC-32 (15 bits).
pub fn hash_crc32(key: &[u8]) -> u32 {
    (crc32_ieee(key) >> 16) & 0x7fff
}

/// `crc32a`: the full CRC-32.
pub fn hash_crc32a(key: &[u8]) -> u32 {
    crc32_ieee(key)
}

#[cfg(test)]
mod tests {
    use super::{hash_crc32, hash_crc32a};

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32, u32); 4] = [
            (b"a", 26807, 3904355907),
            (b"foo", 3187, 2356372769),
            (b"hello", 13840, 907060870),
            (b"user1000", 4698, 307944294),
        ];
        for (key, want_crc32, want_crc32a) in cases {
            assert_eq!(hash_crc32(key), want_crc32, "crc32 key {:?}", key);
            assert_eq!(hash_crc32a(key), want_crc32a, "crc32a key {:?}", key);
        }
    }

    #[test]
    fn published_vectors() {
        // The CRC-32 check value, and the empty input.
        assert_eq!(hash_crc32a(b"123456789"), 0xcbf4_3926);
        assert_eq!(hash_crc32(b"123456789"), 0x4bf4);
        assert_eq!(hash_crc32a(b""), 0);
        assert_eq!(
            hash_crc32a(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }
}
