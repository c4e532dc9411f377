//! Read repair with metadata (`read_repairs_enabled`, cluster/rr_meta.rs)
//! on a loopback cluster of three racks at DC_QUORUM, real redis behind
//! each node: the metadata keys the original writes (`._add-set`,
//! `._rem-set`, `._add-set_<key>`, `._rem-set_<key>`, members the keys or
//! fields, scores milliseconds), the newest write winning a read by its
//! timestamp, stale and never-seen replicas repaired, a delete missed by a
//! stopped node kept by its tombstone and repaired, tombstones cleaned up
//! once every replica has the delete, a stale write refused with an error,
//! and the switch (`/read_repairs/enable|disable`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::harness::cluster::{node, Cluster, NodeSpec};
use crate::harness::{bulk, poll_until, show};

/// How long a repair or a clean-up may take to land in a replica's redis.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(10);

const NIL: &[u8] = b"$-1\r\n";

fn three_racks() -> Vec<NodeSpec> {
    (1..=3)
        .map(|r| node("dc1", &format!("rack{r}"), &[2147483647]))
        .collect()
}

/// Three racks at DC_QUORUM, read repair with metadata on or off.
fn cluster(enabled: bool) -> Cluster {
    let cl = Cluster::start_with(
        &three_racks(),
        &[
            ("read_consistency", "DC_QUORUM"),
            ("write_consistency", "DC_QUORUM"),
            (
                "read_repairs_enabled",
                if enabled { "true" } else { "false" },
            ),
        ],
    );
    cl.wait_connected();
    cl
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64
}

/// The score of `member` in sorted set `set` of node `i`'s redis.
fn score(cl: &Cluster, i: usize, set: &[u8], member: &[u8]) -> Option<u64> {
    let r = cl.node(i).redis_client().cmd(&[b"ZSCORE", set, member]);
    if r == NIL {
        return None;
    }
    let text = String::from_utf8_lossy(&r);
    let n = text
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("ZSCORE answered {text:?}"));
    Some(n.parse::<f64>().expect("a score") as u64)
}

/// The plain GET of node `i`'s redis.
fn redis_get(cl: &Cluster, i: usize, key: &[u8]) -> Vec<u8> {
    cl.node(i).redis_client().cmd(&[b"GET", key])
}

/// An admin GET of node `i`; the body.
fn admin(cl: &Cluster, i: usize, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", cl.node(i).stats_port())).expect("stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    text.split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string())
}

