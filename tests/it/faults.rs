//! Faults on loopback clusters (short variants of contrib/faults/): a peer
//! whose process is stopped (SIGSTOP: it accepts connections and reads
//! nothing), a peer killed with -9 and restarted, an operator's DOWN, and a
//! stopped datastore. Checked: the other nodes keep serving, the fault
//! shows in /info and in the log, a down peer is skipped without waiting
//! for a timeout (counted, not timed), and the peer or datastore comes back
//! by itself.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::harness::cluster::{murmur, node, Cluster, NodeSpec};
use crate::harness::{bulk, encode, poll_until, show, Client, Dynomite, RedisServer};

/// How long a fault or a recovery may take to show in /info.
const DETECT_TIMEOUT: Duration = Duration::from_secs(15);

/// GET `path` from a node's stats listener; the JSON body.
fn http_json(port: u16, path: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: bad JSON ({e}): {body}"))
}

/// The value of an unlabelled sample of a node's /metrics.
fn metric(port: u16, name: &str) -> u64 {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the stats port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(s, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read the response");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in /metrics"))
}

/// The /info JSON of node `i`.
fn info(cl: &Cluster, i: usize) -> Value {
    http_json(cl.node(i).stats_port(), "/info")
}

/// Node `i`'s view of the peer named after node `j`'s peer port.
fn peer_view(cl: &Cluster, i: usize, j: usize) -> Value {
    let v = info(cl, i);
    let peers = v["peers"].as_object().expect("a peers object in /info");
    let port = format!(":{}", cl.node(j).dyn_port());
    peers
        .iter()
        .find(|(name, _)| name.ends_with(&port))
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no peer for n{j} (port {port}) in {v}"))
}

/// Waits until node `i` sees node `j` in `state`.
fn wait_state(cl: &Cluster, i: usize, j: usize, state: &str) {
    let mut last = Value::Null;
    let ok = poll_until(DETECT_TIMEOUT, || {
        last = peer_view(cl, i, j);
        last["state"] == state
    });
    if !ok {
        cl.dump_logs();
    }
    assert!(ok, "n{i} never saw n{j} {state}; last: {last}");
}

/// An integer counter of /info (`pool` counters are under the pool name).
fn counter(v: &Value, path: &[&str]) -> u64 {
    let mut x = v;
    for p in path {
        x = &x[*p];
    }
    x.as_u64()
        .unwrap_or_else(|| panic!("{} is not a counter in {v}", path.join(".")))
}

/// The pool object of an /info document (the one object holding
/// `client_eof`).
fn pool(v: &Value) -> &Value {
    v.as_object()
        .and_then(|o| o.values().find(|x| x.get("client_eof").is_some()))
        .expect("a pool object")
}

/// `n` racks of one node each, every node owning every key.
fn one_node_per_rack(racks: usize) -> Vec<NodeSpec> {
    (1..=racks)
        .map(|r| node("dc1", &format!("rack{r}"), &[2147483647]))
        .collect()
}

fn set_level(c: &mut Client, level: &str) {
    assert_eq!(
        c.cmd(&[b"DYNO_CONFIG:CONN_CONSISTENCY", level.as_bytes()]),
        b"+OK\r\n"
    );
}

/// Sends `n` SETs of `prefix{i}` pipelined in batches and reads every
/// reply; returns the replies that were not +OK.
fn pipelined_sets(c: &mut Client, prefix: &str, n: usize) -> Vec<Vec<u8>> {
    const BATCH: usize = 2000;
    let mut bad = Vec::new();
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let mut out = Vec::new();
        for k in i..end {
            let key = format!("{prefix}{k}");
            out.extend_from_slice(&encode(&[b"SET", key.as_bytes(), b"v"]));
        }
        c.send(&out);
        for _ in i..end {
            let r = c.read_reply();
            if r != b"+OK\r\n" {
                bad.push(r);
            }
        }
        i = end;
    }
    bad
}

