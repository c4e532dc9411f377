//! Key hashing (hashkit/*.c). One file per hash function; `HashKind` names them
//! as the `hash:` directive does, and `token` holds the ring.
//!
//! ```text
//! key --hash_tag_part--> bytes --HashKind::hash--> u32 token --Ring::owner--> peer
//! ```

pub mod crc16;
pub mod crc32;
pub mod fnv;
pub mod hsieh;
pub mod jenkins;
pub mod md5;
pub mod murmur;
pub mod murmur3;
pub mod one_at_a_time;
pub mod token;

use memchr::memchr;

/// The thirteen `hash:` names the original accepts.
// `Fnv1_64` and friends keep the underscore of their configuration names.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    OneAtATime,
    Md5,
    Crc16,
    Crc32,
    Crc32a,
    Fnv1_64,
    Fnv1a_64,
    Fnv1_32,
    Fnv1a_32,
    Hsieh,
    Murmur,
    Jenkins,
    Murmur3,
}

impl HashKind {
    /// Every kind with its configuration name, in the original's order.
    pub const ALL: [(HashKind, &'static str); 13] = [
        (HashKind::OneAtATime, "one_at_a_time"),
        (HashKind::Md5, "md5"),
        (HashKind::Crc16, "crc16"),
        (HashKind::Crc32, "crc32"),
        (HashKind::Crc32a, "crc32a"),
        (HashKind::Fnv1_64, "fnv1_64"),
        (HashKind::Fnv1a_64, "fnv1a_64"),
        (HashKind::Fnv1_32, "fnv1_32"),
        (HashKind::Fnv1a_32, "fnv1a_32"),
        (HashKind::Hsieh, "hsieh"),
        (HashKind::Murmur, "murmur"),
        (HashKind::Jenkins, "jenkins"),
        (HashKind::Murmur3, "murmur3"),
    ];

    /// Looks a `hash:` value up (exact, case-sensitive).
    pub fn from_name(name: &str) -> Option<HashKind> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(k, _)| *k)
    }

    /// The configuration name.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, n)| *n)
            .unwrap_or("murmur")
    }

    /// Hashes `key` (already cut by [`hash_tag_part`]) to its 32-bit token.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            HashKind::OneAtATime => one_at_a_time::hash_one_at_a_time(key),
            HashKind::Md5 => md5::hash_md5(key),
            HashKind::Crc16 => crc16::hash_crc16(key),
            HashKind::Crc32 => crc32::hash_crc32(key),
            HashKind::Crc32a => crc32::hash_crc32a(key),
            HashKind::Fnv1_64 => fnv::hash_fnv1_64(key),
            HashKind::Fnv1a_64 => fnv::hash_fnv1a_64(key),
            HashKind::Fnv1_32 => fnv::hash_fnv1_32(key),
            HashKind::Fnv1a_32 => fnv::hash_fnv1a_32(key),
            HashKind::Hsieh => hsieh::hash_hsieh(key),
            HashKind::Murmur => murmur::hash_murmur(key),
            HashKind::Jenkins => jenkins::hash_jenkins(key),
            HashKind::Murmur3 => murmur3::hash_murmur3(key),
        }
    }
}

/// The bytes of `key` that are hashed, given the `hash_tag` pair
/// `(open, close)`: the bytes strictly between the first `open` and the first
/// `close` after it (possibly none), or the whole key when there is no tag or
/// no such pair.
///
/// An empty result is hashed like any other key. (The original instead sends
/// such keys to the local node of every rack; that is a bug, not a rule.)
pub fn hash_tag_part(key: &[u8], tag: Option<[u8; 2]>) -> &[u8] {
    let Some([open, close]) = tag else {
        return key;
    };
    let Some(start) = memchr(open, key) else {
        return key;
    };
    let inner = &key[start + 1..];
    match memchr(close, inner) {
        Some(len) => &inner[..len],
        None => key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CURLY: Option<[u8; 2]> = Some(*b"{}");

    #[test]
    fn names_round_trip() {
        for (kind, name) in HashKind::ALL {
            assert_eq!(HashKind::from_name(name), Some(kind));
            assert_eq!(kind.name(), name);
        }
        assert_eq!(HashKind::from_name("Murmur"), None);
        assert_eq!(HashKind::from_name(""), None);
    }

    #[test]
    fn hash_dispatches_by_kind() {
        // The spec's vectors for the key "a", one per kind; murmur3 has none
        // there and uses MurmurHash3_x86_32 with seed 0.
        let want: [(HashKind, u32); 13] = [
            (HashKind::OneAtATime, 3392050242),
            (HashKind::Md5, 3111502092),
            (HashKind::Crc16, 31879),
            (HashKind::Crc32, 26807),
            (HashKind::Crc32a, 3904355907),
            (HashKind::Fnv1_64, 2248259518),
            (HashKind::Fnv1a_64, 2248273036),
            (HashKind::Fnv1_32, 84696446),
            (HashKind::Fnv1a_32, 3826002220),
            (HashKind::Hsieh, 2472816263),
            (HashKind::Murmur, 1262581116),
            (HashKind::Jenkins, 3768813200),
            (HashKind::Murmur3, 0x3c25_69b2),
        ];
        for (kind, value) in want {
            assert_eq!(kind.hash(b"a"), value, "{}", kind.name());
        }
    }

    #[test]
    fn tag_part_cases() {
        // key, tag, the part hashed.
        type Case = (&'static [u8], Option<[u8; 2]>, &'static [u8]);
        let cases: [Case; 12] = [
            (b"{user1000}.following", CURLY, b"user1000"),
            (b"{user1000}.following", None, b"{user1000}.following"),
            (b"plain", CURLY, b"plain"),
            (b"{}abc", CURLY, b""),
            (b"{abc", CURLY, b"{abc"),
            (b"abc}", CURLY, b"abc}"),
            (b"}a{b}c", CURLY, b"b"),
            (b"a{b{c}d}", CURLY, b"b{c"),
            (b"{a}{b}", CURLY, b"a"),
            (b"", CURLY, b""),
            (b"x:tag:y", Some(*b"::"), b"tag"),
            (b"x[tag]y", Some(*b"[]"), b"tag"),
        ];
        for (key, tag, want) in cases {
            assert_eq!(hash_tag_part(key, tag), want, "key {:?}", key);
        }
    }
}