/// A fault counter of node `i` (`faults` of /info).
fn counter(cl: &Cluster, i: usize, name: &str) -> u64 {
    let body = admin(cl, i, "/info");
    let v: serde_json::Value = serde_json::from_str(&body).expect("/info JSON");
    v["faults"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no faults.{name} in /info"))
}

/// Writes `key` straight into node `i`'s redis as the metadata scheme
/// would have at `ts`.
fn plant(cl: &Cluster, i: usize, key: &[u8], value: &[u8], ts: u64) {
    let mut r = cl.node(i).redis_client();
    assert_eq!(r.cmd(&[b"SET", key, value]), b"+OK\r\n");
    let ts = ts.to_string();
    r.cmd(&[b"ZADD", b"._add-set", ts.as_bytes(), key]);
    r.cmd(&[b"ZREM", b"._rem-set", key]);
}

#[test]
fn writes_leave_the_originals_metadata_and_the_newest_wins() {
    let cl = cluster(true);
    let mut c = cl.node(0).client();
    let before = now_ms();
    assert_eq!(c.cmd(&[b"SET", b"mk", b"v1"]), b"+OK\r\n");
    let after = now_ms();
    let mut t1 = 0;
    for i in 0..3 {
        // The third replica may answer after the client's reply.
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._add-set", b"mk").is_some()
        });
        assert!(ok, "n{i}: no ._add-set entry");
        assert_eq!(redis_get(&cl, i, b"mk"), bulk(b"v1"), "n{i}");
        let ts = score(&cl, i, b"._add-set", b"mk").expect("polled");
        assert!(
            before <= ts && ts <= after,
            "n{i}: timestamp {ts} not in {before}..{after}"
        );
        assert_eq!(score(&cl, i, b"._rem-set", b"mk"), None, "n{i}");
        t1 = ts;
    }
    assert_eq!(c.cmd(&[b"GET", b"mk"]), bulk(b"v1"), "plain reply");

    // Three different answers: an older write, a newer one, and a replica
    // that never saw the key. The newest wins and both others get it.
    plant(&cl, 0, b"mk", b"older", t1);
    plant(&cl, 1, b"mk", b"newest", t1 + 1000);
    cl.node(2).redis_client().cmd(&[b"FLUSHALL"]);
    assert_eq!(c.cmd(&[b"GET", b"mk"]), bulk(b"newest"));
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            redis_get(&cl, i, b"mk") == bulk(b"newest")
                && score(&cl, i, b"._add-set", b"mk") == Some(t1 + 1000)
        });
        assert!(ok, "n{i} not repaired: {}", show(&redis_get(&cl, i, b"mk")));
    }
    assert_eq!(counter(&cl, 0, "read_repairs_meta_sent"), 2);
    let ok = poll_until(REPAIR_TIMEOUT, || {
        counter(&cl, 0, "read_repairs_meta_ok") == 2
    });
    assert!(ok, "repairs not answered");
    assert_eq!(counter(&cl, 0, "read_repairs_meta_failed"), 0);
    assert_eq!(counter(&cl, 0, "read_repairs_sent"), 0, "no RESTORE repair");

    // A write older than the key's last one is refused with an error.
    let future = now_ms() + 3_600_000;
    for i in 0..3 {
        plant(&cl, i, b"mk", b"future", future);
    }
    let r = c.cmd(&[b"SET", b"mk", b"late"]);
    assert_eq!(
        show(&r),
        show(b"-ERR Dynomite: stale write, a newer write or delete of this key exists\r\n")
    );
    assert_eq!(c.cmd(&[b"GET", b"mk"]), bulk(b"future"));
}

#[test]
fn a_delete_missed_by_a_stopped_node_is_kept_and_cleaned_up() {
    let mut cl = cluster(true);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SET", b"dk", b"v"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"SET", b"gone", b"v"]), b"+OK\r\n");

    // Every replica has the delete: its tombstone is cleaned up.
    assert_eq!(c.cmd(&[b"DEL", b"gone"]), b":1\r\n");
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._rem-set", b"gone").is_none()
                && score(&cl, i, b"._add-set", b"gone").is_none()
                && redis_get(&cl, i, b"gone") == NIL
        });
        assert!(ok, "n{i}: tombstone of gone not cleaned up");
    }
    assert_eq!(counter(&cl, 0, "read_repair_tombstones_cleaned"), 3);
    assert_eq!(c.cmd(&[b"GET", b"gone"]), NIL);

    // Node 2 is down during the delete: the tombstone stays where the
    // delete landed, and node 2's redis still has the value.
    cl.node_mut(2).kill();
    let t0 = now_ms();
    assert_eq!(c.cmd(&[b"DEL", b"dk"]), b":1\r\n");
    let mut tdel = 0;
    for i in 0..2 {
        tdel = score(&cl, i, b"._rem-set", b"dk").unwrap_or_else(|| panic!("n{i}: no tombstone"));
        assert!(tdel >= t0);
        assert_eq!(score(&cl, i, b"._add-set", b"dk"), None);
    }
    assert_eq!(redis_get(&cl, 2, b"dk"), bulk(b"v"));
    cl.node_mut(2).restart();
    cl.wait_connected();
    // Reads answer nil (two tombstones against an older value); node 2
    // gets the delete at the delete's timestamp, from its hint (the quorum
    // write's copy it missed) or from read repair, whichever comes first.
    let ok = poll_until(REPAIR_TIMEOUT, || {
        assert_eq!(c.cmd(&[b"GET", b"dk"]), NIL, "a deleted key came back");
        redis_get(&cl, 2, b"dk") == NIL
    });
    assert!(ok, "node 2 never got the delete");
    let t2 = score(&cl, 2, b"._rem-set", b"dk");
    assert!(
        t2.is_none() || t2 == Some(tdel),
        "tombstone {t2:?}, want {tdel}"
    );
    assert_eq!(score(&cl, 2, b"._add-set", b"dk"), None);
    // Once every replica holds the same tombstone, a read cleans it up.
    let ok = poll_until(REPAIR_TIMEOUT, || {
        assert_eq!(c.cmd(&[b"GET", b"dk"]), NIL, "a deleted key came back");
        (0..3).all(|i| score(&cl, i, b"._rem-set", b"dk").is_none())
    });
    assert!(ok, "the tombstone of dk stayed");
}

