//! Key hashing and key placement against the golden vectors recorded from the
//! original (tests/data/golden/README.md).

use crate::golden::{
    node_index, rows, unhex, MURMUR_TOKENS, NODES_3, PLACEMENT_3NODE, PLACEMENT_3NODE_HASHTAG,
};
use dynomite::hashkit::token::Ring;
use dynomite::hashkit::{hash_tag_part, HashKind};

const CURLY: Option<[u8; 2]> = Some(*b"{}");

/// The three-node ring, owners numbered as in `NODES_3`.
fn ring_3node() -> Ring {
    Ring::new(
        NODES_3
            .iter()
            .enumerate()
            .map(|(i, (_, t))| (*t, i))
            .collect(),
    )
}

#[test]
fn murmur_tokens() {
    let rows = rows(MURMUR_TOKENS);
    assert_eq!(rows.len(), 203);
    for row in rows {
        let key = unhex(row[0]);
        let len: usize = row[1].parse().unwrap();
        let token: u32 = row[2].parse().unwrap();
        let part = unhex(row[3]);
        let part_token: u32 = row[4].parse().unwrap();
        assert_eq!(key.len(), len, "row {:?}", row[5]);
        assert_eq!(HashKind::Murmur.hash(&key), token, "key {:?}", row[5]);
        assert_eq!(hash_tag_part(&key, CURLY), &part[..], "key {:?}", row[5]);
        assert_eq!(HashKind::Murmur.hash(&part), part_token, "key {:?}", row[5]);
    }
}

#[test]
fn placement_3node() {
    let ring = ring_3node();
    let rows = rows(PLACEMENT_3NODE);
    assert_eq!(rows.len(), 50);
    for row in rows {
        let key = unhex(row[0]);
        let len: usize = row[1].parse().unwrap();
        let token: u32 = row[2].parse().unwrap();
        let owner_token: u32 = row[4].parse().unwrap();
        let owner = node_index(row[3]);
        assert_eq!(key.len(), len, "key {:?}", row[5]);
        assert_eq!(HashKind::Murmur.hash(&key), token, "key {:?}", row[5]);
        assert_eq!(ring.owner(token), Some(owner), "key {:?}", row[5]);
        assert_eq!(NODES_3[owner].1, owner_token, "key {:?}", row[5]);
    }
}

#[test]
fn placement_3node_hashtag() {
    let ring = ring_3node();
    let rows = rows(PLACEMENT_3NODE_HASHTAG);
    assert_eq!(rows.len(), 25);
    for row in rows {
        let key = unhex(row[0]);
        let part = unhex(row[1]);
        let token: u32 = row[2].parse().unwrap();
        let owner = node_index(row[3]);
        assert_eq!(hash_tag_part(&key, CURLY), &part[..], "key {:?}", row[4]);
        assert_eq!(HashKind::Murmur.hash(&part), token, "key {:?}", row[4]);
        assert_eq!(ring.owner(token), Some(owner), "key {:?}", row[4]);
    }
}
