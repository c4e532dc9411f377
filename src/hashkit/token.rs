//! Tokens and the ring (hashkit/dyn_token.c, the continuum of dyn_vnode.c).
//!
//! ```text
//! "715827882,2147483647" --parse_tokens--> [715827882, 2147483647]
//! (token, owner) pairs --Ring::new--> sorted continuum
//! key token t --Ring::owner--> owner of the smallest token >= t,
//!                              or of the smallest token when t is above all
//! ```
//!
//! A token is an unsigned 32-bit number and compares as one. The original's
//! sign and multi-word forms are not kept: for the input the original is
//! meant to accept they reduce to plain unsigned order.

/// Most digits a token may have: `4294967295` has ten. Longer numbers, even
/// with leading zeros, are rejected before any arithmetic can overflow.
const TOKEN_DIGITS_MAX: usize = 10;

/// Parses a `tokens` value strictly: one or more plain decimal numbers in
/// 0..=4294967295 separated by single commas; no spaces, signs, empty items
/// or numbers longer than ten digits. The tokens come back in text order.
///
/// The original accepts garbage silently (spaces parse as 0, large numbers
/// wrap, `-` makes a token sort last); this is the strict rule its spec
/// recommends.
pub fn parse_tokens(s: &str) -> Result<Vec<u32>, String> {
    if s.is_empty() {
        return Err("empty token list".to_string());
    }
    let mut tokens = Vec::new();
    for item in s.split(',') {
        tokens.push(parse_token(item)?);
    }
    debug_assert!(!tokens.is_empty());
    Ok(tokens)
}

/// Parses one token of a list.
fn parse_token(item: &str) -> Result<u32, String> {
    if item.is_empty() {
        return Err("empty token in list".to_string());
    }
    if !item.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("token '{}' is not a plain decimal number", item));
    }
    if item.len() > TOKEN_DIGITS_MAX {
        return Err(format!("token '{}' is larger than 4294967295", item));
    }
    // At most ten digits: fits a u64 without overflow.
    let value: u64 = item
        .bytes()
        .fold(0, |acc, b| acc * 10 + u64::from(b - b'0'));
    u32::try_from(value).map_err(|_| format!("token '{}' is larger than 4294967295", item))
}

/// One point of the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Point<O> {
    /// Position on the ring.
    token: u32,
    /// The owner of this point (a `PeerId` in the topology; any ordered id
    /// in tests and tools).
    owner: O,
}

/// The continuum of one rack: every (token, owner) point, sorted. `O` names
/// an owner: the topology uses `PeerId`, the golden tests and the hash tool
/// a plain index.
///
/// An owner may hold several tokens (vnodes); each token is one point.
///
/// Duplicated tokens: points are sorted by token, then by owner, and a lookup
/// lands on the first point of a run of equal tokens, so the **smallest
/// owner wins** and the others never own anything at that token.
/// (The original's unstable sort lets either win.)
#[derive(Debug, Clone)]
pub struct Ring<O = usize> {
    /// Points sorted ascending by (token, owner).
    points: Vec<Point<O>>,
}

impl<O> Default for Ring<O> {
    fn default() -> Self {
        Ring { points: Vec::new() }
    }
}

impl<O: Copy + Ord> Ring<O> {
    /// Builds a ring from `(token, owner)` pairs, in any order.
    pub fn new(entries: Vec<(u32, O)>) -> Ring<O> {
        let mut points: Vec<Point<O>> = entries
            .into_iter()
            .map(|(token, owner)| Point { token, owner })
            .collect();
        points.sort_unstable();
        debug_assert!(points.windows(2).all(|w| w[0] <= w[1]));
        Ring { points }
    }

    /// Number of points (tokens) on the ring.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring has no point at all.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The owner of `hash`: the owner of the smallest token >= `hash`; when
    /// `hash` is above every token, the owner of the smallest token (the ring
    /// wraps). `None` only for an empty ring.
    pub fn owner(&self, hash: u32) -> Option<O> {
        let first = self.points.first()?;
        let index = self.points.partition_point(|p| p.token < hash);
        debug_assert!(index <= self.points.len());
        let point = self.points.get(index).unwrap_or(first);
        debug_assert!(point.token >= hash || point == first);
        Some(point.owner)
    }

    /// Every (token, owner) point in ring order.
    pub fn points(&self) -> impl Iterator<Item = (u32, O)> + '_ {
        self.points.iter().map(|p| (p.token, p.owner))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts() {
        let cases: [(&str, &[u32]); 7] = [
            ("0", &[0]),
            ("00", &[0]),
            ("1", &[1]),
            ("101134286", &[101134286]),
            ("4294967295", &[4294967295]),
            ("0000000001", &[1]),
            ("3,1,2", &[3, 1, 2]),
        ];
        for (text, want) in cases {
            assert_eq!(parse_tokens(text).as_deref(), Ok(want), "{:?}", text);
        }
    }

    #[test]
    fn parse_rejects() {
        let cases = [
            "",
            ",",
            "1,",
            ",1",
            "1,,2",
            " 5",
            "5 ",
            "1000, 2000",
            "-5",
            "+5",
            "4294967296",
            "9999999999",
            "12345678901",
            "00000000001",
            "0x10",
            "1.5",
            "１",
        ];
        for text in cases {
            assert!(parse_tokens(text).is_err(), "{:?} should be rejected", text);
        }
    }

    #[test]
    fn empty_ring_has_no_owner() {
        assert!(Ring::<usize>::new(Vec::new()).is_empty());
        assert_eq!(Ring::<usize>::new(Vec::new()).owner(5), None);
    }

    #[test]
    fn lookup_rule() {
        // The spec's example: A at 1000, F at 3000000000.
        let ring = Ring::new(vec![(3_000_000_000, 1), (1000, 0)]);
        assert_eq!(ring.len(), 2);
        let cases = [
            (0, 0),
            (999, 0),
            (1000, 0),
            (1001, 1),
            (1262581116, 1), // "a"
            (3_000_000_000, 1),
            (3_000_000_001, 0),
            (3303027599, 0), // "foo"
            (u32::MAX, 0),
        ];
        for (hash, want) in cases {
            assert_eq!(ring.owner(hash), Some(want), "hash {}", hash);
        }
    }

    #[test]
    fn single_point_owns_everything() {
        let ring = Ring::new(vec![(42, 7)]);
        for hash in [0, 41, 42, 43, u32::MAX] {
            assert_eq!(ring.owner(hash), Some(7));
        }
    }

    #[test]
    fn vnodes() {
        let ring = Ring::new(vec![(100, 0), (300, 0), (200, 1), (400, 1)]);
        let cases = [(50, 0), (100, 0), (150, 1), (250, 0), (350, 1), (401, 0)];
        for (hash, want) in cases {
            assert_eq!(ring.owner(hash), Some(want), "hash {}", hash);
        }
    }

    #[test]
    fn duplicate_tokens_smallest_owner_wins() {
        for entries in [
            vec![(100, 2), (100, 1), (500, 0)],
            vec![(100, 1), (500, 0), (100, 2)],
        ] {
            let ring = Ring::new(entries);
            assert_eq!(ring.owner(100), Some(1));
            assert_eq!(ring.owner(50), Some(1));
            assert_eq!(ring.owner(101), Some(0));
            assert_eq!(ring.owner(501), Some(1));
        }
    }
}
