//! Read repair at the quorum levels (cluster/repair.rs) on loopback
//! clusters of real nodes: a replica made to differ (a value written
//! straight into its redis) or emptied (FLUSHALL, as a datastore restarted
//! empty) never makes a DC_QUORUM read answer nil or the odd value, and
//! gets the winning value and TTL back, for every type. The fault run of
//! the durability issue (a node down while writes happen, then another
//! replica's datastore emptied, in either order) reads every acknowledged
//! key back through every node.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster::{node, Cluster, NodeSpec};
use crate::harness::{bulk, encode, poll_until, show, Client};

/// How long a repair may take to land in a replica's redis.
const REPAIR_TIMEOUT: Duration = Duration::from_secs(10);

/// `n` racks of one node each, every node owning every key.
fn one_node_per_rack(racks: usize) -> Vec<NodeSpec> {
    (1..=racks)
        .map(|r| node("dc1", &format!("rack{r}"), &[2147483647]))
        .collect()
}

/// A cluster whose clients read and write at DC_QUORUM.
fn quorum_cluster(racks: usize) -> Cluster {
    Cluster::start_with(
        &one_node_per_rack(racks),
        &[
            ("read_consistency", "DC_QUORUM"),
            ("write_consistency", "DC_QUORUM"),
        ],
    )
}

/// The /info JSON of node `i`.
fn info(cl: &Cluster, i: usize) -> Value {
    let port = cl.node(i).stats_port();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET /info HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("bad /info JSON ({e}): {body}"))
}

/// A read-repair counter of node `i` (the `faults` object of /info).
fn repair_counter(cl: &Cluster, i: usize, name: &str) -> u64 {
    let v = info(cl, i);
    v["faults"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no counter faults.{name} in /info: {v}"))
}

/// One key of each type: how to write it, how to read it through the
/// cluster (a single-key read), and how to see its whole value in a redis.
struct Typed {
    key: &'static [u8],
    write: Vec<Vec<u8>>,
    read: Vec<Vec<u8>>,
    check: Vec<Vec<u8>>,
}

fn args(words: &[&[u8]]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.to_vec()).collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|a| a.as_slice()).collect()
}

/// A string with a TTL, a hash, a list, a set and a sorted set.
fn typed_keys() -> Vec<Typed> {
    vec![
        Typed {
            key: b"rr:string",
            write: args(&[b"SET", b"rr:string", b"the value", b"PX", b"600000"]),
            read: args(&[b"GET", b"rr:string"]),
            check: args(&[b"GET", b"rr:string"]),
        },
        Typed {
            key: b"rr:hash",
            write: args(&[b"HSET", b"rr:hash", b"f1", b"a", b"f2", b"b"]),
            read: args(&[b"HGET", b"rr:hash", b"f1"]),
            check: args(&[b"HGETALL", b"rr:hash"]),
        },
        Typed {
            key: b"rr:list",
            write: args(&[b"RPUSH", b"rr:list", b"x", b"y", b"z"]),
            read: args(&[b"LRANGE", b"rr:list", b"0", b"-1"]),
            check: args(&[b"LRANGE", b"rr:list", b"0", b"-1"]),
        },
        Typed {
            key: b"rr:set",
            write: args(&[b"SADD", b"rr:set", b"1", b"2", b"3"]),
            read: args(&[b"SMEMBERS", b"rr:set"]),
            check: args(&[b"SMEMBERS", b"rr:set"]),
        },
        Typed {
            key: b"rr:zset",
            write: args(&[b"ZADD", b"rr:zset", b"1", b"one", b"2", b"two"]),
            read: args(&[b"ZRANGE", b"rr:zset", b"0", b"-1", b"WITHSCORES"]),
            check: args(&[b"ZRANGE", b"rr:zset", b"0", b"-1", b"WITHSCORES"]),
        },
    ]
}

/// The expected answers: to each read through the cluster, and to each
/// check of a redis.
struct Want {
    read: Vec<Vec<u8>>,
    check: Vec<Vec<u8>>,
}

/// Writes the typed keys through node 0 and waits until every redis holds
/// them alike.
fn write_typed(cl: &Cluster, racks: usize, keys: &[Typed]) -> Want {
    let mut c = cl.node(0).client();
    let mut want = Want {
        read: Vec::new(),
        check: Vec::new(),
    };
    for t in keys {
        let r = c.cmd(&refs(&t.write));
        assert!(!r.starts_with(b"-"), "{}: {}", show(t.key), show(&r));
        let check = cl.node(0).redis_client().cmd(&refs(&t.check));
        for i in 0..racks {
            let ok = poll_until(REPAIR_TIMEOUT, || {
                cl.node(i).redis_client().cmd(&refs(&t.check)) == check
            });
            assert!(ok, "n{i} never got {}", show(t.key));
        }
        want.read
            .push(cl.node(0).redis_client().cmd(&refs(&t.read)));
        want.check.push(check);
    }
    want
}