#[test]
fn hash_fields_carry_their_own_timestamps() {
    let cl = cluster(true);
    let mut c = cl.node(0).client();
    assert_eq!(
        c.cmd(&[b"HSET", b"mh", b"f1", b"a", b"f2", b"b"]),
        b":2\r\n"
    );
    let mut t = 0;
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._add-set", b"mh").is_some()
        });
        assert!(ok, "n{i}: no ._add-set entry");
        let t1 = score(&cl, i, b"._add-set_mh", b"f1").unwrap_or_else(|| panic!("n{i}: no f1"));
        assert_eq!(score(&cl, i, b"._add-set_mh", b"f2"), Some(t1));
        assert_eq!(score(&cl, i, b"._add-set", b"mh"), Some(t1));
        t = t1;
    }
    assert_eq!(c.cmd(&[b"HGET", b"mh", b"f1"]), bulk(b"a"));

    // Node 2's f1 is older: repaired whatever order the answers come in.
    let mut r2 = cl.node(2).redis_client();
    r2.cmd(&[b"HSET", b"mh", b"f1", b"stale"]);
    r2.cmd(&[
        b"ZADD",
        b"._add-set_mh",
        (t - 5000).to_string().as_bytes(),
        b"f1",
    ]);
    assert_eq!(c.cmd(&[b"HGET", b"mh", b"f1"]), bulk(b"a"));
    let ok = poll_until(REPAIR_TIMEOUT, || {
        cl.node(2).redis_client().cmd(&[b"HGET", b"mh", b"f1"]) == bulk(b"a")
            && score(&cl, 2, b"._add-set_mh", b"f1") == Some(t)
    });
    assert!(ok, "n2's field not repaired");

    // HDEL tombstones the field, then cleans the tombstone up.
    assert_eq!(c.cmd(&[b"HDEL", b"mh", b"f1"]), b":1\r\n");
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._rem-set_mh", b"f1").is_none()
                && score(&cl, i, b"._add-set_mh", b"f1").is_none()
        });
        assert!(ok, "n{i}: field tombstone not cleaned up");
    }
    assert_eq!(c.cmd(&[b"HGET", b"mh", b"f1"]), NIL);
    assert_eq!(c.cmd(&[b"HGET", b"mh", b"f2"]), bulk(b"b"));
    assert_eq!(c.cmd(&[b"HMSET", b"mh", b"f3", b"c"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"HGET", b"mh", b"f3"]), bulk(b"c"));
}

#[test]
fn the_switch_turns_the_rewriting_on_and_off() {
    let cl = cluster(false);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SET", b"plain", b"v"]), b"+OK\r\n");
    for i in 0..3 {
        assert_eq!(
            cl.node(i).redis_client().cmd(&[b"EXISTS", b"._add-set"]),
            b":0\r\n"
        );
    }
    assert_eq!(
        admin(&cl, 0, "/read_repairs/enable"),
        "Read Repairs: ENABLED\r\n"
    );
    let mut c2 = cl.node(0).client();
    assert_eq!(c2.cmd(&[b"SET", b"meta", b"v"]), b"+OK\r\n");
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._add-set", b"meta").is_some()
        });
        assert!(ok, "n{i}");
        assert_eq!(score(&cl, i, b"._add-set", b"plain"), None, "n{i}");
    }
    // A key written without metadata reads as before.
    assert_eq!(c2.cmd(&[b"GET", b"plain"]), bulk(b"v"));
    assert_eq!(
        admin(&cl, 0, "/read_repairs/disable"),
        "Read Repairs: DISABLED\r\n"
    );
    assert_eq!(c.cmd(&[b"SET", b"after", b"v"]), b"+OK\r\n");
    assert_eq!(score(&cl, 0, b"._add-set", b"after"), None);
}