#[test]
fn a_stopped_peer_never_reads_and_the_other_node_keeps_serving() {
    // Two racks; every write through n0 is copied to n1. n1 is frozen:
    // its kernel still accepts connections and buffers bytes, nothing is
    // ever read. More writes than the message pool holds go through n0.
    let cl = Cluster::start_with(
        &one_node_per_rack(2),
        &[("timeout", "1000"), ("max_msgs", "100000")],
    );
    let mut c = cl.node(0).client();
    assert_eq!(c.cmd(&[b"SET", b"before", b"1"]), b"+OK\r\n");
    cl.node(1).pause();

    let n = 120_000;
    let bad = pipelined_sets(&mut c, "stuck:", n);
    assert!(
        bad.is_empty(),
        "{} of {n} DC_ONE writes failed through n0, first: {}",
        bad.len(),
        show(&bad[0])
    );
    // Reads from n0's own redis are served all along.
    for k in [0, n / 2, n - 1] {
        let key = format!("stuck:{k}");
        assert_eq!(c.cmd(&[b"GET", key.as_bytes()]), bulk(b"v"));
    }
    assert_eq!(c.cmd(&[b"GET", b"before"]), bulk(b"1"));

    // The fault is visible: n1 down, copies counted as not delivered and
    // kept as hints (cluster/handoff.rs) for its return.
    wait_state(&cl, 0, 1, "down");
    let v = info(&cl, 0);
    let p = peer_view(&cl, 0, 1);
    assert!(counter(&v, &["faults", "peer_undeliverable"]) > 0, "{v}");
    assert!(counter(&p, &["undeliverable"]) > 0, "{p}");
    assert!(counter(&p, &["hints", "queued"]) > 0, "{p}");
    assert!(counter(&v, &["faults", "peer_stalls"]) >= 1, "{v}");
    // The bound held: never more queued for n1 than a quarter of the pool.
    assert!(counter(&p, &["queued_msgs"]) <= 25_000, "{p}");
    let log = cl.node(0).full_log();
    assert!(log.contains("is down"), "no state change logged:\n{log}");
    assert!(
        log.contains("kept as a hint"),
        "no undelivered copy logged:\n{log}"
    );

    // Thawed, n1 comes back by itself (its probe is answered), gets the
    // writes it missed, and new writes reach it again (behind those).
    cl.node(1).resume();
    wait_state(&cl, 0, 1, "up");
    assert_eq!(c.cmd(&[b"SET", b"after", b"2"]), b"+OK\r\n");
    let ok = poll_until(DETECT_TIMEOUT, || {
        cl.node(1).redis_get(b"after") == bulk(b"2")
    });
    assert!(ok, "the write after the thaw never reached n1");
    for k in [0, n / 2, n - 1] {
        let key = format!("stuck:{k}");
        assert_eq!(cl.node(1).redis_get(key.as_bytes()), bulk(b"v"), "{key}");
    }
    let log = cl.node(0).full_log();
    assert!(log.contains("is up"), "no recovery logged:\n{log}");
}

#[test]
fn a_killed_peer_is_skipped_without_timeouts_and_readmitted_after_restart() {
    // Rack 1 holds n0 (the lower half of the ring) and n1 (the upper
    // half); racks 2 and 3 one node each, owning everything. A large
    // timeout: a request that waited for the dead peer would be obvious.
    let layout = [
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack1", &[4294967295]),
        node("dc1", "rack2", &[4294967295]),
        node("dc1", "rack3", &[4294967295]),
    ];
    let mut cl = Cluster::start_with(&layout, &[("timeout", "10000")]);
    // Keys whose rack-1 owner is n1.
    let keys: Vec<Vec<u8>> = (0..)
        .map(|i| format!("k{i}").into_bytes())
        .filter(|k| murmur(k) > 2147483647)
        .take(20)
        .collect();
    let mut c = cl.node(0).client();
    for k in &keys {
        assert_eq!(c.cmd(&[b"SET", k, b"v1"]), b"+OK\r\n");
    }
    for k in &keys {
        let ok = poll_until(DETECT_TIMEOUT, || {
            (1..4).all(|i| cl.node(i).redis_get(k) == bulk(b"v1"))
        });
        assert!(ok, "{} not on every rack", show(k));
    }

    cl.node_mut(1).kill();
    wait_state(&cl, 0, 1, "down");
    let before = info(&cl, 0);

    // DC_ONE reads of n1's keys go to another rack at once.
    for k in &keys {
        assert_eq!(c.cmd(&[b"GET", k]), bulk(b"v1"), "{}", show(k));
    }
    // DC_QUORUM: n1 counts as a failed answer at once; two racks of three
    // answer.
    let mut q = cl.node(0).client();
    set_level(&mut q, "DC_QUORUM");
    for k in &keys {
        assert_eq!(q.cmd(&[b"SET", k, b"v2"]), b"+OK\r\n", "{}", show(k));
        assert_eq!(q.cmd(&[b"GET", k]), bulk(b"v2"), "{}", show(k));
    }
    let after = info(&cl, 0);
    // No request waited for n1: no timeout, and every quorum copy for it
    // was answered at once.
    let timeouts = |v: &Value| counter(pool(v), &["peer_timedout_requests"]);
    assert_eq!(timeouts(&after), timeouts(&before), "{after}");
    let fail_fast = |v: &Value| counter(v, &["faults", "peer_fail_fast"]);
    assert!(
        fail_fast(&after) >= fail_fast(&before) + 2 * keys.len() as u64,
        "before {before}\nafter {after}"
    );

    // Restarted, n1 is admitted again without an operator, and takes its
    // keys' writes again.
    cl.node_mut(1).restart();
    wait_state(&cl, 0, 1, "up");
    assert_eq!(c.cmd(&[b"SET", &keys[0], b"v3"]), b"+OK\r\n");
    assert_eq!(cl.node(1).redis_get(&keys[0]), bulk(b"v3"));
    assert_eq!(c.cmd(&[b"GET", &keys[0]]), bulk(b"v3"));
    // The operator's state stayed what it was.
    assert_eq!(peer_view(&cl, 0, 1)["admin_state"], "NORMAL");
}

