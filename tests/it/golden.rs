//! The golden vectors recorded from the original, shared by the tests that
//! check hashing and placement; the files live under tests/data/golden.

/// murmur_tokens.tsv: key_hex, key_len, token, hashtag_part_hex,
/// hashtag_token, key_preview.
pub const MURMUR_TOKENS: &str = include_str!("../data/golden/murmur_tokens.tsv");
/// placement_3node.tsv: key_hex, key_len, murmur_token, owner_node,
/// owner_token, key_text.
pub const PLACEMENT_3NODE: &str = include_str!("../data/golden/placement_3node.tsv");
/// placement_3node_hashtag.tsv: key_hex, hashed_part_hex, murmur_token,
/// owner_node, key_text.
pub const PLACEMENT_3NODE_HASHTAG: &str =
    include_str!("../data/golden/placement_3node_hashtag.tsv");

/// The three-node ring of the placement files: (name, token).
pub const NODES_3: [(&str, u32); 3] = [("n0", 715827882), ("n1", 2147483647), ("n2", 3579139412)];

/// The index in `NODES_3` of the node named `name`.
pub fn node_index(name: &str) -> usize {
    NODES_3
        .iter()
        .position(|&(n, _)| n == name)
        .unwrap_or_else(|| panic!("unknown node {name}"))
}

/// Decodes lowercase or uppercase hex; panics on bad input (test data only).
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {:?}", s);
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// The data rows of a golden file: `#` comments and the header dropped, each
/// row split on tabs. Trailing empty fields are kept.
pub fn rows(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').collect())
        .collect()
}