/// Reads every typed key through every node at DC_QUORUM: the expected
/// answer each time.
fn read_everywhere(cl: &Cluster, racks: usize, keys: &[Typed], want: &Want, what: &str) {
    for via in 0..racks {
        let mut c = cl.node(via).client();
        for (t, w) in keys.iter().zip(&want.read) {
            let r = c.cmd(&refs(&t.read));
            assert_eq!(
                show(&r),
                show(w),
                "{what}: {} read through n{via}",
                show(t.key)
            );
        }
    }
}

/// Waits until node `i`'s redis answers every typed read as expected, and
/// the string keeps a TTL.
fn wait_repaired(cl: &Cluster, i: usize, keys: &[Typed], want: &Want, what: &str) {
    for (t, w) in keys.iter().zip(&want.check) {
        let mut last = Vec::new();
        let ok = poll_until(REPAIR_TIMEOUT, || {
            last = cl.node(i).redis_client().cmd(&refs(&t.check));
            last == *w
        });
        if !ok {
            cl.dump_logs();
        }
        assert!(
            ok,
            "{what}: n{i}'s redis never got {} back (last: {})",
            show(t.key),
            show(&last)
        );
    }
    let pttl = cl.node(i).redis_client().cmd(&[b"PTTL", b"rr:string"]);
    let ms: i64 = std::str::from_utf8(&pttl[1..pttl.len() - 2])
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(-3);
    assert!(
        ms > 0 && ms <= 600_000,
        "{what}: the repaired string's TTL is {}",
        show(&pttl)
    );
}