#[test]
fn an_operator_down_is_kept_whatever_is_detected() {
    let cl = Cluster::start(&one_node_per_rack(2));
    let port = cl.node(0).stats_port();
    let name = {
        let v = info(&cl, 0);
        let peers = v["peers"].as_object().expect("peers").clone();
        peers.keys().next().expect("one peer").clone()
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET /peer/down/{name} HTTP/1.0\r\n\r\n").expect("send");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let p = peer_view(&cl, 0, 1);
    assert_eq!(p["admin_state"], "DOWN", "{p}");
    assert_eq!(p["state"], "up", "detected health is its own: {p}");
    let d = http_json(port, "/cluster_describe");
    let servers: Vec<Value> = d["dcs"][0]["racks"]
        .as_array()
        .expect("racks")
        .iter()
        .flat_map(|r| r["servers"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        servers
            .iter()
            .any(|s| s["admin_state"] == "DOWN" && s["state"] == "up"),
        "{d}"
    );
}

#[test]
fn a_stopped_datastore_gets_clear_errors_and_the_node_keeps_answering() {
    let redis = RedisServer::start();
    let node = Dynomite::start_with(&[redis.port()], &[("timeout", "300")]);
    let mut c = node.client();
    assert_eq!(c.cmd(&[b"SET", b"k", b"before"]), b"+OK\r\n");
    redis.pause();
    // A pipeline the datastore never reads: every request is answered with
    // an error of its own, none is held.
    let n = 3000;
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(&encode(&[b"SET", format!("s{i}").as_bytes(), b"v"]));
    }
    c.send(&out);
    for i in 0..n {
        let r = c.read_reply();
        assert!(
            r == b"-ERR Storage: Datastore timed out\r\n"
                || r == b"-ERR Storage: Datastore queue is full\r\n"
                || r == b"-ERR Storage: Datastore refused connection\r\n",
            "reply {i}: {}",
            show(&r)
        );
    }
    // The admin endpoint answers all along; the stuck connection is closed
    // (it answered nothing for twice the timeout) and counted.
    let ok = poll_until(DETECT_TIMEOUT, || {
        metric(node.stats_port(), "dynomite_fault_server_stalls_total") >= 1
    });
    assert!(ok, "no stalled datastore connection counted");
    redis.resume();
    let ok = poll_until(DETECT_TIMEOUT, || c.cmd(&[b"GET", b"k"]) == bulk(b"before"));
    assert!(ok, "the datastore was not used again after SIGCONT");
}

#[test]
fn a_dc_one_read_fails_over_when_the_owners_datastore_is_down() {
    // Rack 1: n0 (lower half of the ring), n1 (upper half); rack 2: n2
    // owns everything.
    let layout = [
        node("dc1", "rack1", &[2147483647]),
        node("dc1", "rack1", &[4294967295]),
        node("dc1", "rack2", &[4294967295]),
    ];
    let mut cl = Cluster::start(&layout);
    let key_of = |upper: bool| -> Vec<u8> {
        (0..)
            .map(|i| format!("o{i}").into_bytes())
            .find(|k| (murmur(k) > 2147483647) == upper)
            .expect("a key")
    };
    let (theirs, ours) = (key_of(true), key_of(false));
    let mut c = cl.node(0).client();
    for k in [&theirs, &ours] {
        assert_eq!(c.cmd(&[b"SET", k, b"kept"]), b"+OK\r\n");
        let ok = poll_until(DETECT_TIMEOUT, || cl.node(2).redis_get(k) == bulk(b"kept"));
        assert!(ok, "{} never reached rack 2", show(k));
    }
    // The owner node is up, its redis is dead: it answers a storage error,
    // and the read is served by rack 2 instead.
    cl.node_mut(1).redis.kill();
    assert_eq!(c.cmd(&[b"GET", &theirs]), bulk(b"kept"));
    // This node's own redis is dead: it serves its reads from rack 2.
    cl.node_mut(0).redis.kill();
    assert_eq!(c.cmd(&[b"GET", &ours]), bulk(b"kept"));
    assert_eq!(c.cmd(&[b"GET", &theirs]), bulk(b"kept"));
    let v = info(&cl, 0);
    assert!(
        counter(&v, &["faults", "storage_error_failovers"]) >= 2,
        "{v}"
    );
    // Writes still need the owner's datastore: a clear error.
    let r = c.cmd(&[b"SET", &ours, b"new"]);
    assert!(r.starts_with(b"-ERR Storage:"), "{}", show(&r));
}
