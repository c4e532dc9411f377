//! `md5` (hashkit/dyn_md5.c): MD5 of the key, whose first four digest bytes
//! are read as a little-endian u32.

/// Hashes `key`.
pub fn hash_md5(key: &[u8]) -> u32 {
    let digest = ::md5::compute(key);
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

#[cfg(test)]
mod tests {
    use super::hash_md5;

    #[test]
    fn spec_vectors() {
        let cases: [(&[u8], u32); 4] = [
            (b"a", 3111502092),
            (b"foo", 3675831724),
            (b"hello", 708854109),
            (b"user1000", 4239578081),
        ];
        for (key, want) in cases {
            assert_eq!(hash_md5(key), want, "key {:?}", key);
        }
    }

    #[test]
    fn rfc1321_vectors() {
        // RFC 1321 appendix A.5 digests; the hash is their first four bytes,
        // little-endian.
        let cases: [(&[u8], u32); 4] = [
            (b"", 0xd98c1dd4),                           // d41d8cd9...
            (b"abc", 0x98500190),                        // 90015098...
            (b"message digest", 0x7d696bf9),             // f96b697d...
            (b"abcdefghijklmnopqrstuvwxyz", 0xd7d3fcc3), // c3fcd3d7...
        ];
        for (key, want) in cases {
            assert_eq!(hash_md5(key), want, "key {:?}", key);
        }
    }
}