#[test]
fn set_and_sorted_set_members_carry_their_own_timestamps() {
    let cl = cluster(true);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SADD", b"ms", b"m1", b"m2"]), b":2\r\n");
    assert_eq!(
        c.cmd(&[b"ZADD", b"mz", b"CH", b"1.5", b"a", b"2", b"b"]),
        b":2\r\n"
    );
    let mut ts = 0;
    let mut tz = 0;
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._add-set", b"ms").is_some()
                && score(&cl, i, b"._add-set", b"mz").is_some()
        });
        assert!(ok, "n{i}: no ._add-set entries");
        ts = score(&cl, i, b"._add-set_ms", b"m1").unwrap_or_else(|| panic!("n{i}: no m1"));
        tz = score(&cl, i, b"._add-set_mz", b"a").unwrap_or_else(|| panic!("n{i}: no a"));
        assert_eq!(score(&cl, i, b"._add-set_mz", b"b"), Some(tz));
    }
    assert_eq!(c.cmd(&[b"SISMEMBER", b"ms", b"m1"]), b":1\r\n");
    assert_eq!(c.cmd(&[b"SISMEMBER", b"ms", b"m9"]), b":0\r\n");
    assert_eq!(c.cmd(&[b"ZSCORE", b"mz", b"a"]), bulk(b"1.5"));

    // Node 1 lost m1 and a (its redis emptied): repaired from the others.
    cl.node(1).redis_client().cmd(&[b"FLUSHALL"]);
    assert_eq!(c.cmd(&[b"SISMEMBER", b"ms", b"m1"]), b":1\r\n");
    assert_eq!(c.cmd(&[b"ZSCORE", b"mz", b"a"]), bulk(b"1.5"));
    let ok = poll_until(REPAIR_TIMEOUT, || {
        let mut r = cl.node(1).redis_client();
        r.cmd(&[b"SISMEMBER", b"ms", b"m1"]) == b":1\r\n"
            && r.cmd(&[b"ZSCORE", b"mz", b"a"]) == bulk(b"1.5")
            && score(&cl, 1, b"._add-set_ms", b"m1") == Some(ts)
            && score(&cl, 1, b"._add-set_mz", b"a") == Some(tz)
    });
    assert!(ok, "n1 not repaired");

    // SREM and ZREM tombstone the members, then clean the tombstones up.
    assert_eq!(c.cmd(&[b"SREM", b"ms", b"m1"]), b":1\r\n");
    assert_eq!(c.cmd(&[b"ZREM", b"mz", b"a"]), b":1\r\n");
    for i in 0..3 {
        let ok = poll_until(REPAIR_TIMEOUT, || {
            score(&cl, i, b"._rem-set_ms", b"m1").is_none()
                && score(&cl, i, b"._add-set_ms", b"m1").is_none()
                && score(&cl, i, b"._rem-set_mz", b"a").is_none()
                && cl.node(i).redis_client().cmd(&[b"ZSCORE", b"mz", b"a"]) == NIL
        });
        assert!(ok, "n{i}: member tombstones not cleaned up");
    }
    assert_eq!(c.cmd(&[b"SISMEMBER", b"ms", b"m1"]), b":0\r\n");
    assert_eq!(c.cmd(&[b"ZSCORE", b"mz", b"a"]), NIL);
    assert_eq!(c.cmd(&[b"ZSCORE", b"mz", b"b"]), bulk(b"2"));
    // A form that is not rewritten still works, without metadata.
    assert_eq!(c.cmd(&[b"ZADD", b"mz", b"INCR", b"1", b"b"]), bulk(b"3"));
}

#[test]
fn a_failed_write_leaves_no_metadata() {
    let cl = cluster(true);
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SADD", b"typed", b"m"]), b":1\r\n");
    let r = c.cmd(&[b"HSET", b"typed", b"f", b"v"]);
    assert!(show(&r).contains("WRONGTYPE"), "{}", show(&r));
    let r = c.cmd(&[b"ZADD", b"zbad", b"notanumber", b"m"]);
    assert!(r.starts_with(b"-"), "{}", show(&r));
    for i in 0..3 {
        assert_eq!(score(&cl, i, b"._add-set_typed", b"f"), None, "n{i}");
        assert_eq!(score(&cl, i, b"._add-set", b"zbad"), None, "n{i}");
        assert_eq!(score(&cl, i, b"._add-set_zbad", b"m"), None, "n{i}");
    }
}
