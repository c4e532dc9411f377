//! Key hashing (hashkit/*.c). One file per hash function; `HashKind` names them
//! as the `hash:` directive does.

/// The thirteen `hash:` names the original accepts.
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
}