#[test]
fn three_racks_repair_a_replica_emptied_or_changed_for_every_type() {
    let cl = quorum_cluster(3);
    let keys = typed_keys();
    let want = write_typed(&cl, 3, &keys);

    // n2's datastore restarted empty.
    assert_eq!(cl.node(2).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    read_everywhere(&cl, 3, &keys, &want, "n2 emptied");
    wait_repaired(&cl, 2, &keys, &want, "n2 emptied");

    // n1 holds other values of every key.
    let mut direct = cl.node(1).redis_client();
    for cmd in [
        &[&b"SET"[..], b"rr:string", b"odd"][..],
        &[b"HSET", b"rr:hash", b"f1", b"odd"],
        &[b"RPUSH", b"rr:list", b"odd"],
        &[b"SREM", b"rr:set", b"2"],
        &[b"ZADD", b"rr:zset", b"9", b"one"],
    ] {
        let r = direct.cmd(cmd);
        assert!(!r.starts_with(b"-"), "{}", show(&r));
    }
    read_everywhere(&cl, 3, &keys, &want, "n1 changed");
    wait_repaired(&cl, 1, &keys, &want, "n1 changed");

    let sent: u64 = (0..3)
        .map(|i| repair_counter(&cl, i, "read_repairs_sent"))
        .sum();
    let ok: u64 = (0..3)
        .map(|i| repair_counter(&cl, i, "read_repairs_ok"))
        .sum();
    let divergent: u64 = (0..3)
        .map(|i| repair_counter(&cl, i, "read_repair_divergent"))
        .sum();
    assert!(sent >= 10, "repairs sent: {sent}");
    assert!(ok >= 10, "repairs applied: {ok}");
    assert!(divergent >= 10, "divergent answers: {divergent}");
}

#[test]
fn two_racks_with_an_emptied_replica_never_read_nil_and_repair_it() {
    let cl = quorum_cluster(2);
    let keys = typed_keys();
    let want = write_typed(&cl, 2, &keys);
    let mut c = cl.node(0).client();
    const N: usize = 200;
    let mut out = Vec::new();
    for k in 0..N {
        out.extend_from_slice(&encode(&[
            b"SET",
            format!("rr2:{k}").as_bytes(),
            format!("v{k}").as_bytes(),
        ]));
    }
    c.send(&out);
    for _ in 0..N {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }

    assert_eq!(cl.node(1).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    // DC_SAFE_QUORUM: a value against an empty replica is answered too.
    let mut safe = cl.node(1).client();
    assert_eq!(
        safe.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_SAFE_QUORUM"]),
        b"+OK\r\n"
    );
    for k in 0..N / 4 {
        let key = format!("rr2:{k}");
        let r = safe.cmd(&[b"GET", key.as_bytes()]);
        assert_eq!(
            show(&r),
            show(&bulk(format!("v{k}").as_bytes())),
            "{key} at DC_SAFE_QUORUM"
        );
    }
    // Through the emptied node first: its own empty answer arrives first.
    for via in [1, 0] {
        let mut c = cl.node(via).client();
        for k in 0..N {
            let key = format!("rr2:{k}");
            let r = c.cmd(&[b"GET", key.as_bytes()]);
            assert_eq!(
                show(&r),
                show(&bulk(format!("v{k}").as_bytes())),
                "{key} through n{via}"
            );
        }
    }
    read_everywhere(&cl, 2, &keys, &want, "n1 emptied");
    wait_repaired(&cl, 1, &keys, &want, "n1 emptied");
    for k in 0..N {
        let key = format!("rr2:{k}");
        let ok = poll_until(REPAIR_TIMEOUT, || {
            cl.node(1).redis_get(key.as_bytes()) == bulk(format!("v{k}").as_bytes())
        });
        assert!(ok, "{key} not repaired on n1");
    }
    assert!(
        repair_counter(&cl, 0, "read_repairs_sent") + repair_counter(&cl, 1, "read_repairs_sent")
            >= N as u64
    );
}

/// Writes `keys` through `c` at DC_QUORUM; every write must be
/// acknowledged.
fn write_acknowledged(c: &mut Client, prefix: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut acked = Vec::new();
    for k in 0..n {
        let key = format!("{prefix}{k}").into_bytes();
        let value = format!("value of {prefix}{k}").into_bytes();
        let r = c.cmd(&[b"SET", &key, &value]);
        assert_eq!(r, b"+OK\r\n", "SET {}: {}", show(&key), show(&r));
        acked.push((key, value));
    }
    acked
}

/// Reads every acknowledged key through every node at DC_QUORUM; returns
/// the answers that were not the value (nil, stale or an error).
fn wrong_reads(cl: &Cluster, acked: &[(Vec<u8>, Vec<u8>)]) -> Vec<String> {
    let mut wrong = Vec::new();
    for via in 0..3 {
        let mut c = cl.node(via).client();
        for (key, value) in acked {
            let r = c.cmd(&[b"GET", key]);
            if r != bulk(value) {
                wrong.push(format!("{} via n{via}: {}", show(key), show(&r)));
            }
        }
    }
    wrong
}

#[test]
fn a_node_down_during_writes_then_another_replica_emptied_reads_back_every_write() {
    const N: usize = 150;
    for empty_first in [false, true] {
        let mut cl = quorum_cluster(3);
        let mut c = cl.node(0).client();
        let mut acked = write_acknowledged(&mut c, "before:", N);
        if empty_first {
            assert_eq!(cl.node(2).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
        }
        // n1 down while writes happen, then back.
        cl.node_mut(1).kill();
        acked.extend(write_acknowledged(&mut c, "while-down:", N));
        cl.node_mut(1).restart();
        cl.wait_connected();
        if !empty_first {
            assert_eq!(cl.node(2).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
        }
        let wrong = wrong_reads(&cl, &acked);
        if !wrong.is_empty() {
            cl.dump_logs();
        }
        assert!(
            wrong.is_empty(),
            "empty_first={empty_first}: {} of {} reads wrong, e.g. {:?}",
            wrong.len(),
            acked.len() * 3,
            &wrong[..wrong.len().min(5)]
        );
        // Read once more: every replica now holds every key.
        for (key, value) in &acked {
            for i in 0..3 {
                let ok = poll_until(REPAIR_TIMEOUT, || cl.node(i).redis_get(key) == bulk(value));
                assert!(ok, "empty_first={empty_first}: n{i} lacks {}", show(key));
            }
        }
    }
}

#[test]
fn quorum_read_repair_false_leaves_replicas_alone() {
    let cl = Cluster::start_with(
        &one_node_per_rack(3),
        &[
            ("read_consistency", "DC_QUORUM"),
            ("write_consistency", "DC_QUORUM"),
            ("quorum_read_repair", "false"),
        ],
    );
    let mut c = cl.node(0).client();
    let acked = write_acknowledged(&mut c, "off:", 20);
    for (key, _) in &acked {
        for i in 0..3 {
            assert!(poll_until(REPAIR_TIMEOUT, || cl.node(i).redis_has(key)));
        }
    }
    assert_eq!(cl.node(2).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    for via in 0..3 {
        let mut c = cl.node(via).client();
        for (key, _) in &acked {
            let r = c.cmd(&[b"GET", key]);
            assert!(!r.starts_with(b"-"), "{}", show(&r));
        }
    }
    for i in 0..3 {
        assert_eq!(repair_counter(&cl, i, "read_repairs_sent"), 0);
    }
    assert_eq!(
        cl.node(2).redis_client().cmd(&[b"DBSIZE"]),
        b":0\r\n",
        "nothing was repaired"
    );
}

#[test]
fn a_replica_that_answered_empty_for_a_field_keeps_its_key() {
    let cl = quorum_cluster(3);
    let mut c = cl.node(0).client();
    let key: &[u8] = b"rr:fields";
    assert_eq!(c.cmd(&[b"HSET", key, b"f1", b"a", b"f2", b"b"]), b":2\r\n");
    for i in 0..3 {
        assert!(poll_until(REPAIR_TIMEOUT, || cl.node(i).redis_has(key)));
    }
    // n0 and n1 applied an HDEL of f2 and an HSET of f3 that n2 missed.
    for i in 0..2 {
        let mut direct = cl.node(i).redis_client();
        assert_eq!(direct.cmd(&[b"HDEL", key, b"f2"]), b":1\r\n");
        assert_eq!(direct.cmd(&[b"HSET", key, b"f3", b"c"]), b":1\r\n");
    }
    let kept_before: u64 = (0..3)
        .map(|i| repair_counter(&cl, i, "read_repairs_kept"))
        .sum();
    // Without tombstones the value n2 still has is answered (never nil
    // while a replica holds something) ...
    assert_eq!(c.cmd(&[b"HGET", key, b"f2"]), bulk(b"b"));
    // ... but n2's older hash is not written over the others': they answered
    // empty for a field of a key they hold.
    let ok = poll_until(REPAIR_TIMEOUT, || {
        (0..3)
            .map(|i| repair_counter(&cl, i, "read_repairs_kept"))
            .sum::<u64>()
            >= kept_before + 2
    });
    assert!(ok, "the fills were not refused");
    for i in 0..2 {
        let mut direct = cl.node(i).redis_client();
        assert_eq!(direct.cmd(&[b"HGET", key, b"f3"]), bulk(b"c"), "n{i}");
        assert_eq!(direct.cmd(&[b"HEXISTS", key, b"f2"]), b":0\r\n", "n{i}");
    }
    // A read of f3: the majority's value, and n2 gets the majority's hash.
    assert_eq!(c.cmd(&[b"HGET", key, b"f3"]), bulk(b"c"));
    let ok = poll_until(REPAIR_TIMEOUT, || {
        cl.node(2).redis_client().cmd(&[b"HGET", key, b"f3"]) == bulk(b"c")
    });
    assert!(ok, "n2 was not repaired");
}

#[test]
fn dc_each_safe_quorum_repairs_a_replica_in_the_remote_datacenter() {
    let layout: Vec<NodeSpec> = [
        ("dc1", "rack1"),
        ("dc1", "rack2"),
        ("dc2", "rack1"),
        ("dc2", "rack2"),
    ]
    .iter()
    .map(|&(dc, rack)| node(dc, rack, &[2147483647]))
    .collect();
    let cl = Cluster::start_with(
        &layout,
        &[
            ("read_consistency", "DC_EACH_SAFE_QUORUM"),
            ("write_consistency", "DC_EACH_SAFE_QUORUM"),
        ],
    );
    let mut c = cl.node(0).client();
    let key: &[u8] = b"rr:each";
    assert_eq!(c.cmd(&[b"SET", key, b"everywhere"]), b"+OK\r\n");
    for i in 0..4 {
        assert!(poll_until(REPAIR_TIMEOUT, || cl.node(i).redis_get(key)
            == bulk(b"everywhere")));
    }
    assert_eq!(cl.node(3).redis_client().cmd(&[b"FLUSHALL"]), b"+OK\r\n");
    assert_eq!(c.cmd(&[b"GET", key]), bulk(b"everywhere"));
    let ok = poll_until(REPAIR_TIMEOUT, || {
        cl.node(3).redis_get(key) == bulk(b"everywhere")
    });
    if !ok {
        cl.dump_logs();
    }
    assert!(ok, "the remote replica was not repaired");
}
